"""Each shipment of a cart order posted back to Shopify with the lines it covers: pressrun's
own order and every package of a publisher's warehouse, against the Shopify Admin GraphQL
emulator over real HTTP (carts/postback.py). The order is the proof order of issue 11 (a
disc project, a listed SKU, a bundle and an unknown SKU), placed by a Shopify webhook and
routed as in production; the warehouse reports its packages with ShipStation ShipNotices
over its endpoint. SQLite, and PostgreSQL when PRESSRUN_DATABASE_URL is set.

Queued post-back runs are run here by hand (`run_postbacks`), so a test sees each state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test import Client
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts import postback as postback_module
from pressrun.carts.models import CartPostback, PostbackState
from pressrun.carts.postback import postback_retry, postback_summary
from pressrun.carts.tasks import postback_send
from pressrun.orders.models import Order
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.models import WarehouseOrder, WarehouseShipment
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
from pressrun.warehouses.shipments import warehouse_order_close
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.carts.shopify_payloads import BIG_ORDER_ID, order_json, shopify_headers
from tests.fulfillment.support import ship
from tests.threads import skip_unless_threads_share_the_database
from tests.warehouses.conftest import Station
from tests.warehouses.test_pull import item, ship_notice
from tests.warehouses.test_routing import LISTINGS, PROOF_LINES, post_samcart, process_pending

pytestmark = pytest.mark.django_db

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
SHOP = "press-demo"  # the handle of shopify_payloads.SHOP
CODES = b"Carrier,Code,Description\nUSPS,USPS_PRIORITY,Priority\n"
# The proof order's line items as order_json numbers them: disc, shirt, bundle, unknown.
DISC, SHIRT, GIFTSET, POSTER = (f"gid://shopify/LineItem/{466157049 + n}" for n in range(4))
SHOPIFY_LINES = (
    (466157049, "VTD234-100", 1),
    (466157050, "SHIRT-M", 2),
    (466157051, "GIFTSET", 3),
    (466157052, "POSTER-9", 1),
)
UPS_TRACKING = "1Z999AA10123456784"


class Killed(BaseException):
    """The worker dying at a fault point (not an Exception: nothing in it catches this)."""


@pytest.fixture
def emulator(settings: Any) -> Iterator[ShopifyAdminEmulator]:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    with shopify_admin_api(tokens={SHOP: TOKEN}) as emulator:
        settings.PRESSRUN_SHOPIFY_ADMIN_API_BASE = emulator.base_url + "/{shop}"
        yield emulator


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    publisher = make_publisher(balance="100")
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    publisher.refresh_from_db()
    return publisher


@pytest.fixture
def cd(make_project: Callable[..., Any], publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")


@pytest.fixture
def station(publisher: Any) -> Station:
    created = warehouse_create(name="Acme 3PL", publisher_id=publisher.id)
    connection = created.connection
    warehouse_set_enabled(connection_id=connection.id, enabled=True)
    listings_import(connection_id=connection.id, data=LISTINGS)
    carrier_codes_import(connection_id=connection.id, data=CODES)
    description_rule_create(
        connection_id=connection.id,
        match="is",
        text="Standard Shipping",
        carrier_code="USPS_PRIORITY",
    )
    return Station(created=created, client=Client())


def queued() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            task_path=postback_send.module_path, status=TaskResultStatus.READY
        ).order_by("enqueued_at")
    )


def run_postbacks() -> list[str]:
    """Run every queued post-back run (now, whatever its run_after); their states."""
    states = []
    for run in queued():
        kwargs = run.args_kwargs["kwargs"]
        run.delete()
        states.append(postback_send.call(**kwargs))
    return states


def place_proof_order(publisher: Any, emulator: ShopifyAdminEmulator) -> tuple[Order, str]:
    """The proof order from Shopify's webhook, routed: (pressrun's order, Shopify order gid)."""
    gid = emulator.add_order(BIG_ORDER_ID, lines=(SHOPIFY_LINES,))
    response = Client().post(
        f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
        data=order_json(skus=PROOF_LINES),
        content_type="application/json",
        **shopify_headers(webhook_id="w-1"),
    )
    assert response.status_code == 200
    process_pending()
    return Order.objects.get(), gid


def notify(station: Station, order: WarehouseOrder, tracking: str, items: str | None) -> None:
    response = station.notify(ship_notice(f"WH-{order.id}", tracking=tracking, items=items))
    assert response.status_code == 200, response.content


def postback_rows() -> list[tuple[int | None, str, str, list[dict[str, Any]], str]]:
    return [
        (
            row.order_id,
            row.warehouse_shipment.tracking_number if row.warehouse_shipment else "",
            row.tracking_id,
            row.lines,
            row.state,
        )
        for row in CartPostback.objects.order_by("id")
    ]


def test_each_shipment_fulfils_only_its_lines_and_the_warehouse_order_closes(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    order, gid = place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    assert list(
        warehouse_order.lines.order_by("id").values_list("line_key", "warehouse_sku", "quantity")
    ) == [
        ("id:466157050", "ACME-TEE-M", 2),
        ("id:466157051", "ACME-BOOK", 3),
        ("id:466157051", "ACME-MUG", 6),
    ]

    # pressrun's floor ships the disc: the disc line only, the rest stays open in Shopify.
    ship(order, tracking_id=UPS_TRACKING, carrier="UPS", service="UPS Ground")
    assert postback_rows() == [
        (order.id, "", UPS_TRACKING, [{"key": "id:466157049", "quantity": 1}], "pending")
    ]
    assert run_postbacks() == ["sent"]
    (fulfillment_order,) = emulator.orders[gid]
    assert emulator.mutations[0].variables["fulfillment"]["lineItemsByFulfillmentOrder"] == [
        {
            "fulfillmentOrderId": fulfillment_order.id,
            "fulfillmentOrderLineItems": [
                {"id": fulfillment_order.line_items[0].id, "quantity": 1}
            ],
        }
    ]
    assert emulator.fulfilled(gid) == [((UPS_TRACKING,), [(DISC, 1)])]
    assert fulfillment_order.status == "IN_PROGRESS"

    # The warehouse's first package: one shirt, all the books and two mugs (one whole gift
    # set: each holds a book and two mugs).
    notify(
        station,
        warehouse_order,
        "T-1",
        item("ACME-TEE-M", 1) + item("ACME-BOOK", 3) + item("ACME-MUG", 2),
    )
    assert postback_rows()[1:] == [
        (
            None,
            "T-1",
            "T-1",
            [{"key": "id:466157050", "quantity": 1}, {"key": "id:466157051", "quantity": 1}],
            "pending",
        )
    ]
    assert run_postbacks() == ["sent"]
    warehouse_order.refresh_from_db()
    assert (warehouse_order.state, warehouse_order.shipped_at) == ("partially_shipped", None)

    # The second package, every line's remainder: the other shirt and the two sets left.
    notify(station, warehouse_order, "T-2", None)
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "partially_shipped"
    assert warehouse_order.shipped_at is not None
    assert postback_rows()[2][1:4] == (
        "T-2",
        "T-2",
        [{"key": "id:466157050", "quantity": 1}, {"key": "id:466157051", "quantity": 2}],
    )
    assert run_postbacks() == ["sent"]

    assert emulator.fulfilled(gid) == [
        ((UPS_TRACKING,), [(DISC, 1)]),
        (("T-1",), [(SHIRT, 1), (GIFTSET, 1)]),
        (("T-2",), [(SHIRT, 1), (GIFTSET, 2)]),
    ]
    # The unknown SKU was never shipped: Shopify keeps it open, and the order partial.
    assert [(li.sku, li.remaining) for li in fulfillment_order.line_items] == [
        ("VTD234-100", 0),
        ("SHIRT-M", 0),
        ("GIFTSET", 0),
        ("POSTER-9", 1),
    ]
    assert fulfillment_order.status == "IN_PROGRESS"
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "closed"
    tracking = emulator.mutations[1].variables["fulfillment"]["trackingInfo"]
    assert tracking == {
        "number": "T-1",
        "company": "UPS",
        "url": "https://www.ups.com/track?tracknum=T-1",
    }
    # Nothing more to send, whatever runs again.
    for postback_id in CartPostback.objects.values_list("id", flat=True):
        assert postback_send.call(postback_id=postback_id) == "sent"
    assert len(emulator.mutations) == 3


def test_a_bundle_counts_only_once_all_its_components_shipped(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    _, gid = place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    # Books only: not one whole gift set yet, nothing the cart can be told.
    notify(station, warehouse_order, "T-1", item("ACME-BOOK", 3))
    assert WarehouseShipment.objects.count() == 1
    assert CartPostback.objects.count() == 0
    # Three mugs: one whole set (the fourth mug waits for its pair), and a shirt.
    notify(station, warehouse_order, "T-2", item("ACME-MUG", 3) + item("ACME-TEE-M", 2))
    (postback,) = CartPostback.objects.all()
    assert postback.lines == [
        {"key": "id:466157050", "quantity": 2},
        {"key": "id:466157051", "quantity": 1},
    ]
    # The last three mugs complete the other two sets.
    notify(station, warehouse_order, "T-3", item("ACME-MUG", 3))
    assert list(CartPostback.objects.order_by("id").values_list("tracking_id", "lines")) == [
        ("T-2", [{"key": "id:466157050", "quantity": 2}, {"key": "id:466157051", "quantity": 1}]),
        ("T-3", [{"key": "id:466157051", "quantity": 2}]),
    ]
    assert run_postbacks() == ["sent", "sent"]
    assert emulator.fulfilled(gid) == [
        (("T-2",), [(SHIRT, 2), (GIFTSET, 1)]),
        (("T-3",), [(GIFTSET, 2)]),
    ]
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "closed"


def test_a_retry_after_shopify_got_it_sends_nothing_twice(
    publisher: Any,
    cd: Any,
    station: Station,
    emulator: ShopifyAdminEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, gid = place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    notify(station, warehouse_order, "T-1", item("ACME-TEE-M", 1))

    # The worker dies after Shopify answered, before the row was saved (the fault point a
    # crash test kills the process at; in process, it raises what nothing catches).
    def die(name: str) -> None:
        raise Killed(name)

    monkeypatch.setattr(postback_module, "fault_point", die)
    (run,) = queued()
    postback_id = run.args_kwargs["kwargs"]["postback_id"]
    with pytest.raises(Killed):
        postback_module.postback_attempt(postback_id=postback_id, attempt=1)
    monkeypatch.undo()
    assert CartPostback.objects.get().state == "pending"
    assert emulator.fulfilled(gid) == [(("T-1",), [(SHIRT, 1)])]

    assert run_postbacks() == ["sent"]
    postback = CartPostback.objects.get()
    (fulfillment,) = emulator.orders[gid][0].fulfillments
    assert (postback.state, postback.remote_id) == ("sent", fulfillment.id)
    assert [r.operation for r in emulator.requests] == ["order", "fulfillmentCreate", "order"]
    assert emulator.fulfilled(gid) == [(("T-1",), [(SHIRT, 1)])]

    # A second package of the same line is its own fulfillment, not mistaken for the first.
    notify(station, warehouse_order, "T-2", item("ACME-TEE-M", 1))
    assert run_postbacks() == ["sent"]
    assert emulator.fulfilled(gid) == [(("T-1",), [(SHIRT, 1)]), (("T-2",), [(SHIRT, 1)])]


def test_a_line_split_over_two_locations_is_fulfilled_from_each(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    # Shopify put one shirt at each of two locations: two fulfillment orders.
    gid = emulator.add_order(
        BIG_ORDER_ID,
        statuses=("OPEN", "OPEN"),
        lines=(
            ((466157049, "VTD234-100", 1), (466157050, "SHIRT-M", 1)),
            ((466157050, "SHIRT-M", 1), (466157051, "GIFTSET", 3), (466157052, "POSTER-9", 1)),
        ),
    )
    Client().post(
        f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
        data=order_json(skus=PROOF_LINES),
        content_type="application/json",
        **shopify_headers(webhook_id="w-1"),
    )
    process_pending()
    warehouse_order = WarehouseOrder.objects.get()
    notify(station, warehouse_order, "T-1", item("ACME-TEE-M", 2))
    assert run_postbacks() == ["sent"]
    first, second = emulator.orders[gid]
    assert [
        m.variables["fulfillment"]["lineItemsByFulfillmentOrder"] for m in emulator.mutations
    ] == [
        [
            {
                "fulfillmentOrderId": first.id,
                "fulfillmentOrderLineItems": [{"id": first.line_items[1].id, "quantity": 1}],
            }
        ],
        [
            {
                "fulfillmentOrderId": second.id,
                "fulfillmentOrderLineItems": [{"id": second.line_items[0].id, "quantity": 1}],
            }
        ],
    ]
    assert (first.status, second.status) == ("IN_PROGRESS", "IN_PROGRESS")
    postback = CartPostback.objects.get()
    assert postback.remote_id == " ".join(f.id for f in (first.fulfillments + second.fulfillments))


def test_a_post_back_that_gave_up_keeps_the_order_open_until_sent_again(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    _, gid = place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    emulator.tokens[SHOP] = "shpat_revoked"
    notify(station, warehouse_order, "T-1", None)
    assert run_postbacks() == ["gave_up"]
    postback = CartPostback.objects.get()
    assert postback_summary(postback).startswith("Not sent to Shopify: Shopify refused the")
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "partially_shipped"
    assert warehouse_order.shipped_at is not None

    emulator.tokens[SHOP] = TOKEN
    assert postback_retry(postback_id=postback.id)
    assert run_postbacks() == ["sent"]
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "closed"
    assert emulator.fulfilled(gid) == [(("T-1",), [(SHIRT, 2), (GIFTSET, 3)])]


def test_a_cart_without_a_shipping_api_closes_the_order_with_nothing_sent(
    publisher: Any, station: Station
) -> None:
    post_samcart(publisher, "SHIRT-M", "Tour shirt")
    process_pending()
    warehouse_order = WarehouseOrder.objects.get()
    assert (warehouse_order.cart, warehouse_order.state) == ("samcart", "open")
    notify(station, warehouse_order, "T-1", None)
    postback = CartPostback.objects.get()
    assert (postback.state, postback.cart) == ("not_supported", "samcart")
    assert queued() == []
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "closed"


def test_close_is_refused_unless_shipped_in_full(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    assert warehouse_order_close(order_id=warehouse_order.id) is False
    notify(station, warehouse_order, "T-1", item("ACME-TEE-M", 1))
    assert warehouse_order_close(order_id=warehouse_order.id) is False
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "partially_shipped"


@pytest.mark.django_db(transaction=True)
def test_two_packages_posted_at_once_close_the_order_once(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    skip_unless_threads_share_the_database()
    place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    notify(station, warehouse_order, "T-1", item("ACME-TEE-M", 2))
    notify(station, warehouse_order, "T-2", None)
    runs = [run.args_kwargs["kwargs"]["postback_id"] for run in queued()]
    DBTaskResult.objects.all().delete()
    states: list[str] = []
    barrier = threading.Barrier(len(runs))

    def send(postback_id: int) -> None:
        try:
            barrier.wait()
            states.append(postback_send.call(postback_id=postback_id))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=send, args=(postback_id,)) for postback_id in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(states) == ["sent", "sent"]
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "closed"
    assert CartPostback.objects.filter(state=PostbackState.SENT).count() == 2


def test_the_publisher_sees_each_packages_post_back_and_can_send_it_again(
    publisher: Any,
    cd: Any,
    station: Station,
    emulator: ShopifyAdminEmulator,
    make_publisher: Callable[..., Any],
) -> None:
    from tests.dashboard.conftest import sign_in

    _, gid = place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    notify(station, warehouse_order, "T-0", item("ACME-BOOK", 1))  # part of a gift set
    emulator.tokens[SHOP] = "shpat_revoked"
    notify(station, warehouse_order, "T-1", item("ACME-TEE-M", 2))
    assert run_postbacks() == ["gave_up"]
    shipment = WarehouseShipment.objects.get(tracking_number="T-1")
    browser = Client()
    sign_in(browser, publisher)

    home = browser.get("/home").content.decode()
    assert (
        f'<a href="/integrations/warehouses/{station.id}/orders">Warehouse order '
        f"{warehouse_order.id}</a> (Acme 3PL, package T-1): Not sent to Shopify:"
    ) in home
    page = browser.get(f"/integrations/warehouses/{station.id}/orders").content.decode()
    assert page.count('data-testid="shipment-postback"') == 2
    assert 'data-state="none">Completes no cart line yet (part of a bundle)' in page
    assert 'data-state="gave_up">Not sent to Shopify: Shopify refused the access token' in page
    assert "waiting for the tracking to reach the cart" not in page  # not shipped in full

    # Another publisher's browser gets a 404 and queues nothing; its own publisher's works.
    url = f"/integrations/warehouses/{station.id}/shipments/{shipment.id}/send-again"
    stranger = Client()
    sign_in(stranger, make_publisher())
    assert stranger.post(url).status_code == 404
    assert queued() == []
    assert CartPostback.objects.get(warehouse_shipment=shipment).state == "gave_up"
    emulator.tokens[SHOP] = TOKEN
    response = browser.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"/integrations/warehouses/{station.id}/orders"
    assert run_postbacks() == ["sent"]
    page = browser.get(f"/integrations/warehouses/{station.id}/orders").content.decode()
    assert 'data-state="sent">Tracking sent to Shopify at' in page
    assert emulator.fulfilled(gid) == [(("T-1",), [(SHIRT, 2)])]


def test_lines_fulfilled_in_shopify_by_hand_get_the_tracking_or_are_left_alone(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    from tests.carts.shopify_admin_emulator import EmulatedFulfillment

    _, gid = place_proof_order(publisher, emulator)
    (fulfillment_order,) = emulator.orders[gid]
    shirt = fulfillment_order.line_items[1]
    # The merchant marked the shirts fulfilled in Shopify, without tracking, before the
    # warehouse's notice came.
    by_hand = EmulatedFulfillment(id="gid://shopify/Fulfillment/1", line_items=[(SHIRT, 2)])
    shirt.remaining = 0
    fulfillment_order.status = "IN_PROGRESS"
    fulfillment_order.fulfillments.append(by_hand)
    warehouse_order = WarehouseOrder.objects.get()
    notify(station, warehouse_order, "T-1", item("ACME-TEE-M", 2))
    assert run_postbacks() == ["sent"]
    assert [r.operation for r in emulator.mutations] == ["fulfillmentTrackingInfoUpdate"]
    assert by_hand.tracking == [
        {"number": "T-1", "company": "UPS", "url": "https://www.ups.com/track?tracknum=T-1"}
    ]
    assert CartPostback.objects.get().remote_id == by_hand.id

    # Gift sets fulfilled by hand with other tracking: left as they are, and said so.
    giftset = fulfillment_order.line_items[2]
    giftset.remaining = 0
    fulfillment_order.fulfillments.append(
        EmulatedFulfillment(
            id="gid://shopify/Fulfillment/2",
            tracking=[{"number": "MINE-1", "company": "UPS", "url": ""}],
            line_items=[(GIFTSET, 3)],
        )
    )
    notify(station, warehouse_order, "T-2", None)
    assert run_postbacks() == ["gave_up"]
    postback = CartPostback.objects.get(tracking_id="T-2")
    assert postback.last_error == (
        f"The lines of this shipment are already fulfilled in Shopify order {BIG_ORDER_ID} "
        "(or cannot be fulfilled there); nothing was sent."
    )
    assert len(emulator.mutations) == 1
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "partially_shipped"


def test_a_line_shopify_does_not_list_gives_up_and_sends_nothing(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator
) -> None:
    place_proof_order(publisher, emulator)
    # The shop's order lost its shirt line (edited in Shopify after it was placed).
    (fulfillment_order,) = next(iter(emulator.orders.values()))
    del fulfillment_order.line_items[1]
    notify(station, WarehouseOrder.objects.get(), "T-1", item("ACME-TEE-M", 1))
    assert run_postbacks() == ["gave_up"]
    assert CartPostback.objects.get().last_error == (
        f"Shopify order {BIG_ORDER_ID} has no line item for the cart line 'id:466157050': "
        "nothing was sent."
    )
    assert emulator.mutations == []
