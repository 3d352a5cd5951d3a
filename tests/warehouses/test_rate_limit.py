"""Rate limits of the warehouse endpoints (warehouses/rate_limit.py, counted by
core/rate_limit.py): per connection for verified senders (a valid signature, the right
credentials), all its endpoints together; per client address for requests that fail the
check; 429 with Retry-After in the endpoint's own format, nothing written.

Before: neither the push endpoints nor the ShipStation endpoint counted anything, so a forger
could try signatures without limit and a leaked secret could write without limit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from pressrun.core import rate_limit
from pressrun.core.models import RateWindow
from pressrun.warehouses.models import ShipNotice, WarehouseShipment, WarehouseStockLevel
from pressrun.warehouses.services import warehouse_set_enabled
from pressrun.warehouses.signing import signature
from tests.threads import skip_unless_threads_share_the_database
from tests.warehouses.conftest import Station, basic
from tests.warehouses.test_pull import WIDE, route, ship_notice
from tests.warehouses.test_push_inbound import Wms

pytestmark = pytest.mark.django_db

FORGER = "198.51.100.7"
REPORT = {"items": [{"sku": "ACME-MUG", "quantity": 40}]}


def push(
    wms: Wms,
    what: str = "inventory",
    message: Any = None,
    *,
    secret: str | None = None,
    address: str = "203.0.113.5",
    target: int | str | None = None,
) -> Any:
    """A stock report (or `message` to `what`), signed with the connection's secret or
    `secret`, sent from `address`."""
    body = json.dumps(REPORT if message is None else message).encode()
    timestamp = int(time.time())
    return Client(REMOTE_ADDR=address).post(
        f"/warehouses/{wms.id if target is None else target}/{what}",
        body,
        content_type="application/json",
        HTTP_X_PRESSRUN_TIMESTAMP=str(timestamp),
        HTTP_X_PRESSRUN_SIGNATURE=signature(
            secret=secret or wms.secret, timestamp=timestamp, body=body
        ),
    )


def written() -> tuple[int, int, int]:
    return (
        ShipNotice.objects.count(),
        WarehouseShipment.objects.count(),
        WarehouseStockLevel.objects.count(),
    )


def assert_throttled_json(response: Any) -> int:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= 60
    assert response.json() == {
        "ok": False,
        "error": f"Too many requests; retry after {seconds} seconds.",
    }
    return seconds


def assert_throttled_text(response: Any) -> int:
    assert response.status_code == 429
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= 60
    assert response.content.decode() == f"Too many requests; retry after {seconds} seconds.\n"
    return seconds


@pytest.fixture
def acme(publisher: Any) -> Wms:
    return Wms(publisher)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    """Every request of the test in one minute's window (10 s into it)."""
    now = timezone.now().replace(second=10, microsecond=0)
    with mock.patch.object(rate_limit.timezone, "now", return_value=now):
        yield now


def test_the_defaults_leave_room_for_a_backlog_and_a_batch_of_labels(settings: Any) -> None:
    # A backlog of 10,000 orders is 100 export pages; a batch of 500 labels, 500 ShipNotices.
    assert settings.WAREHOUSE_REQUESTS_PER_MINUTE == 1200
    assert settings.WAREHOUSE_UNVERIFIED_PER_MINUTE == 60


# --- the push endpoints ---------------------------------------------------------------------


