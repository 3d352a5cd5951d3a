"""The dashboard's side of routing: a warehouse's orders (state, error reason, lines, cart
order), the unknown-SKU setting, a delivery's page with where each line went, and the
unmatched products' "add a listing" — each for the publisher's own objects only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery, Outcome, UnmatchedProduct
from pressrun.carts.services import delivery_process
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.models import Listing, WarehouseConnection, WarehouseOrder
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
from tests.carts.shopify_payloads import order_json, shopify_headers

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    return str(response.content.decode())


def make_warehouse(publisher: Publisher, name: str = "Acme 3PL") -> WarehouseConnection:
    connection = warehouse_create(name=name, publisher_id=publisher.id).connection
    warehouse_set_enabled(connection_id=connection.id, enabled=True)
    listings_import(
        connection_id=connection.id,
        data=b"channel_sku,warehouse_sku,quantity\nSHIRT-M,ACME-TEE-M,1\nSET,A,1\nSET,B,2\n",
    )
    carrier_codes_import(
        connection_id=connection.id, data=b"Carrier,Code,Description\nUSPS,USPS_PRIORITY,x\n"
    )
    connection.refresh_from_db()
    return connection


def deliver(publisher: Publisher, skus: Any, webhook_id: str = "w-1", **kwargs: Any) -> Any:
    response = Client().post(
        f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
        data=order_json(skus=skus, **kwargs),
        content_type="application/json",
        **shopify_headers(webhook_id=webhook_id),
    )
    assert response.status_code == 200
    delivery = InboundDelivery.objects.get(delivery_id=webhook_id)
    return delivery_process(delivery_id=delivery.id)


@pytest.fixture
def connection(publisher: Publisher) -> WarehouseConnection:
    return make_warehouse(publisher)


def test_a_warehouses_orders_show_state_reason_lines_and_cart_order(
    signed_in: Client, publisher: Publisher, connection: WarehouseConnection
) -> None:
    delivery = deliver(
        publisher,
        (("SET", 2, "Gift <b>set</b>"), ("POSTER", 1, "Poster")),
        shipping_title="<script>Express</script>",
    )
    order = WarehouseOrder.objects.get()
    assert order.state == "error"
    body = text(signed_in.get(f"/integrations/warehouses/{connection.id}/orders"))
    assert "2 x <code>A</code> (cart: <code>SET</code>)" in body
    assert "4 x <code>B</code> (cart: <code>SET</code>)" in body
    assert "shopify #1001" in body
    assert f'href="/integrations/deliveries/{delivery.id}"' in body
    # The description is the customer's text: escaped, in the state's reason too.
    assert "<script>" not in body
    assert "“&lt;script&gt;Express&lt;/script&gt;” matches no Shipping Description" in body
    assert "Error (1)" in body

    # A rule that fits, then "check again" (the rule's creation checked them already).
    description_rule_create(
        connection_id=connection.id,
        match="starts_with",
        text="<script>",
        carrier_code="USPS_PRIORITY",
    )
    response = signed_in.post(f"/integrations/warehouses/{connection.id}/orders/recheck")
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.state, order.carrier_code) == ("open", "USPS_PRIORITY")
    body = text(signed_in.get(f"/integrations/warehouses/{connection.id}/orders?state=open"))
    assert "→ <code>USPS_PRIORITY</code>" in body
    assert (
        text(signed_in.get(f"/integrations/warehouses/{connection.id}/orders?state=error")).count(
            "<tr>"
        )
        == 0
    )


def test_the_delivery_page_shows_where_each_line_went(
    signed_in: Client, publisher: Publisher, connection: WarehouseConnection
) -> None:
    delivery = deliver(publisher, (("SHIRT-M", 1, "Shirt"), ("POSTER", 1, "<i>Poster</i>")))
    assert delivery.outcome == Outcome.ROUTED
    order = WarehouseOrder.objects.get()
    body = text(signed_in.get(f"/integrations/deliveries/{delivery.id}"))
    assert "Routed (to warehouses only)" in body
    assert f"warehouse order {order.id} at Acme 3PL" in body
    assert (
        '<strong data-testid="unrouted">Not routed</strong>: SKU &#x27;POSTER&#x27; names no '
        "project and no listing of your warehouses" in body
    )
    assert "<i>Poster</i>" not in body
    assert "Route the lines left" in body
    # The integrations page links the delivery and its warehouse order.
    body = text(signed_in.get("/integrations"))
    assert f'href="/integrations/deliveries/{delivery.id}"' in body
    assert f">W{order.id}</a>" in body


def test_add_a_listing_routes_the_waiting_line(
    signed_in: Client, publisher: Publisher, connection: WarehouseConnection
) -> None:
    deliver(publisher, (("SHIRT-M", 1, "Shirt"), ("POSTER", 1, "Poster")))
    product = UnmatchedProduct.objects.get()
    page = text(signed_in.get("/integrations"))
    assert f'action="/integrations/unmatched/{product.id}/listing"' in page
    response = signed_in.post(
        f"/integrations/unmatched/{product.id}/listing",
        {
            f"listing-{product.id}-connection": str(connection.id),
            f"listing-{product.id}-warehouse_sku": "ACME-POSTER",
        },
        follow=True,
    )
    assert "product &#x27;POSTER&#x27; is listed at your warehouse. 1 kept delivery routed" in text(
        response
    )
    assert list(
        WarehouseOrder.objects.get().lines.values_list("channel_sku", "warehouse_sku", "quantity")
    ) == [("SHIRT-M", "ACME-TEE-M", 1), ("POSTER", "ACME-POSTER", 1)]
    # A bad SKU is refused with the reason, nothing written.
    deliver(publisher, (("MUG", 1, "Mug"),), webhook_id="w-2", order_id="2", name="#2")
    mug = UnmatchedProduct.objects.get(product_ref="MUG")
    response = signed_in.post(
        f"/integrations/unmatched/{mug.id}/listing",
        {
            f"listing-{mug.id}-connection": str(connection.id),
            f"listing-{mug.id}-warehouse_sku": "@SUM(1)",
        },
        follow=True,
    )
    assert "which a spreadsheet would run as a formula" in text(response)
    assert not Listing.objects.filter(channel_sku="MUG").exists()


def test_another_publishers_warehouse_orders_and_listing_action_are_404(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    other = make_publisher(email="other@example.com", balance="100")
    theirs = make_warehouse(other, "Their 3PL")
    delivery = deliver(other, (("SHIRT-M", 1, "Their shirt"), ("THEIR-POSTER", 1, "P")))
    their_product = UnmatchedProduct.objects.get()
    mine = make_warehouse(publisher)
    my_delivery = deliver(
        publisher, (("MY-POSTER", 1, "P"),), webhook_id="w-mine", order_id="77", name="#77"
    )
    my_product = UnmatchedProduct.objects.get(publisher=publisher)
    before = (
        list(WarehouseOrder.objects.values_list("id", "state")),
        list(Listing.objects.values_list("id", flat=True)),
    )
    for url in (
        f"/integrations/warehouses/{theirs.id}/orders",
        f"/integrations/deliveries/{delivery.id}",
    ):
        assert signed_in.get(url).status_code == 404
    for url, data in (
        (f"/integrations/warehouses/{theirs.id}/orders/recheck", {}),
        (f"/integrations/warehouses/{theirs.id}/unknown-skus", {"on": "1"}),
        (
            f"/integrations/unmatched/{their_product.id}/listing",
            {f"listing-{their_product.id}-connection": str(mine.id)},
        ),
        # My product, their warehouse.
        (
            f"/integrations/unmatched/{my_product.id}/listing",
            {f"listing-{my_product.id}-connection": str(theirs.id)},
        ),
    ):
        assert signed_in.post(url, data).status_code == 404, url
    after = (
        list(WarehouseOrder.objects.values_list("id", "state")),
        list(Listing.objects.values_list("id", flat=True)),
    )
    assert after == before
    theirs.refresh_from_db()
    assert not theirs.receives_unknown_skus
    assert InboundDelivery.objects.get(id=my_delivery.id).outcome == Outcome.UNMATCHED
    # And they see none of mine.
    other_client = client_for(other)
    assert other_client.get(f"/integrations/warehouses/{mine.id}/orders").status_code == 404
    assert other_client.get(f"/integrations/deliveries/{my_delivery.id}").status_code == 404


def test_the_unknown_sku_setting_is_one_warehouse(
    signed_in: Client, publisher: Publisher, connection: WarehouseConnection
) -> None:
    second = make_warehouse(publisher, "Second")
    signed_in.post(f"/integrations/warehouses/{connection.id}/unknown-skus", {"on": "1"})
    response = signed_in.post(
        f"/integrations/warehouses/{second.id}/unknown-skus", {"on": "1"}, follow=True
    )
    assert "now go to Second, unchanged." in text(response)
    assert list(
        WarehouseConnection.objects.filter(receives_unknown_skus=True).values_list("id", flat=True)
    ) == [second.id]
    delivery = deliver(publisher, (("ANYTHING", 2, "Thing"),))
    assert delivery.outcome == Outcome.ROUTED
    assert WarehouseOrder.objects.get().connection_id == second.id
    signed_in.post(f"/integrations/warehouses/{second.id}/unknown-skus", {"on": "0"})
    assert not WarehouseConnection.objects.filter(receives_unknown_skus=True).exists()


def test_route_the_lines_left_from_the_delivery(
    signed_in: Client, publisher: Publisher, connection: WarehouseConnection
) -> None:
    delivery = deliver(publisher, (("SHIRT-M", 1, "Shirt"), ("POSTER", 1, "Poster")))
    url = f"/integrations/deliveries/{delivery.id}/replay"
    response = signed_in.post(url, follow=True)
    assert (
        f"No line left of delivery {delivery.id} can be routed yet: its page says why for each"
        in text(response)
    )
    assert WarehouseOrder.objects.get().lines.count() == 1
    listings_import(
        connection_id=connection.id, data=b"channel_sku,warehouse_sku,quantity\nPOSTER,P-1,1\n"
    )
    response = signed_in.post(url, follow=True)
    assert f"The lines left of delivery {delivery.id} were routed" in text(response)
    assert WarehouseOrder.objects.get().lines.count() == 2
    # Nothing left: the Replay button is gone, and a replay says why as it always has.
    assert url not in text(signed_in.get(f"/integrations/deliveries/{delivery.id}"))
    response = signed_in.post(url, follow=True)
    assert (
        f"Delivery {delivery.id} is routed (to warehouses only): only a failed or unmatched "
        "delivery can be replayed." in text(response)
    )


def test_enabling_a_warehouse_routes_the_lines_waiting_for_it(
    signed_in: Client, publisher: Publisher, django_capture_on_commit_callbacks: Any
) -> None:
    connection = make_warehouse(publisher)
    warehouse_set_enabled(connection_id=connection.id, enabled=False)
    delivery = deliver(publisher, (("SHIRT-M", 2, "Shirt"),))
    assert delivery.outcome == Outcome.UNMATCHED
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            f"/integrations/warehouses/{connection.id}/enabled", {"enabled": "1"}, follow=True
        )
    assert (
        "Acme 3PL is enabled: its credentials work. 1 kept delivery waiting for it was routed "
        "or queued to be processed again." in text(response)
    )
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.ROUTED
    assert list(
        WarehouseOrder.objects.get().lines.values_list("channel_sku", "warehouse_sku", "quantity")
    ) == [("SHIRT-M", "ACME-TEE-M", 2)]
    # Disabling routes nothing and says nothing more.
    response = signed_in.post(
        f"/integrations/warehouses/{connection.id}/enabled", {"enabled": "0"}, follow=True
    )
    assert "Acme 3PL is disabled: its credentials are refused.</" in text(response)


def test_home_lists_warehouse_orders_in_error(
    signed_in: Client, publisher: Publisher, connection: WarehouseConnection
) -> None:
    deliver(publisher, (("SHIRT-M", 1, "Shirt"),), shipping_title="Express Overnight")
    order = WarehouseOrder.objects.get()
    body = text(signed_in.get("/home"))
    assert "Warehouse orders in error (1)" in body
    assert (
        f'<a href="/integrations/warehouses/{connection.id}/orders?state=error">Warehouse order '
        f"{order.id}</a> at Acme 3PL (shopify #1001): The shipping description “Express "
        "Overnight” matches no Shipping Description Transformer rule" in body
    )
    assert '<p class="figure" data-testid="problem-count">1</p>' in body


def test_a_warehouses_orders_show_their_shipments(
    signed_in: Client, publisher: Publisher, make_publisher: Callable[..., Any]
) -> None:
    from tests.warehouses.test_pull import WIDE, item, route, ship_notice
    from tests.warehouses.test_pull import make_warehouse as make_pulling_warehouse

    station = make_pulling_warehouse(publisher)
    order = route(station, "1040")
    station.export(*WIDE)
    notice = ship_notice(f"WH-{order.id}", tracking="1Z&lt;9&gt;", items=item("ACME-MUG", 4))
    assert station.notify(notice).status_code == 200
    url = f"/integrations/warehouses/{station.id}/orders"
    body = text(signed_in.get(url))
    assert (
        "<p>2026-11-04 UPS Ground: <code>1Z&lt;9&gt;</code></p>"
        '<ul class="plain"><li>4 x <code>ACME-MUG</code></li></ul>'
    ) in body
    assert f'<code title="What the warehouse calls it">WH-{order.id}</code>' in body
    assert "waiting for the tracking to reach the cart</span>" not in body
    assert station.notify(ship_notice(f"WH-{order.id}", tracking="1Z-2")).status_code == 200
    body = text(signed_in.get(url))
    assert "<p>2026-11-04 UPS Ground: <code>1Z-2</code></p>" in body
    assert "; waiting for the tracking to reach the cart</span>" in body
    # Another publisher's warehouse orders page stays theirs.
    other = make_pulling_warehouse(make_publisher(email="other@example.com"), "Their 3PL")
    assert signed_in.get(f"/integrations/warehouses/{other.id}/orders").status_code == 404
