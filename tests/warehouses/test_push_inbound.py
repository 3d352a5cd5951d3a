"""The push protocol's inbound half over HTTP (issue 11, section 4, push): signed shipment
confirmations at /warehouses/<connection>/shipments recorded exactly as ShipStation's notices
are (once when sent twice, in any order, over-shipping refused), signed stock reports at
/warehouses/<connection>/inventory (older counts ignored, changes marked for the stock
sync), every refusal a JSON answer that writes nothing, and one publisher's warehouse
credentials never reaching another's orders."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.warehouses.models import (
    ShipNotice,
    WarehouseOrder,
    WarehouseShipment,
    WarehouseStockLevel,
)
from pressrun.warehouses.push import warehouse_push_configure
from pressrun.warehouses.services import warehouse_set_enabled
from pressrun.warehouses.signing import signature
from pressrun.warehouses.stock import stock_levels_changed, warehouse_stock_synced
from tests.warehouses.test_pull import make_warehouse, route, shipped

pytestmark = pytest.mark.django_db


class Wms:
    """A publisher's warehouse as the endpoints see it: its connection id and secret."""

    def __init__(self, publisher: Any, name: str = "Acme 3PL") -> None:
        self.station = make_warehouse(publisher, name)
        self.id = self.station.id
        _, self.secret = warehouse_push_configure(
            connection_id=self.id, url="https://wms.example.com/pressrun/orders"
        )
        self.client = Client()

    def post(
        self,
        what: str,
        message: Any,
        *,
        secret: str | None = None,
        at: float | None = None,
        connection: int | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        timestamp = int(time.time() if at is None else at)
        signed = signature(secret=secret or self.secret, timestamp=timestamp, body=body)
        extra = (
            {"HTTP_X_PRESSRUN_TIMESTAMP": str(timestamp), "HTTP_X_PRESSRUN_SIGNATURE": signed}
            if headers is None
            else headers
        )
        target = self.id if connection is None else connection
        return self.client.post(
            f"/warehouses/{target}/{what}", body, content_type="application/json", **extra
        )


@pytest.fixture
def acme(publisher: Any) -> Wms:
    return Wms(publisher)


def confirmation(order: WarehouseOrder, tracking: str = "1Z999AA10123456784", **more: Any) -> Any:
    return {
        "order_id": f"WH-{order.id}",
        "confirmation_id": f"SHIP-{tracking}",
        "carrier": "UPS",
        "service": "Ground",
        "tracking_number": tracking,
        "ship_date": "2026-11-04",
        **more,
    }


def nothing_written() -> tuple[int, int, int]:
    return (
        ShipNotice.objects.count(),
        WarehouseShipment.objects.count(),
        WarehouseStockLevel.objects.count(),
    )


# --- shipments -------------------------------------------------------------------------------


def test_a_signed_confirmation_is_recorded_once_when_sent_twice(acme: Wms) -> None:
    order = route(acme.station, "1040")
    book, mug, _tee = order.lines.order_by("id")
    message = confirmation(
        order,
        lines=[
            {"line_item_id": str(book.id), "quantity": 3},
            {"sku": "ACME-MUG", "quantity": 4},
        ],
    )
    response = acme.post("shipments", message)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        "outcome": "applied",
        "message": f"Warehouse order WH-{order.id}: shipment 1Z999AA10123456784 recorded.",
        "order_id": f"WH-{order.id}",
        "confirmation_id": "SHIP-1Z999AA10123456784",
        "tracking_number": "1Z999AA10123456784",
    }
    [shipment] = WarehouseShipment.objects.all()
    assert (shipment.carrier, shipment.service, shipment.ship_date) == (
        "UPS",
        "Ground",
        date(2026, 11, 4),
    )
    assert shipment.lines == [
        {"line": book.id, "sku": "ACME-BOOK", "quantity": 3},
        {"line": mug.id, "sku": "ACME-MUG", "quantity": 4},
    ]
    assert json.loads(shipment.body) == message
    order.refresh_from_db()
    assert (order.state, order.shipped_at) == ("partially_shipped", None)
    # The same confirmation again (a retry; signed anew): a repeat, nothing changes.
    again = acme.post("shipments", message)
    assert again.status_code == 200
    assert again.json()["outcome"] == "repeated"
    assert WarehouseShipment.objects.count() == 1
    assert shipped(order) == [("ACME-BOOK", 3, 3), ("ACME-MUG", 6, 4), ("TEE", 1, 0)]
    [notice] = ShipNotice.objects.all()
    assert (notice.times_received, notice.outcome) == (2, "applied")