def test_a_connection_over_its_budget_gets_429_json_and_nothing_is_written(
    acme: Wms, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 3
    order = route(acme.station, "1040")
    assert [push(acme).status_code for _ in range(2)] == [200, 200]
    confirmation = {"order_id": f"WH-{order.id}", "tracking_number": "1Z1"}
    assert push(acme, "shipments", confirmation).status_code == 200
    before = written()
    assert assert_throttled_json(push(acme, "shipments", {**confirmation, "tracking_number": "2"}))
    assert assert_throttled_json(push(acme)) == 50
    assert written() == before == (1, 1, 1)


def test_one_connections_budget_leaves_anothers_alone(
    acme: Wms, publisher: Any, make_publisher: Any, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 1
    second = Wms(publisher, "Second 3PL")
    elsewhere = Wms(make_publisher(balance="10"), "Elsewhere 3PL")
    assert push(acme).status_code == 200
    assert_throttled_json(push(acme))
    assert push(second).status_code == 200
    assert push(elsewhere).status_code == 200
    assert sorted(RateWindow.objects.values_list("scope", "count")) == sorted(
        [
            (f"warehouse:connection:{acme.id}", 2),
            (f"warehouse:connection:{second.id}", 1),
            (f"warehouse:connection:{elsewhere.id}", 1),
        ]
    )


def test_the_budget_comes_back_with_the_next_minute(acme: Wms, settings: Any) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 1
    start = timezone.now().replace(second=10, microsecond=0)
    with mock.patch.object(rate_limit.timezone, "now", return_value=start):
        assert push(acme).status_code == 200
        assert assert_throttled_json(push(acme)) == 50
    with mock.patch.object(rate_limit.timezone, "now", return_value=start + timedelta(minutes=1)):
        assert push(acme).status_code == 200


def test_requests_failing_the_signature_count_per_address_never_against_the_connection(
    acme: Wms, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 2
    settings.WAREHOUSE_UNVERIFIED_PER_MINUTE = 3
    forged = [
        push(acme, secret="wmssec_wrong", address=FORGER),  # a wrong secret
        push(acme, target=999_999, address=FORGER),  # an unknown connection
        Client(REMOTE_ADDR=FORGER).post(  # no signature at all
            f"/warehouses/{acme.id}/inventory", REPORT, content_type="application/json"
        ),
    ]
    assert [response.status_code for response in forged] == [401, 401, 401]
    assert_throttled_json(push(acme, secret="wmssec_wrong", address=FORGER))
    assert_throttled_json(push(acme, "shipments", {}, secret="wmssec_wrong", address=FORGER))
    # Another address still gets its plain 401.
    assert push(acme, secret="wmssec_wrong", address="198.51.100.8").status_code == 401
    # The connection's own requests pass, from anywhere, the forger's address included.
    assert push(acme, address=FORGER).status_code == 200
    assert push(acme).status_code == 200
    assert RateWindow.objects.get(scope=f"warehouse:connection:{acme.id}").count == 2
    assert RateWindow.objects.get(scope=f"warehouse:unverified:{FORGER}").count == 5


def test_an_ipv6_forger_counts_by_its_64(acme: Wms, settings: Any, frozen: Any) -> None:
    settings.WAREHOUSE_UNVERIFIED_PER_MINUTE = 1
    assert push(acme, secret="wmssec_wrong", address="2001:db8:1:2::1").status_code == 401
    assert_throttled_json(push(acme, secret="wmssec_wrong", address="2001:db8:1:2::ffff"))
    assert push(acme, secret="wmssec_wrong", address="2001:db8:1:3::1").status_code == 401


def test_a_disabled_connection_is_counted_against_its_own_budget(
    acme: Wms, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 1
    warehouse_set_enabled(connection_id=acme.id, enabled=False)
    assert push(acme).status_code == 403
    assert_throttled_json(push(acme))
    assert not RateWindow.objects.filter(scope__startswith="warehouse:unverified:").exists()


def test_zero_turns_the_limits_off(acme: Wms, settings: Any) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 0
    settings.WAREHOUSE_UNVERIFIED_PER_MINUTE = 0
    assert [push(acme).status_code for _ in range(3)] == [200] * 3
    assert push(acme, secret="wmssec_wrong").status_code == 401
    assert not RateWindow.objects.exists()


# --- the ShipStation-compatible endpoint ----------------------------------------------------


def station_of(wms: Wms, address: str = "203.0.113.5") -> Station:
    """The same connection through the ShipStation endpoint (username and password)."""
    return Station(created=wms.station.created, client=Client(REMOTE_ADDR=address))


def test_a_station_over_its_budget_gets_429_text_and_no_notice_is_kept(
    acme: Wms, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 3
    station = station_of(acme)
    order = route(acme.station, "1040")
    assert station.export(*WIDE).status_code == 200
    assert station.notify(ship_notice(f"WH-{order.id}", tracking="T-1")).status_code == 200
    # The push endpoints of the same connection draw on the same budget.
    assert push(acme).status_code == 200
    before = written()
    assert_throttled_text(station.notify(ship_notice(f"WH-{order.id}", tracking="T-2")))
    assert_throttled_text(station.export(*WIDE))
    assert_throttled_json(push(acme))
    assert written() == before == (1, 1, 1)


def test_wrong_or_missing_credentials_count_per_address(
    acme: Wms, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_UNVERIFIED_PER_MINUTE = 3
    station = station_of(acme, FORGER)
    username = acme.station.created.connection.username
    answers = [
        station.export(*WIDE, HTTP_AUTHORIZATION=basic(username, "wrong")),
        station.export(*WIDE, HTTP_AUTHORIZATION=basic("station-nobody", "wrong")),
        station.export(*WIDE, HTTP_AUTHORIZATION=""),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert all(answer["WWW-Authenticate"].startswith("Basic") for answer in answers)
    throttled = station.notify(ship_notice("WH-1"), HTTP_AUTHORIZATION=basic(username, "other"))
    assert_throttled_text(throttled)
    assert ShipNotice.objects.count() == 0
    # Another address still gets its plain 401; the right credentials pass from anywhere.
    other = station_of(acme, "198.51.100.8")
    assert other.export(*WIDE, HTTP_AUTHORIZATION=basic(username, "wrong")).status_code == 401
    assert station.export(*WIDE).status_code == 200
    assert RateWindow.objects.get(scope=f"warehouse:connection:{acme.id}").count == 1


def test_a_disabled_station_is_counted_against_its_own_budget(
    acme: Wms, settings: Any, frozen: Any
) -> None:
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 1
    warehouse_set_enabled(connection_id=acme.id, enabled=False)
    station = station_of(acme)
    assert station.export(*WIDE).status_code == 403
    assert_throttled_text(station.export(*WIDE))
    assert not RateWindow.objects.filter(scope__startswith="warehouse:unverified:").exists()


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_pass_exactly_up_to_the_limit(publisher: Any, settings: Any) -> None:
    """Twenty signed stock reports at once against a limit of seven: exactly seven are
    answered 200. The count is taken under the window row's lock."""
    skip_unless_threads_share_the_database()
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 7
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    acme = Wms(publisher)
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    errors: list[BaseException] = []
    now = timezone.now().replace(second=5)

    def report(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            message = {"items": [{"sku": "ACME-MUG", "quantity": number}]}
            statuses.append(push(acme, message=message).status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(rate_limit.timezone, "now", return_value=now):
        threads = [threading.Thread(target=report, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert sorted(statuses) == [200] * 7 + [429] * 13
    assert RateWindow.objects.get().count == 20
