"""Routing a cart order's lines: pressrun's order for projects, warehouse orders for listed
(or unknown, when the publisher says so) SKUs, the missing-SKU case and its fixes, the
warehouse orders' states and their carrier codes. The proof scenario of issue 11, in
process, for each cart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pressrun.carts import routing
from pressrun.carts.models import (
    CartOrder,
    CartOrderLine,
    InboundDelivery,
    Outcome,
    UnmatchedProduct,
)
from pressrun.carts.routing import line_keys
from pressrun.carts.services import (
    MappingRefused,
    WarehouseNotFound,
    delivery_process,
    delivery_replay_by_publisher,
    unmatched_add_listing,
    unmatched_map_to_project,
)
from pressrun.core.sealed import seal
from pressrun.orders.models import Order
from pressrun.orders.services import MAX_QUANTITY_PER_LINE
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import ListingRefused, listing_add, listings_import
from pressrun.warehouses.models import Listing, WarehouseOrder, WarehouseOrderLine
from pressrun.warehouses.orders import (
    warehouse_orders_recheck,
    warehouse_orders_recheck_for_publisher,
)
from pressrun.warehouses.services import (
    ConnectionInvalid,
    warehouse_create,
    warehouse_set_enabled,
    warehouse_set_receives_unknown_skus,
)
from pressrun.warehouses.states import MoveRefused, warehouse_order_move
from tests.carts import oneshoppingcart_emulator as emulator_module
from tests.carts.oneshoppingcart_emulator import API_KEY, MERCHANT_ID, Emulator
from tests.carts.oneshoppingcart_emulator import notification as osc_notification
from tests.carts.samcart_payloads import as_json, notification
from tests.carts.shopify_payloads import order_json, shopify_headers
from tests.threads import skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db

LISTINGS = b"channel_sku,warehouse_sku,quantity\nSHIRT-M,ACME-TEE-M,1\nGIFTSET,ACME-BOOK,1\n" + (
    b"GIFTSET,ACME-MUG,2\n"
)
CODES = b"Carrier,Code,Description\nUSPS,USPS_PRIORITY,Priority\nUPS,UPS_GROUND,Ground\n"
# The proof order: a disc project, a listed SKU, a bundle and an unknown SKU.
PROOF_LINES = (
    ("VTD234-100", 1, "Greatest Hits CD"),
    ("SHIRT-M", 2, "Tour shirt M"),
    ("GIFTSET", 3, "Gift set"),
    ("POSTER-9", 1, "Tour poster"),
)


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")


def make_warehouse(
    publisher: Any, name: str = "Acme 3PL", *, rule: str = "Standard Shipping"
) -> Any:
    connection = warehouse_create(name=name, publisher_id=publisher.id).connection
    warehouse_set_enabled(connection_id=connection.id, enabled=True)
    listings_import(connection_id=connection.id, data=LISTINGS)
    carrier_codes_import(connection_id=connection.id, data=CODES)
    if rule:
        description_rule_create(
            connection_id=connection.id, match="is", text=rule, carrier_code="USPS_PRIORITY"
        )
    connection.refresh_from_db()
    return connection


@pytest.fixture
def warehouse(publisher: Any) -> Any:
    return make_warehouse(publisher)


def post_shopify(
    publisher: Any, body: bytes, webhook_id: str, topic: str = "orders/fulfilled"
) -> Any:
    response = Client().post(
        f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
        data=body,
        content_type="application/json",
        **shopify_headers(webhook_id=webhook_id, topic=topic),
    )
    assert response.status_code == 200
    return InboundDelivery.objects.get(delivery_id=webhook_id)


def process_pending() -> list[InboundDelivery]:
    pending = InboundDelivery.objects.filter(outcome=Outcome.PENDING).order_by("id")
    return [delivery_process(delivery_id=d.id) for d in list(pending)]


def warehouse_lines(order: WarehouseOrder) -> list[tuple[str, str, int]]:
    return list(order.lines.order_by("id").values_list("channel_sku", "warehouse_sku", "quantity"))


def routes() -> list[tuple[str, str]]:
    return list(CartOrderLine.objects.order_by("id").values_list("ref", "destination"))


class TestProofShopify:
    def test_one_order_one_warehouse_order_one_missing_sku_then_a_listing(
        self, publisher: Any, cd: Any, warehouse: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=PROOF_LINES), "w-1")
        (delivery,) = process_pending()

        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 1)]
        placed = WarehouseOrder.objects.get()
        assert (placed.connection_id, placed.state, placed.carrier_code, placed.error) == (
            warehouse.id,
            "open",
            "USPS_PRIORITY",
            "",
        )
        assert (placed.cart, placed.cart_order_name, placed.shipping_description) == (
            "shopify",
            "#1001",
            "Standard Shipping",
        )
        assert (placed.ship_name, placed.ship_city, placed.ship_country) == (
            "Bob Norman",
            "Louisville",
            "US",
        )
        assert warehouse_lines(placed) == [
            ("SHIRT-M", "ACME-TEE-M", 2),
            ("GIFTSET", "ACME-BOOK", 3),
            ("GIFTSET", "ACME-MUG", 6),
        ]
        assert sorted(set(placed.lines.values_list("line_key", flat=True))) == [
            "id:466157050",
            "id:466157051",
        ]
        assert delivery.outcome == Outcome.ORDER_CREATED
        assert delivery.reason == (
            f"Order {order.id}. Warehouse order {placed.id} (Acme 3PL): 3 lines, open. "
            "Skipped lines: SKU 'POSTER-9' (Tour poster)"
        )
        assert list(delivery.orders.all()) == [order]
        assert list(delivery.warehouse_orders.all()) == [placed]
        assert routes() == [
            ("VTD234-100", "project"),
            ("SHIRT-M", "warehouse"),
            ("GIFTSET", "warehouse"),
            ("POSTER-9", "unrouted"),
        ]
        missing = CartOrderLine.objects.get(ref="POSTER-9")
        assert missing.reason == (
            "SKU 'POSTER-9' names no project and no listing of your warehouses: map it to a "
            "project or add a listing."
        )
        product = UnmatchedProduct.objects.get()
        assert (product.product_ref, list(product.deliveries.all())) == ("POSTER-9", [delivery])

        # The fix: a listing. Only the line left is routed, into the same warehouse order.
        routed = unmatched_add_listing(
            publisher=publisher,
            unmatched_product_id=product.id,
            connection_id=warehouse.id,
            warehouse_sku="ACME-POSTER",
        )
        assert routed == 1
        assert Order.objects.count() == 1
        assert WarehouseOrder.objects.get() == placed
        assert warehouse_lines(placed) == [
            ("SHIRT-M", "ACME-TEE-M", 2),
            ("GIFTSET", "ACME-BOOK", 3),
            ("GIFTSET", "ACME-MUG", 6),
            ("POSTER-9", "ACME-POSTER", 1),
        ]
        assert routes()[-1] == ("POSTER-9", "warehouse")
        delivery.refresh_from_db()
        assert delivery.outcome == Outcome.ORDER_CREATED
        assert delivery.reason == (
            f"Order {order.id}. Warehouse order {placed.id} (Acme 3PL): 4 lines, open."
        )
        product.refresh_from_db()
        assert product.resolved_at is not None

        # Again, and a replay of the delivery: nothing left, nothing doubled.
        assert (
            unmatched_add_listing(
                publisher=publisher, unmatched_product_id=product.id, connection_id=warehouse.id
            )
            == 0
        )
        assert WarehouseOrderLine.objects.count() == 4
        assert Order.objects.count() == 1

    def test_another_topic_of_the_same_order_is_a_duplicate(
        self, publisher: Any, cd: Any, warehouse: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=PROOF_LINES), "w-1", topic="orders/create")
        post_shopify(publisher, order_json(skus=PROOF_LINES), "w-2")
        publisher.shopify_topics = "orders/create,orders/fulfilled"
        publisher.save()
        first, second = process_pending()
        assert (first.outcome, second.outcome) == (Outcome.ORDER_CREATED, Outcome.DUPLICATE)
        assert (Order.objects.count(), WarehouseOrder.objects.count()) == (1, 1)
        assert WarehouseOrderLine.objects.count() == 3

    def test_only_warehouse_lines_make_a_routed_delivery(
        self, publisher: Any, warehouse: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),)), "w-1")
        (delivery,) = process_pending()
        placed = WarehouseOrder.objects.get()
        assert delivery.outcome == Outcome.ROUTED
        assert delivery.reason == f"Warehouse order {placed.id} (Acme 3PL): 1 line, open."
        assert not Order.objects.exists()
        assert not UnmatchedProduct.objects.exists()
        # A second topic of the same order finds it routed.
        post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),)), "w-2")
        (again,) = process_pending()
        assert again.outcome == Outcome.DUPLICATE
        assert WarehouseOrderLine.objects.count() == 1

    def test_mapping_a_project_later_places_the_pressrun_half_once(
        self, publisher: Any, make_project: Any, warehouse: Any
    ) -> None:
        post_shopify(
            publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"), ("NEW-CD", 2, "New CD"))), "w-1"
        )
        (delivery,) = process_pending()
        assert delivery.outcome == Outcome.ROUTED
        project = make_project(publisher, title="New CD")
        product = UnmatchedProduct.objects.get()
        assert (
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=product.id, project_id=project.id
            )
            == 1
        )
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(project.id, 2)]
        assert (order.invoice, order.external_ref) == (
            "#1001@press-demo",
            delivery.external_key.split(":")[1],
        )
        delivery.refresh_from_db()
        assert delivery.outcome == Outcome.ORDER_CREATED
        assert list(delivery.orders.all()) == [order]
        # Mapped again: nothing left, no second order.
        assert (
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=product.id, project_id=project.id
            )
            == 0
        )
        assert Order.objects.count() == 1

    def test_a_line_naming_a_project_after_the_order_was_placed_stays_with_its_reason(
        self, publisher: Any, cd: Any, make_project: Any, warehouse: Any
    ) -> None:
        post_shopify(
            publisher, order_json(skus=(("VTD234-100", 1, "CD"), ("LATE", 1, "Late CD"))), "w-1"
        )
        process_pending()
        order = Order.objects.get()
        late = make_project(publisher, title="Late CD")
        product = UnmatchedProduct.objects.get()
        assert (
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=product.id, project_id=late.id
            )
            == 0
        )
        assert Order.objects.count() == 1
        assert CartOrderLine.objects.get(ref="LATE").reason == (
            f"It names a project, but pressrun's order {order.id} was already placed for this "
            "cart order: add it to that order by hand."
        )

    def test_the_publishers_replay_routes_only_the_lines_left(
        self, publisher: Any, cd: Any, warehouse: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=PROOF_LINES), "w-1")
        (delivery,) = process_pending()
        from pressrun.carts.selectors import delivery_replayable_by_publisher

        assert delivery_replayable_by_publisher(delivery)
        listings_import(
            connection_id=warehouse.id, data=b"channel_sku,warehouse_sku,quantity\nPOSTER-9,P,1\n"
        )
        delivery_replay_by_publisher(publisher=publisher, delivery_id=delivery.id)
        delivery.refresh_from_db()
        assert not delivery_replayable_by_publisher(delivery)
        assert warehouse_lines(WarehouseOrder.objects.get())[-1] == ("POSTER-9", "P", 1)
        assert Order.objects.count() == 1


def test_a_cart_orders_placed_order_when_its_lines_do_not_carry_it_is_its_deliverys(
    publisher: Any, cd: Any, make_publisher: Any
) -> None:
    """Older cart orders' lines carry no order: pressrun's order is then the one their
    delivery made, read by a statement compiled once (`routing._placed_order`), as the
    queryset it replaced read it."""
    post_shopify(publisher, order_json(skus=(("VTD234-100", 1, "CD"),)), "w-1")
    (delivery,) = process_pending()
    order = Order.objects.get()
    cart_order = CartOrder.objects.get()
    CartOrderLine.objects.update(order=None)

    def as_the_queryset_read() -> Order | None:
        made = (
            InboundDelivery.objects.filter(
                cart=cart_order.cart,
                publisher_id=cart_order.publisher_id,
                external_key=cart_order.external_key,
                outcome=Outcome.ORDER_CREATED,
            )
            .values_list("orders", flat=True)
            .first()
        )
        return Order.objects.filter(id=made).first() if made else None

    assert routing._placed_order(cart_order) == as_the_queryset_read() == order
    delivery.orders.clear()
    assert routing._placed_order(cart_order) is as_the_queryset_read() is None
    delivery.orders.add(order)
    InboundDelivery.objects.filter(id=delivery.id).update(outcome=Outcome.ROUTED)
    assert routing._placed_order(cart_order) is as_the_queryset_read() is None
    InboundDelivery.objects.filter(id=delivery.id).update(outcome=Outcome.ORDER_CREATED)
    assert routing._placed_order(cart_order) == order
    # Another publisher's cart order with the same key is not this one.
    other = CartOrder.objects.get()
    other.publisher_id = make_publisher().id
    assert routing._placed_order(other) is None


class TestRules:
    def test_no_rule_stops_the_order_in_error_until_a_rule_fits(self, publisher: Any) -> None:
        connection = make_warehouse(publisher, rule="")
        post_shopify(
            publisher,
            order_json(skus=(("SHIRT-M", 1, "Shirt"),), shipping_title="Express Overnight"),
            "w-1",
        )
        (delivery,) = process_pending()
        placed = WarehouseOrder.objects.get()
        error = (
            "The shipping description “Express Overnight” matches no Shipping Description "
            "Transformer rule of this warehouse: add a rule that turns it into one of the "
            "warehouse's carrier codes."
        )
        assert (placed.state, placed.carrier_code, placed.error) == ("error", "", error)
        assert delivery.outcome == Outcome.ROUTED
        assert delivery.reason == f"Warehouse order {placed.id} (Acme 3PL): 1 line, error: {error}"
        # Re-checking without a rule changes nothing; a rule that fits opens it.
        assert warehouse_orders_recheck(connection_id=connection.id) == 0
        description_rule_create(
            connection_id=connection.id,
            match="starts_with",
            text="Express",
            carrier_code="UPS_GROUND",
        )
        placed.refresh_from_db()
        assert (placed.state, placed.carrier_code, placed.error) == ("open", "UPS_GROUND", "")
        assert warehouse_orders_recheck(connection_id=connection.id) == 0

    def test_the_dashboards_recheck_is_the_publishers_own(
        self, publisher: Any, make_publisher: Any
    ) -> None:
        connection = make_warehouse(publisher)
        with pytest.raises(type(connection).DoesNotExist):
            warehouse_orders_recheck_for_publisher(
                publisher_id=make_publisher().id, connection_id=connection.id
            )
        assert (
            warehouse_orders_recheck_for_publisher(
                publisher_id=publisher.id, connection_id=connection.id
            )
            == 0
        )


class TestStates:
    def test_the_table_allows_its_moves_only(self, publisher: Any, warehouse: Any) -> None:
        post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),)), "w-1")
        process_pending()
        placed = WarehouseOrder.objects.get()
        with pytest.raises(MoveRefused, match="is open: it cannot become closed"):
            warehouse_order_move(order_id=placed.id, to="closed")
        with pytest.raises(MoveRefused, match="needs its reason"):
            warehouse_order_move(order_id=placed.id, to="error")
        assert WarehouseOrder.objects.get().state == "open"
        for state in ("routed", "partially_shipped", "closed"):
            assert warehouse_order_move(order_id=placed.id, to=state).state == state
        with pytest.raises(MoveRefused):
            warehouse_order_move(order_id=placed.id, to="open")

    def test_a_routed_order_takes_no_more_lines(
        self, publisher: Any, cd: Any, warehouse: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=PROOF_LINES), "w-1")
        process_pending()
        placed = WarehouseOrder.objects.get()
        warehouse_order_move(order_id=placed.id, to="routed")
        product = UnmatchedProduct.objects.get()
        assert (
            unmatched_add_listing(
                publisher=publisher, unmatched_product_id=product.id, connection_id=warehouse.id
            )
            == 0
        )
        assert WarehouseOrderLine.objects.count() == 3
        assert CartOrderLine.objects.get(ref="POSTER-9").reason == (
            f"Warehouse order {placed.id} at Acme 3PL is already routed: add this line there "
            "by hand."
        )


class TestUnknownSkus:
    def test_unknown_skus_go_unchanged_to_the_chosen_warehouse(
        self, publisher: Any, cd: Any, warehouse: Any
    ) -> None:
        other = make_warehouse(publisher, "Other 3PL")
        warehouse_set_receives_unknown_skus(connection_id=warehouse.id, on=True)
        warehouse_set_receives_unknown_skus(connection_id=other.id, on=True)
        warehouse.refresh_from_db()
        assert not warehouse.receives_unknown_skus
        # SHIRT-M is listed at both: it is not routed, with the reason.
        post_shopify(
            publisher, order_json(skus=(("POSTER-9", 2, "Poster"), ("SHIRT-M", 1, "Shirt"))), "w-1"
        )
        (delivery,) = process_pending()
        placed = WarehouseOrder.objects.get()
        assert placed.connection_id == other.id
        assert warehouse_lines(placed) == [("POSTER-9", "POSTER-9", 2)]
        assert CartOrderLine.objects.get(ref="SHIRT-M").reason == (
            "SKU 'SHIRT-M' is listed at Acme 3PL and Other 3PL: keep its listing at one warehouse."
        )
        assert delivery.outcome == Outcome.ROUTED

    def test_a_disabled_warehouse_routes_nothing(self, publisher: Any, warehouse: Any) -> None:
        warehouse_set_enabled(connection_id=warehouse.id, enabled=False)
        post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),)), "w-1")
        (delivery,) = process_pending()
        assert delivery.outcome == Outcome.UNMATCHED
        assert delivery.reason == "No line matches a project. SKU 'SHIRT-M' (Shirt)"
        assert not WarehouseOrder.objects.exists()

    def test_pressruns_own_station_never_receives_cart_lines(self) -> None:
        station = warehouse_create(name="Floor").connection
        with pytest.raises(ConnectionInvalid):
            warehouse_set_receives_unknown_skus(connection_id=station.id, on=True)


class TestAddListing:
    def test_another_publishers_product_or_warehouse_is_not_found(
        self, publisher: Any, make_publisher: Any, warehouse: Any
    ) -> None:
        from pressrun.carts.services import UnmatchedProductNotFound

        post_shopify(publisher, order_json(skus=(("POSTER-9", 1, "Poster"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()
        stranger = make_publisher()
        theirs = make_warehouse(stranger, "Theirs")
        with pytest.raises(UnmatchedProductNotFound):
            unmatched_add_listing(
                publisher=stranger, unmatched_product_id=product.id, connection_id=theirs.id
            )
        with pytest.raises(WarehouseNotFound):
            unmatched_add_listing(
                publisher=publisher, unmatched_product_id=product.id, connection_id=theirs.id
            )
        with pytest.raises(MappingRefused, match="starts with '='"):
            unmatched_add_listing(
                publisher=publisher,
                unmatched_product_id=product.id,
                connection_id=warehouse.id,
                warehouse_sku="=CMD()",
            )
        assert not WarehouseOrder.objects.exists()
        assert InboundDelivery.objects.get().outcome == Outcome.UNMATCHED

    def test_an_unmatched_delivery_is_processed_again_into_a_routed_one(
        self, publisher: Any, warehouse: Any, settings: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=(("POSTER-9", 1, "Poster"),)), "w-1")
        (delivery,) = process_pending()
        assert delivery.outcome == Outcome.UNMATCHED
        product = UnmatchedProduct.objects.get()
        assert (
            unmatched_add_listing(
                publisher=publisher, unmatched_product_id=product.id, connection_id=warehouse.id
            )
            == 1
        )
        (again,) = process_pending()
        assert again.outcome == Outcome.ROUTED
        assert warehouse_lines(WarehouseOrder.objects.get()) == [("POSTER-9", "POSTER-9", 1)]
        assert CartOrder.objects.count() == 1


class TestSamCart:
    def test_the_proof_order_from_samcart(
        self, publisher: Any, make_project: Any, warehouse: Any
    ) -> None:
        cd = make_project(publisher, title="CD", ecommerce_ids="{294010}")
        listings_import(
            connection_id=warehouse.id,
            data=b"channel_sku,warehouse_sku,quantity\n555,ACME-BOOK,1\n555,ACME-MUG,2\n",
        )
        for product_id, name, quantity in (
            ("294010", "CD", 1),
            ("555", "Gift set", 3),
            ("777", "Poster", 1),
        ):
            response = Client().post(
                f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
                data=as_json(
                    notification(
                        product_id=product_id,
                        product_name=name,
                        quantity=quantity,
                        shipping_method="Standard Shipping",
                    )
                ),
                content_type="application/json",
            )
            assert response.status_code == 200
        first, second, third = process_pending()
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 1)]
        placed = WarehouseOrder.objects.get()
        assert warehouse_lines(placed) == [("555", "ACME-BOOK", 3), ("555", "ACME-MUG", 6)]
        assert placed.state == "open"
        assert (first.outcome, second.outcome, third.outcome) == (
            Outcome.ORDER_CREATED,
            Outcome.DUPLICATE,
            Outcome.DUPLICATE,
        )
        assert "Skipped products: product '777' (Poster)" in first.reason
        product = UnmatchedProduct.objects.get()
        assert product.product_ref == "777"
        assert (
            unmatched_add_listing(
                publisher=publisher,
                unmatched_product_id=product.id,
                connection_id=warehouse.id,
                warehouse_sku="ACME-POSTER",
            )
            == 1
        )
        assert Order.objects.count() == 1
        assert warehouse_lines(placed)[-1] == ("777", "ACME-POSTER", 1)
        assert WarehouseOrderLine.objects.count() == 3


def post_samcart(publisher: Any, product_id: str, name: str, quantity: int = 1) -> None:
    response = Client().post(
        f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
        data=as_json(notification(product_id=product_id, product_name=name, quantity=quantity)),
        content_type="application/json",
    )
    assert response.status_code == 200


class TestSamCartLate:
    def test_a_late_product_joins_the_warehouse_order(
        self, publisher: Any, make_project: Any, warehouse: Any
    ) -> None:
        make_project(publisher, title="CD", ecommerce_ids="{294010}")
        post_samcart(publisher, "294010", "CD")
        post_samcart(publisher, "SHIRT-M", "Shirt")
        first, merged = process_pending()
        placed = WarehouseOrder.objects.get()
        assert (first.outcome, merged.outcome) == (Outcome.ORDER_CREATED, Outcome.DUPLICATE)
        # After the grace window: a listed product joins the warehouse order ...
        post_samcart(publisher, "GIFTSET", "Gift set", quantity=2)
        (late,) = process_pending()
        assert (late.outcome, late.reason) == (
            Outcome.DUPLICATE,
            "Arrived after its order was placed; its products were routed. "
            f"Warehouse order {placed.id} (Acme 3PL): 3 lines, open.",
        )
        assert warehouse_lines(placed) == [
            ("SHIRT-M", "ACME-TEE-M", 1),
            ("GIFTSET", "ACME-BOOK", 2),
            ("GIFTSET", "ACME-MUG", 4),
        ]
        assert list(late.warehouse_orders.all()) == [placed]
        # ... while a late disc cannot join pressrun's placed order: added by hand, as ever.
        make_project(publisher, title="Other CD", ecommerce_ids="{300111}")
        post_samcart(publisher, "300111", "Other CD")
        (disc,) = process_pending()
        order = Order.objects.get()
        assert (disc.outcome, disc.reason) == (
            Outcome.FAILED,
            f"Arrived after order {order.id} was placed; add the product by hand.",
        )
        assert CartOrderLine.objects.count() == 3  # the disc wrote no line


@pytest.fixture
def api(settings: Any) -> Iterator[Emulator]:
    with emulator_module.running() as emulator:
        settings.PRESSRUN_ONESHOPPINGCART_API_URL = emulator.base_url
        yield emulator


class TestOneShoppingCart:
    def test_the_proof_order_from_1shoppingcart(
        self, api: Emulator, publisher: Any, make_project: Any, warehouse: Any
    ) -> None:
        publisher.oneshoppingcart_merchant_id = MERCHANT_ID
        publisher.oneshoppingcart_api_key_sealed = seal(API_KEY)
        publisher.save()
        cd = make_project(publisher, title="CD", ecommerce_ids="<5000-A>")
        description_rule_create(
            connection_id=warehouse.id,
            match="is",
            text="First Class Mail",
            carrier_code="UPS_GROUND",
        )
        api.add_order(
            "81234567",
            lines=[
                ("5000-A", 2, "CD"),
                ("SHIRT-M", 1, "Shirt"),
                ("GIFTSET", 2, "Gift set"),
                ("POSTER-9", 1, "Poster"),
            ],
        )
        response = Client().post(
            f"/carts/1shoppingcart?TSMode=prod&TSPub={publisher.id}&token={publisher.cart_token}",
            data=osc_notification("81234567"),
            content_type="text/xml",
        )
        assert response.status_code == 200
        (delivery,) = process_pending()
        assert delivery.outcome == Outcome.ORDER_CREATED
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 2)]
        placed = WarehouseOrder.objects.get()
        assert (placed.carrier_code, placed.state, placed.ship_name) == (
            "UPS_GROUND",
            "open",
            "Pat Jones",
        )
        assert warehouse_lines(placed) == [
            ("SHIRT-M", "ACME-TEE-M", 1),
            ("GIFTSET", "ACME-BOOK", 2),
            ("GIFTSET", "ACME-MUG", 4),
        ]
        product = UnmatchedProduct.objects.get()
        requests = len(api.requests)
        assert (
            unmatched_add_listing(
                publisher=publisher, unmatched_product_id=product.id, connection_id=warehouse.id
            )
            == 1
        )
        # Routed from what was kept: 1ShoppingCart is not asked again.
        assert len(api.requests) == requests
        assert warehouse_lines(placed)[-1] == ("POSTER-9", "POSTER-9", 1)
        assert Order.objects.count() == 1


def test_line_keys_are_stable_and_unique() -> None:
    assert line_keys(["7", "", "", ""], ["A", "B", "B", ""]) == [
        "id:7",
        "sku:B",
        "sku:B#2",
        "sku:",
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_fixes_route_each_line_once(make_publisher: Any, make_project: Any) -> None:
    skip_unless_threads_share_the_database()
    publisher = make_publisher(balance="100")
    make_project(publisher, title="CD", ecommerce_ids="{VTD234-100}")
    warehouse = make_warehouse(publisher)
    post_shopify(publisher, order_json(skus=PROOF_LINES), "w-1")
    process_pending()
    product = UnmatchedProduct.objects.get()
    listings_import(
        connection_id=warehouse.id, data=b"channel_sku,warehouse_sku,quantity\nPOSTER-9,P,1\n"
    )
    delivery = InboundDelivery.objects.get()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []
    results: list[int] = []

    def fix(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            if index % 2:
                results.append(
                    unmatched_add_listing(
                        publisher=publisher,
                        unmatched_product_id=product.id,
                        connection_id=warehouse.id,
                    )
                )
            else:
                try:
                    delivery_replay_by_publisher(publisher=publisher, delivery_id=delivery.id)
                    results.append(1)
                except Exception:
                    results.append(0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=fix, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 1
    assert Order.objects.count() == 1
    assert WarehouseOrder.objects.count() == 1
    assert warehouse_lines(WarehouseOrder.objects.get()) == [
        ("SHIRT-M", "ACME-TEE-M", 2),
        ("GIFTSET", "ACME-BOOK", 3),
        ("GIFTSET", "ACME-MUG", 6),
        ("POSTER-9", "P", 1),
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_proof_order_route_each_line_once(
    make_publisher: Any, make_project: Any
) -> None:
    skip_unless_threads_share_the_database()
    publisher = make_publisher(balance="100")
    publisher.shopify_topics = "orders/paid,orders/fulfilled,orders/create"
    publisher.save()
    make_project(publisher, title="CD", ecommerce_ids="{VTD234-100}")
    make_warehouse(publisher)
    deliveries = [
        post_shopify(publisher, order_json(skus=PROOF_LINES), f"c-{index}") for index in range(8)
    ]
    barrier = threading.Barrier(len(deliveries))
    errors: list[BaseException] = []

    def process(delivery_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            delivery_process(delivery_id=delivery_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=process, args=(d.id,)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    outcomes = sorted(InboundDelivery.objects.values_list("outcome", flat=True))
    assert outcomes == [Outcome.DUPLICATE] * 7 + [Outcome.ORDER_CREATED]
    assert (Order.objects.count(), WarehouseOrder.objects.count()) == (1, 1)
    assert WarehouseOrderLine.objects.count() == 3
    assert CartOrder.objects.count() == 1
    assert CartOrderLine.objects.count() == 4


def test_a_line_without_sku_is_never_sent_to_a_warehouse(publisher: Any, warehouse: Any) -> None:
    warehouse_set_receives_unknown_skus(connection_id=warehouse.id, on=True)
    post_shopify(publisher, order_json(skus=((None, 1, "Gift wrap"), ("MUG", 1, "Mug"))), "w-1")
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ROUTED
    assert warehouse_lines(WarehouseOrder.objects.get()) == [("MUG", "MUG", 1)]
    wrap = CartOrderLine.objects.get(title="Gift wrap")
    assert (wrap.ref, wrap.has_sku, wrap.destination) == ("39072856", False, "unrouted")
    assert wrap.reason == (
        "It has no SKU, so no warehouse can be sent it: give the product a SKU in the cart, or "
        "map it to a project."
    )
    assert list(UnmatchedProduct.objects.values_list("product_ref", flat=True)) == ["39072856"]


def test_a_test_order_makes_a_test_warehouse_order(publisher: Any, warehouse: Any) -> None:
    post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),), test=True), "w-1")
    process_pending()
    assert WarehouseOrder.objects.get().test is True


class TestRetention:
    def test_a_routed_delivery_keeps_its_body_and_an_unrouted_order_is_forgotten(
        self, publisher: Any, warehouse: Any, settings: Any
    ) -> None:
        from datetime import timedelta

        from django.utils import timezone

        from pressrun.carts.services import delivery_bodies_expire

        settings.CART_BODY_RETENTION_DAYS = 30
        post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),)), "w-1")
        post_shopify(
            publisher, order_json(order_id="2", name="#2", skus=(("NOPE", 1, "Nope"),)), "w-2"
        )
        routed, unmatched = process_pending()
        assert (routed.outcome, unmatched.outcome) == (Outcome.ROUTED, Outcome.UNMATCHED)
        InboundDelivery.objects.update(received_at=timezone.now() - timedelta(days=31))
        assert delivery_bodies_expire() == 1
        routed.refresh_from_db()
        unmatched.refresh_from_db()
        assert bytes(routed.body) != b""
        assert unmatched.body_emptied_at is not None
        # The routed cart order stays (the record of its warehouse order); the other one,
        # which nothing can route any more, is forgotten with its recipient.
        assert list(CartOrder.objects.values_list("external_key", flat=True)) == [
            routed.external_key
        ]


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(warehouse_sku=st.text(max_size=120))
def test_add_a_listing_takes_any_text_or_says_why_not(publisher: Any, warehouse_sku: str) -> None:
    connection = warehouse_create(name="Fuzz", publisher_id=publisher.id).connection
    refused: ListingRefused | None = None
    try:
        created = listing_add(
            connection_id=connection.id, channel_sku="CHANNEL-1", warehouse_sku=warehouse_sku
        )
    except ListingRefused as exc:
        refused = exc
    if refused is not None:
        assert refused.field == "warehouse_sku"
        assert refused.message.startswith("The warehouse SKU ")
        assert not Listing.objects.filter(connection=connection).exists()
    else:
        assert created is True
        stored = Listing.objects.get(connection=connection)
        assert (stored.channel_sku, stored.warehouse_sku, stored.quantity) == (
            "CHANNEL-1",
            warehouse_sku.strip() or "CHANNEL-1",
            1,
        )
        again = listing_add(connection_id=connection.id, channel_sku="CHANNEL-1", warehouse_sku="X")
        assert again is False
    connection.delete()


def test_huge_quantities_are_refused_with_their_reason_not_an_error(
    publisher: Any, cd: Any, warehouse: Any, make_project: Any
) -> None:
    post_shopify(
        publisher,
        order_json(skus=(("GIFTSET", 999_999_999, "Set"), ("SHIRT-M", 1, "Shirt"))),
        "w-1",
    )
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ROUTED
    assert warehouse_lines(WarehouseOrder.objects.get()) == [("SHIRT-M", "ACME-TEE-M", 1)]
    assert CartOrderLine.objects.get(ref="GIFTSET").reason == (
        "Its quantity 999,999,999 is more than a warehouse order takes of one line (100,000)."
    )
    # SamCart's quantity is any number of digits: kept as "not a whole number", and intake
    # refuses the order as it always has.
    five = make_project(publisher, title="Five", ecommerce_ids="{5}")
    body = as_json(notification(product_id="5", quantity=1))
    body = body.replace(b'"quantity": 1', b'"quantity": "' + b"9" * 30 + b'"')
    response = Client().post(
        f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
        data=body,
        content_type="application/json",
    )
    assert response.status_code == 200
    (samcart,) = process_pending()
    assert samcart.outcome == Outcome.FAILED
    assert samcart.reason == (
        f"Quantity {'9' * 30} for product {five.id} is outside 1 to {MAX_QUANTITY_PER_LINE}."
    )
    assert Order.objects.count() == 0
    assert not CartOrderLine.objects.filter(ref="5").exists()  # rolled back with the refusal


def test_the_operators_delivery_page_shows_its_warehouse_orders_read_only(
    publisher: Any, warehouse: Any, admin_client: Client
) -> None:
    post_shopify(publisher, order_json(skus=(("SHIRT-M", 1, "Shirt"),)), "w-1")
    (delivery,) = process_pending()
    placed = WarehouseOrder.objects.get()
    page = admin_client.get(f"/admin/carts/inbounddelivery/{delivery.id}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f"Warehouse order {placed.id} (open)" in body
    assert 'name="warehouse_orders"' not in body


def test_warehouses_imports_no_cart() -> None:
    """The arrow between the two points down: carts route into warehouses, and the link
    between a delivery and its warehouse orders lives in carts (migrations included)."""
    from tests.core.test_import_graph import SRC, imported_modules

    offending = {
        str(path.relative_to(SRC)): sorted(
            module
            for module in imported_modules(path)
            if module == "pressrun.carts" or module.startswith("pressrun.carts.")
        )
        for path in sorted((SRC / "warehouses").rglob("*.py"))
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_importlistings_routes_the_lines_its_listings_take(
    publisher: Any, cd: Any, warehouse: Any, tmp_path: Any, capsys: Any
) -> None:
    """The command does what the dashboard's import does: the kept line waiting for a listing
    is routed into the cart order's warehouse order, and nothing is routed twice."""
    from django.core.management import call_command

    post_shopify(publisher, order_json(skus=PROOF_LINES), "w-cli")
    process_pending()
    placed = WarehouseOrder.objects.get()
    path = tmp_path / "listings.csv"
    path.write_bytes(b"channel_sku,warehouse_sku,quantity\nPOSTER-9,ACME-POSTER,1\n")

    call_command("importlistings", "--warehouse", str(warehouse.id), str(path))
    assert capsys.readouterr().out == (
        "add     POSTER-9 -> 1 x ACME-POSTER\n"
        "1 added, 0 changed, 0 removed, 0 unchanged\n"
        "1 kept delivery waiting for these listings was routed or queued to be processed "
        "again.\n"
    )
    assert Order.objects.count() == 1
    assert WarehouseOrder.objects.get() == placed
    assert warehouse_lines(placed)[-1] == ("POSTER-9", "ACME-POSTER", 1)
    assert ("POSTER-9", "warehouse") in routes()

    # The same file again changes nothing and routes nothing.
    call_command("importlistings", "--warehouse", str(warehouse.id), str(path))
    assert capsys.readouterr().out == "0 added, 0 changed, 0 removed, 1 unchanged\n"
    assert WarehouseOrderLine.objects.filter(order=placed).count() == 4
