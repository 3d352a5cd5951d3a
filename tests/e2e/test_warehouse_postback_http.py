"""The proof of issue 11 with real processes, from a Shopify webhook to two shipments back in
Shopify: `pressrun serve` takes the webhook of a cart order with a disc project, a listed
warehouse SKU, a bundle and an unknown SKU; `pressrun worker` routes it into one pressrun
order, one warehouse order (the bundle expanded) and one visible missing-SKU error; a
listing added with `pressrun importlistings` routes the unknown SKU into the same warehouse
order (no second order); pressrun's floor ships the disc (the move function, in a
`pressrun shell`) and the warehouse pulls its order and posts ShipStation ShipNotices; the
worker posts each shipment to the Shopify Admin GraphQL emulator with exactly its line items
and quantities, and the warehouse order ends closed. On SQLite, and on PostgreSQL when
PRESSRUN_DATABASE_URL is set."""

from __future__ import annotations

import re
import urllib.request
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator
from tests.carts.shopify_payloads import order_json
from tests.e2e.test_postback_http import SHIP, TOKEN, served, wait_for
from tests.e2e.test_shipstation_http import call
from tests.live import LiveService

__all__ = ["served"]

pytestmark = pytest.mark.e2e

SHOP = "e2e-tracks"
SHOPIFY_ORDER_ID = "820982911946154999"
# order_json numbers the line items 466157049, 466157050, … in the order of the SKUs.
DISC, SHIRT, GIFTSET, POSTER = (f"gid://shopify/LineItem/{466157049 + n}" for n in range(4))

SETUP = """
from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
p = Publisher.objects.get(id={publisher_id})
Publisher.objects.filter(id=p.id).update(shopify_topics="orders/paid")
publisher_set_cart_credentials(publisher=p, shopify_admin_token={token!r})
listings_import(connection_id={connection_id},
    data=b"channel_sku,warehouse_sku,quantity\\nSHIRT-M,ACME-TEE-M,1\\n"
    b"GIFTSET,ACME-BOOK,1\\nGIFTSET,ACME-MUG,2\\n")
carrier_codes_import(connection_id={connection_id},
    data=b"Carrier,Code,Description\\nUSPS,USPS_PRIORITY,Priority\\n")
description_rule_create(connection_id={connection_id}, match="is", text="Standard Shipping",
    carrier_code="USPS_PRIORITY")
"""

ROUTING = """
from pressrun.carts.models import CartOrderLine, InboundDelivery, UnmatchedProduct
from pressrun.orders.models import Order
from pressrun.warehouses.models import WarehouseOrder
orders = list(Order.objects.filter(source="shopify", external_ref="{ref}"))
warehouse = list(WarehouseOrder.objects.all())
print(len(orders), len(warehouse))
for order in orders:
    print("order", order.id, [(l.project_id, l.quantity) for l in order.lines.all()])
for order in warehouse:
    print("warehouse", order.id, order.state,
        [(l.line_key, l.warehouse_sku, l.quantity) for l in order.lines.order_by("id")])
print("routes", list(CartOrderLine.objects.order_by("id").values_list("ref", "destination")))
print("unmatched", sorted(UnmatchedProduct.objects.filter(resolved_at__isnull=True)
    .values_list("product_ref", flat=True)))
print("deliveries", InboundDelivery.objects.count())
"""

POSTBACKS = """
from pressrun.carts.models import CartPostback
from pressrun.warehouses.models import WarehouseOrder
for p in CartPostback.objects.order_by("id"):
    print(p.state, p.tracking_id, p.lines)
print("warehouse", *WarehouseOrder.objects.values_list("state", flat=True))
"""


def routing(service: LiveService) -> list[str]:
    return service.shell(ROUTING.format(ref=SHOPIFY_ORDER_ID)).splitlines()