def test_confirmations_out_of_order_each_count_once(acme: Wms) -> None:
    # The second package's confirmation overtakes the first's, before the push was even
    # answered (the order is still open), and then the first comes twice.
    order = route(acme.station, "1040")
    second = confirmation(order, "1ZSECOND", lines=[{"sku": "TEE", "quantity": 1}])
    first = confirmation(
        order,
        "1ZFIRST",
        lines=[{"sku": "ACME-BOOK", "quantity": 3}, {"sku": "ACME-MUG", "quantity": 6}],
    )
    assert acme.post("shipments", second).json()["outcome"] == "applied"
    order.refresh_from_db()
    assert (order.state, order.shipped_at) == ("partially_shipped", None)
    assert acme.post("shipments", first).json()["outcome"] == "applied"
    assert acme.post("shipments", first).json()["outcome"] == "repeated"
    assert acme.post("shipments", second).json()["outcome"] == "repeated"
    order.refresh_from_db()
    assert order.shipped_at is not None
    assert shipped(order) == [("ACME-BOOK", 3, 3), ("ACME-MUG", 6, 6), ("TEE", 1, 1)]
    assert sorted(WarehouseShipment.objects.values_list("tracking_number", flat=True)) == [
        "1ZFIRST",
        "1ZSECOND",
    ]


def test_over_shipping_is_refused_with_a_clear_error_and_nothing_changed(acme: Wms) -> None:
    order = route(acme.station, "1040")
    response = acme.post("shipments", confirmation(order, lines=[{"sku": "TEE", "quantity": 2}]))
    assert response.status_code == 409
    line = order.lines.get(warehouse_sku="TEE")
    assert response.json() == {
        "ok": False,
        "error": f"Line {line.id} (TEE) has 1 left to ship, not 2.",
        "order_id": f"WH-{order.id}",
        "confirmation_id": "SHIP-1Z999AA10123456784",
        "tracking_number": "1Z999AA10123456784",
    }
    assert WarehouseShipment.objects.count() == 0
    assert shipped(order) == [("ACME-BOOK", 3, 0), ("ACME-MUG", 6, 0), ("TEE", 1, 0)]
    order.refresh_from_db()
    assert order.state == "open"
    assert ShipNotice.objects.get().outcome == "refused"  # kept for the operator


def test_a_confirmation_without_lines_ships_everything_left(acme: Wms) -> None:
    order = route(acme.station, "1040")
    assert acme.post("shipments", confirmation(order)).status_code == 200
    order.refresh_from_db()
    assert order.shipped_at is not None
    assert shipped(order) == [("ACME-BOOK", 3, 3), ("ACME-MUG", 6, 6), ("TEE", 1, 1)]


# --- isolation -------------------------------------------------------------------------------


def test_another_publishers_warehouse_never_sees_or_changes_these_orders(
    acme: Wms, make_publisher: Any
) -> None:
    order = route(acme.station, "1040")
    other = Wms(make_publisher(email="other@example.com", company="Other"), "Other 3PL")
    own_order = route(other.station, "2000")
    # Its own secret on its own address, naming our order: not one of its orders.
    response = other.post("shipments", confirmation(order))
    assert response.status_code == 404
    assert response.json()["error"] == f"No warehouse order 'WH-{order.id}' is shipped from here."
    # Its secret on our address: not signed by our connection.
    forged = acme.post("shipments", confirmation(order), secret=other.secret)
    assert forged.status_code == 401
    forged_stock = acme.post(
        "inventory", {"items": [{"sku": "X", "quantity": 1}]}, secret=other.secret
    )
    assert forged_stock.status_code == 401
    # Our secret on its address: refused too.
    assert other.post("shipments", confirmation(own_order), secret=acme.secret).status_code == 401
    assert WarehouseShipment.objects.count() == 0
    assert WarehouseStockLevel.objects.count() == 0
    for lines in (shipped(order), shipped(own_order)):
        assert all(done == 0 for _, _, done in lines)
    # Stock levels are per connection: the same SKU at two warehouses are two levels.
    other.post("inventory", {"items": [{"sku": "TEE", "quantity": 5}]})
    acme.post("inventory", {"items": [{"sku": "TEE", "quantity": 7}]})
    assert sorted(WarehouseStockLevel.objects.values_list("connection_id", "quantity")) == sorted(
        [(other.id, 5), (acme.id, 7)]
    )


