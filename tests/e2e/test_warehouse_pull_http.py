"""A publisher's warehouse against the real server process over HTTP with Basic auth:
created with `pressrun createwarehouse --publisher … --enabled`, it pulls the order routed
to it (warehouse SKUs, carrier code), posts a partial ShipNotice, the same again, then one
without Items that ships the rest; another publisher's warehouse sees and changes none of
it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_shipstation_http import call
from tests.live import LiveService

pytestmark = pytest.mark.e2e

SETUP = """
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.orders import CartLineToRoute, CartOrderHeader, warehouse_order_add
from pressrun.warehouses.models import WarehouseConnection
connection = WarehouseConnection.objects.get(id={connection_id})
listings_import(connection_id=connection.id,
    data=b"channel_sku,warehouse_sku,quantity\\nGIFTSET,ACME-BOOK,1\\nGIFTSET,ACME-MUG,2\\n")
carrier_codes_import(connection_id=connection.id,
    data=b"Carrier,Code,Description\\nUSPS,USPS_PRIORITY,Priority\\n")
description_rule_create(connection_id=connection.id, match="is", text="Standard",
    carrier_code="USPS_PRIORITY")
order, _ = warehouse_order_add(connection=connection,
    header=CartOrderHeader(cart="shopify", external_key="shop.example:{key}", name="#{key}",
        test=False, recipient={{"name": "Ann Buyer", "city": "Austin", "country": "US"}},
        shipping_description="Standard"),
    lines=[CartLineToRoute(line_key="l1", sku="GIFTSET", title="Gift set", quantity=2)])
print(order.id, order.state)
"""

STATE = """
from pressrun.warehouses.models import WarehouseOrder
order = WarehouseOrder.objects.get(id={order_id})
shipped = list(order.lines.order_by("id").values_list("quantity_shipped", flat=True))
print(order.state, order.shipped_at is not None, order.shipments.count(), shipped)
"""


def warehouse(service: LiveService, *, real: bool = False) -> tuple[str, str, str]:
    """A new publisher's enabled warehouse: (connection id, username, password). With `real`,
    made by a real `pressrun createwarehouse` process, whose output this file proves; else
    through `setup` (the same command, in the installation's long-lived Python)."""
    publisher = service.setup(
        "createpublisher",
        "--email",
        f"{service.unique('wh').lower()}@example.com",
        "--password",
        "a long secret",
    ).strip()
    command = service.pressrun if real else service.setup
    output = command(
        "createwarehouse", "--name", "E2E 3PL", "--publisher", publisher, "--enabled"
    ).strip()
    match = re.fullmatch(r"id=(\d+) username=(\S+) password=(\S+)", output)
    assert match, output
    connection_id, username, password = match.groups()
    return connection_id, username, password


def notice(order_id: int, tracking: str, items: str = "") -> bytes:
    return (
        f"<ShipNotice><OrderID>WH-{order_id}</OrderID><OrderNumber>WH-{order_id}</OrderNumber>"
        f"<Carrier>UPS</Carrier><Service>Ground</Service><TrackingNumber>{tracking}"
        f"</TrackingNumber>{items}</ShipNotice>"
    ).encode()


def test_a_warehouse_pulls_its_order_and_posts_its_packages(live_service: LiveService) -> None:
    service = live_service
    connection_id, username, password = warehouse(service, real=True)
    key = service.unique("C")
    order_id_text, state = service.shell(SETUP.format(connection_id=connection_id, key=key)).split()
    assert state == "open"
    order_id = int(order_id_text)
    now = datetime.now(UTC)
    window = {
        "action": "export",
        "start_date": (now - timedelta(minutes=5)).strftime("%m/%d/%Y %H:%M"),
        "end_date": (now + timedelta(minutes=5)).strftime("%m/%d/%Y %H:%M"),
    }
    status, _, body = call(service, window, username=username, password=password)
    assert status == 200, body
    [order] = ET.fromstring(body).findall("Order")
    assert order.findtext("OrderNumber") == f"WH-{order_id}"
    assert order.findtext("ShippingMethod") == "USPS_PRIORITY"
    assert [(item.findtext("SKU"), item.findtext("Quantity")) for item in order.iter("Item")] == [
        ("ACME-BOOK", "2"),
        ("ACME-MUG", "4"),
    ]
    mug_line = [item.findtext("LineItemID") for item in order.iter("Item")][1]

    # Another publisher's warehouse: sees nothing, changes nothing.
    _, other_user, other_password = warehouse(service)
    status, _, body = call(service, window, username=other_user, password=other_password)
    assert (status, body.count(b"<Order>")) == (200, 0)
    status, _, _ = call(
        service,
        {"action": "shipnotify"},
        username=other_user,
        password=other_password,
        body=notice(order_id, "X-1"),
    )
    assert status == 404
    assert service.shell(STATE.format(order_id=order_id)) == "routed False 0 [0, 0]"

    partial = notice(
        order_id,
        "1Z-1",
        f"<Items><Item><SKU>ACME-MUG</SKU><Quantity>3</Quantity>"
        f"<LineItemID>{mug_line}</LineItemID></Item></Items>",
    )
    for expected in (b"shipment 1Z-1 recorded", b"already had shipment 1Z-1"):
        status, _, body = call(
            service, {"action": "shipnotify"}, username=username, password=password, body=partial
        )
        assert status == 200
        assert expected in body
    assert service.shell(STATE.format(order_id=order_id)) == "partially_shipped False 1 [0, 3]"
    status, _, body = call(
        service,
        {"action": "shipnotify"},
        username=username,
        password=password,
        body=notice(order_id, "1Z-2"),
    )
    assert status == 200, body
    assert service.shell(STATE.format(order_id=order_id)) == "partially_shipped True 2 [2, 4]"