def test_a_mixed_cart_order_ships_twice_and_shopify_gets_each_shipments_lines(
    served: tuple[LiveService, ShopifyAdminEmulator],
) -> None:
    service, emulator = served
    account = service.account
    disc_sku = str(account.project_ids[0])
    gid = emulator.add_order(
        SHOPIFY_ORDER_ID,
        lines=(
            (
                (466157049, disc_sku, 1),
                (466157050, "SHIRT-M", 2),
                (466157051, "GIFTSET", 3),
                (466157052, "POSTER-9", 1),
            ),
        ),
    )
    # The commands that only put data in place run through `setup` (their output is tested in
    # tests/warehouses and, as real processes, in test_warehouse_pull_http.py and
    # test_fulfillment_chain_http.py); `importlistings` below is the fix this test proves.
    output = service.setup(
        "createwarehouse", "--name", "E2E 3PL", "--publisher", str(account.id), "--enabled"
    ).strip()
    match = re.fullmatch(r"id=(\d+) username=(\S+) password=(\S+)", output)
    assert match, output
    connection_id, username, password = match.groups()
    service.shell(SETUP.format(publisher_id=account.id, token=TOKEN, connection_id=connection_id))

    # Shopify's webhook, over HTTP, to the URL the dashboard shows.
    printed = service.setup("carturls", "--publisher", str(account.id)).splitlines()[0]
    url = urlsplit(printed.split(": ", 1)[1])
    body = order_json(
        order_id=SHOPIFY_ORDER_ID,
        name="#1002",
        skus=(
            (disc_sku, 1, "Single (CD)"),
            ("SHIRT-M", 2, "Tour shirt M"),
            ("GIFTSET", 3, "Gift set"),
            ("POSTER-9", 1, "Tour poster"),
        ),
    )
    request = urllib.request.Request(
        service.url(f"{url.path}?{url.query}"),
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Shop-Domain": f"{SHOP}.myshopify.com",
            "X-Shopify-Webhook-Id": "7f0c2a4e-0d35-4c59-9f6e-5b1b1f0e9a11",
            "X-Shopify-API-Version": "2025-07",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    found: list[str] = []

    def routed() -> bool:
        found[:] = routing(service)
        return found[0] == "1 1"

    wait_for(routed, "the routing of the webhook's order")
    order_id = found[1].split()[1]
    warehouse_id = found[2].split()[1]
    assert found[1:] == [
        f"order {order_id} [({account.project_ids[0]}, 1)]",
        f"warehouse {warehouse_id} open [('id:466157050', 'ACME-TEE-M', 2), "
        "('id:466157051', 'ACME-BOOK', 3), ('id:466157051', 'ACME-MUG', 6)]",
        "routes [('"
        + disc_sku
        + "', 'project'), ('SHIRT-M', 'warehouse'), ('GIFTSET', 'warehouse'), "
        "('POSTER-9', 'unrouted')]",
        "unmatched ['POSTER-9']",
        "deliveries 1",
    ]

    # The fix: a listing for the unknown SKU, imported with the command; the line joins the
    # same warehouse order.
    listings = service.data_dir / "poster.csv"
    listings.write_text("channel_sku,warehouse_sku,quantity\nPOSTER-9,ACME-POSTER,1\n")
    service.pressrun("importlistings", "--warehouse", connection_id, str(listings))

    def rerouted() -> bool:
        found[:] = routing(service)
        return "'unrouted'" not in found[3]

    wait_for(rerouted, "the unknown SKU routed after its listing")
    assert found == [
        "1 1",
        f"order {order_id} [({account.project_ids[0]}, 1)]",
        f"warehouse {warehouse_id} open [('id:466157050', 'ACME-TEE-M', 2), "
        "('id:466157051', 'ACME-BOOK', 3), ('id:466157051', 'ACME-MUG', 6), "
        "('id:466157052', 'ACME-POSTER', 1)]",
        "routes [('"
        + disc_sku
        + "', 'project'), ('SHIRT-M', 'warehouse'), ('GIFTSET', 'warehouse'), "
        "('POSTER-9', 'warehouse')]",
        "unmatched []",
        "deliveries 1",
    ]

    # pressrun's floor ships the disc: Shopify gets the disc line only.
    service.shell(SHIP.format(order_id=order_id))
    posted: list[str] = []

    def all_sent(count: int) -> bool:
        posted[:] = service.shell(POSTBACKS).splitlines()
        rows = posted[:-1]
        return len(rows) == count and all(row.startswith("sent ") for row in rows)

    wait_for(lambda: all_sent(1), "the post-back of pressrun's order")
    assert posted == [
        "sent 1Z999AA10123456784 [{'key': 'id:466157049', 'quantity': 1}]",
        "warehouse open",
    ]

    # The warehouse's shipping software pulls its order, then posts two packages.
    now = datetime.now(UTC)
    window = {
        "action": "export",
        "start_date": (now - timedelta(minutes=10)).strftime("%m/%d/%Y %H:%M"),
        "end_date": (now + timedelta(minutes=10)).strftime("%m/%d/%Y %H:%M"),
    }
    status, _, exported = call(service, window, username=username, password=password)
    assert status == 200, exported
    [pulled] = ET.fromstring(exported).findall("Order")
    assert pulled.findtext("OrderNumber") == f"WH-{warehouse_id}"
    first = (
        f"<ShipNotice><OrderID>WH-{warehouse_id}</OrderID>"
        f"<OrderNumber>WH-{warehouse_id}</OrderNumber><Carrier>USPS</Carrier>"
        "<Service>Priority Mail</Service><TrackingNumber>9400111899223197428490</TrackingNumber>"
        "<Items><Item><SKU>ACME-TEE-M</SKU><Quantity>2</Quantity></Item>"
        "<Item><SKU>ACME-BOOK</SKU><Quantity>3</Quantity></Item>"
        "<Item><SKU>ACME-MUG</SKU><Quantity>6</Quantity></Item></Items></ShipNotice>"
    ).encode()
    second = (
        f"<ShipNotice><OrderID>WH-{warehouse_id}</OrderID>"
        f"<OrderNumber>WH-{warehouse_id}</OrderNumber><Carrier>UPS</Carrier>"
        "<Service>Ground</Service><TrackingNumber>1Z999AA10123456795</TrackingNumber>"
        "</ShipNotice>"
    ).encode()
    for notice in (first, first, second):  # the first twice: a repeat changes nothing
        status, _, answer = call(
            service, {"action": "shipnotify"}, username=username, password=password, body=notice
        )
        assert status == 200, answer

    wait_for(lambda: all_sent(3) and posted[-1] == "warehouse closed", "the packages' post-backs")
    assert posted == [
        "sent 1Z999AA10123456784 [{'key': 'id:466157049', 'quantity': 1}]",
        "sent 9400111899223197428490 [{'key': 'id:466157050', 'quantity': 2}, "
        "{'key': 'id:466157051', 'quantity': 3}]",
        "sent 1Z999AA10123456795 [{'key': 'id:466157052', 'quantity': 1}]",
        "warehouse closed",
    ]
    # Shopify: one order, a fulfillment per shipment with exactly its lines; nothing twice.
    assert emulator.fulfilled(gid) == [
        (("1Z999AA10123456784",), [(DISC, 1)]),
        (("9400111899223197428490",), [(SHIRT, 2), (GIFTSET, 3)]),
        (("1Z999AA10123456795",), [(POSTER, 1)]),
    ]
    assert [r.operation for r in emulator.mutations] == ["fulfillmentCreate"] * 3
    (fulfillment_order,) = emulator.orders[gid]
    assert fulfillment_order.status == "CLOSED"
    companies = [m.variables["fulfillment"]["trackingInfo"]["company"] for m in emulator.mutations]
    assert companies == ["UPS", "USPS", "UPS"]