# --- signatures and refusals -----------------------------------------------------------------

SIGNATURE_MISMATCH = (
    "X-Pressrun-Signature does not match: it must be sha256= and the hex HMAC-SHA256 of the "
    "timestamp, a full stop and the body, keyed with the connection's secret."
)


@pytest.mark.parametrize("what", ["shipments", "inventory"])
def test_every_unsigned_or_wrongly_signed_request_is_refused_and_writes_nothing(
    acme: Wms, what: str
) -> None:
    order = route(acme.station, "1040")
    message = (
        confirmation(order) if what == "shipments" else {"items": [{"sku": "TEE", "quantity": 3}]}
    )
    body = json.dumps(message).encode()
    now = int(time.time())
    cases: list[tuple[Any, int, str]] = [
        (
            acme.post(what, message, headers={}),
            401,
            "Sign the request: the X-Pressrun-Timestamp and X-Pressrun-Signature headers are "
            "required.",
        ),
        (acme.post(what, message, secret="wmssec_not-the-secret"), 401, SIGNATURE_MISMATCH),
        (
            acme.post(
                what,
                message,
                headers={
                    "HTTP_X_PRESSRUN_TIMESTAMP": str(now),
                    # Signed over another body: the message was changed on the way.
                    "HTTP_X_PRESSRUN_SIGNATURE": signature(
                        secret=acme.secret, timestamp=now, body=body + b" "
                    ),
                },
            ),
            401,
            SIGNATURE_MISMATCH,
        ),
        (
            acme.post(
                what,
                message,
                headers={
                    "HTTP_X_PRESSRUN_TIMESTAMP": str(now),
                    "HTTP_X_PRESSRUN_SIGNATURE": signature(
                        secret=acme.secret, timestamp=now, body=body
                    ).removeprefix("sha256="),
                },
            ),
            401,
            SIGNATURE_MISMATCH,
        ),
        (
            acme.post(what, message, at=now - 301),
            401,
            "X-Pressrun-Timestamp is more than 300 seconds from pressrun's clock: sign each "
            "request when sending it (and keep the clock right).",
        ),
        (
            acme.post(what, message, at=now + 400),
            401,
            "X-Pressrun-Timestamp is more than 300 seconds from pressrun's clock: sign each "
            "request when sending it (and keep the clock right).",
        ),
        (
            acme.post(
                what,
                message,
                headers={
                    "HTTP_X_PRESSRUN_TIMESTAMP": "1.5e9",
                    "HTTP_X_PRESSRUN_SIGNATURE": "sha256=00",
                },
            ),
            401,
            "X-Pressrun-Timestamp must be the time in Unix seconds.",
        ),
        # An unknown connection, and a number that is no id: as a wrong signature.
        (acme.post(what, message, connection=acme.id + 1000), 401, SIGNATURE_MISMATCH),
        (acme.post(what, message, connection="acme"), 401, SIGNATURE_MISMATCH),
    ]
    for response, status, error in cases:
        assert (response.status_code, response["Content-Type"]) == (status, "application/json")
        assert response.json() == {"ok": False, "error": error}
    assert nothing_written() == (0, 0, 0)
    # A replay within the five minutes is signed: harmless, as every message is idempotent.
    # (Four minutes old, counted from now: the cases above may have taken a while.)
    assert acme.post(what, message, at=int(time.time()) - 240).status_code == 200


def test_a_disabled_or_pulling_connection_is_refused(acme: Wms, publisher: Any) -> None:
    order = route(acme.station, "1040")
    warehouse_set_enabled(connection_id=acme.id, enabled=False)
    response = acme.post("shipments", confirmation(order))
    assert response.status_code == 403
    assert response.json() == {
        "ok": False,
        "error": "The connection 'Acme 3PL' is disabled; the publisher can enable it.",
    }
    # A connection that never had a push secret cannot be signed for.
    pulling = make_warehouse(publisher, "Pull 3PL")
    response = acme.post("shipments", confirmation(order), connection=pulling.id, secret="")
    assert response.status_code == 401
    assert nothing_written() == (0, 0, 0)


def test_only_post_is_answered(acme: Wms) -> None:
    response = acme.client.get(f"/warehouses/{acme.id}/shipments")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"ok": False, "error": "Only POST is answered here."}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\xff\xfe", "The body must be JSON in UTF-8."),
        (b"{", "The body is not JSON: send the shipment confirmation as a JSON object."),
        (b"[]", "The body must be a JSON object: the shipment confirmation."),
        (b"{}", "order_id is required."),
        (b'{"order_id": "WH-1"}', "tracking_number is required."),
        (b'{"order_id": 7, "tracking_number": "1Z"}', "order_id must be a string."),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z\\n2"}',
            "tracking_number must be one line without control characters.",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "ship_date": "11/04/2026"}',
            "ship_date must be a date: YYYY-MM-DD.",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "lines": {}}',
            "lines must be a list (or left out: everything left to ship).",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "lines": []}',
            "lines is empty: leave it out to ship everything left.",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "lines": [{"quantity": 1}]}',
            "lines[1].line_item_id or lines[1].sku is required.",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "lines": [{"sku": "A"}]}',
            "lines[1].quantity is required.",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "lines": [{"sku": "A", '
            b'"quantity": true}]}',
            "lines[1].quantity must be a whole number from 1 to 1,000,000.",
        ),
        (
            b'{"order_id": "WH-1", "tracking_number": "1Z", "lines": [{"sku": "A", '
            b'"quantity": 1.5}]}',
            "lines[1].quantity must be a whole number from 1 to 1,000,000.",
        ),
        (b"[" * 100_000, "The body is not JSON: send the shipment confirmation as a JSON object."),
    ],
)
def test_a_confirmation_that_is_not_one_is_a_400_that_writes_nothing(
    acme: Wms, body: bytes, error: str
) -> None:
    response = acme.post("shipments", body)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error}
    assert nothing_written() == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{}", 'items is required: a list of {"sku": …, "quantity": …}.'),
        (b'{"items": [1]}', "items[1] must be an object."),
        (b'{"items": [{"quantity": 1}]}', "items[1].sku is required."),
        (b'{"items": [{"sku": "A"}]}', "items[1].quantity is required."),
        (
            b'{"items": [{"sku": "A", "quantity": -1}]}',
            "items[1].quantity must be a whole number from 0 to 1,000,000,000.",
        ),
        (
            b'{"items": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]}',
            "items[2].sku 'A' is already items[1].",
        ),
        (
            b'{"as_of": "2026-11-04 10:00", "items": []}',
            "as_of needs its offset (Z for UTC), e.g. 2026-11-04T10:00:00Z.",
        ),
        (
            b'{"as_of": "yesterday", "items": []}',
            "as_of must be a time in ISO 8601 with its offset, e.g. 2026-11-04T10:00:00Z.",
        ),
        (
            b'{"as_of": "2999-01-01T00:00:00Z", "items": []}',
            "as_of is in the future: send the time the stock was counted.",
        ),
    ],
)
def test_a_stock_report_that_is_not_one_is_a_400_that_writes_nothing(
    acme: Wms, body: bytes, error: str
) -> None:
    response = acme.post("inventory", body)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error}
    assert nothing_written() == (0, 0, 0)


# --- stock -----------------------------------------------------------------------------------


def levels(wms: Wms) -> list[tuple[str, int, datetime, bool]]:
    return list(
        WarehouseStockLevel.objects.filter(connection_id=wms.id)
        .order_by("sku")
        .values_list("sku", "quantity", "reported_at", "sync_pending")
    )


def test_stock_levels_are_kept_and_an_older_report_changes_nothing(acme: Wms) -> None:
    ten = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    eleven = datetime(2026, 11, 4, 11, 0, tzinfo=UTC)
    newer = {
        "as_of": "2026-11-04T11:00:00Z",
        "items": [{"sku": "ACME-MUG", "quantity": 40}, {"sku": "ACME-BOOK", "quantity": 0}],
    }
    response = acme.post("inventory", newer)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "received": 2, "changed": 2, "unchanged": 0, "older": 0}
    # The 10:00 count arrives late: ignored for the SKUs counted since, taken for a new one.
    older = {
        "as_of": "2026-11-04T10:00:00+00:00",
        "items": [{"sku": "ACME-MUG", "quantity": 55}, {"sku": "TEE", "quantity": 9}],
    }
    assert acme.post("inventory", older).json() == {
        "ok": True,
        "received": 2,
        "changed": 1,
        "unchanged": 0,
        "older": 1,
    }
    assert levels(acme) == [
        ("ACME-BOOK", 0, eleven, True),
        ("ACME-MUG", 40, eleven, True),
        ("TEE", 9, ten, True),
    ]
    # The stock sync takes the changes; the same report again changes nothing.
    for level in stock_levels_changed(connection_id=acme.id):
        assert warehouse_stock_synced(level_id=level.id, changed_at=level.changed_at)
    assert acme.post("inventory", newer).json()["unchanged"] == 2
    assert [pending for *_, pending in levels(acme)] == [False, False, False]
    # A report without as_of counts as of now, after every stored one.
    before = timezone.now()
    assert (
        acme.post("inventory", {"items": [{"sku": "ACME-MUG", "quantity": 39}]}).json()["changed"]
        == 1
    )
    mug = WarehouseStockLevel.objects.get(connection_id=acme.id, sku="ACME-MUG")
    assert (mug.quantity, mug.sync_pending) == (39, True)
    assert mug.reported_at >= before
    assert mug.changed_at >= before


def test_a_level_changed_again_keeps_its_mark(acme: Wms) -> None:
    acme.post("inventory", {"items": [{"sku": "TEE", "quantity": 5}]})
    [level] = stock_levels_changed(connection_id=acme.id)
    acme.post("inventory", {"items": [{"sku": "TEE", "quantity": 4}]})
    assert not warehouse_stock_synced(level_id=level.id, changed_at=level.changed_at)
    assert [lvl.quantity for lvl in stock_levels_changed(connection_id=acme.id)] == [4]


def test_a_large_stock_report_is_taken_and_a_too_large_one_is_a_413(acme: Wms) -> None:
    items = [{"sku": f"SKU-{n:05d}", "quantity": n} for n in range(10_000)]
    body = json.dumps({"items": items}).encode()
    assert len(body) > 65_536  # larger than a form may be
    response = acme.post("inventory", body)
    assert response.status_code == 200, response.content
    assert response.json()["changed"] == 10_000
    huge = b'{"items": [], "pad": "' + b"x" * 2_000_000 + b'"}'
    response = acme.post("inventory", huge)
    assert response.status_code == 413
    assert response.json() == {
        "ok": False,
        "error": "The body is larger than 2,000,000 bytes: split it.",
    }


def test_every_warehouse_url_is_one_whose_isolation_is_tested() -> None:
    # The ShipStation endpoint's isolation is tested in test_pull.py (every call with another
    # connection's credentials), the push endpoints' above: a new /warehouses/ URL must join
    # one of them.
    from pressrun.warehouses.urls import urlpatterns

    assert sorted(str(pattern.pattern) for pattern in urlpatterns) == [
        "<str:connection>/inventory",
        "<str:connection>/shipments",
        "shipstation",
    ]


def test_a_body_in_an_unknown_charset_is_refused_in_json(acme: Wms) -> None:
    body = b'{"items": []}'
    timestamp = int(time.time())
    response = acme.client.generic(
        "POST",
        f"/warehouses/{acme.id}/inventory",
        body,
        content_type="application/json; charset=x-no-such-charset",
        HTTP_X_PRESSRUN_TIMESTAMP=str(timestamp),
        HTTP_X_PRESSRUN_SIGNATURE=signature(secret=acme.secret, timestamp=timestamp, body=body),
    )
    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert response.json()["ok"] is False
    assert "x-no-such-charset" in response.json()["error"]
    assert nothing_written() == (0, 0, 0)
