"""A publisher's warehouse pulling its orders over the Custom Store protocol (issue 11,
section 4, pull): the export of the orders routed to it (warehouse SKUs, carrier code,
LineItemID), open → routed once, its ShipNotices recording shipments (partial, full,
repeated, before the export), and isolation between connections over every call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.orders.models import Order
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.models import (
    ShipNotice,
    WarehouseOrder,
    WarehouseOrderLine,
    WarehouseShipment,
)
from pressrun.warehouses.orders import CartLineToRoute, CartOrderHeader, warehouse_order_add
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
from pressrun.warehouses.states import warehouse_order_move
from tests.fulfillment.support import close_window
from tests.warehouses.conftest import Station

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)
WIDE = ("01/01/2026 00:00", "12/31/2099 23:59")
LISTINGS = b"channel_sku,warehouse_sku,quantity\nGIFTSET,ACME-BOOK,1\nGIFTSET,ACME-MUG,2\n"
CODES = b"Carrier,Code,Description\nUSPS,USPS_PRIORITY,Priority\n"
RECIPIENT = {
    "name": "Ann & <Bob>",
    "company": "Ünïcode GmbH",
    "address": "1 Main St",
    "city": "Austin",
    "state": "TX",
    "postal_code": "78701",
    "country": "US",
    "email": "ann@example.com",
}


def make_warehouse(publisher: Any, name: str = "Acme 3PL") -> Station:
    created = warehouse_create(name=name, publisher_id=publisher.id)
    connection = created.connection
    warehouse_set_enabled(connection_id=connection.id, enabled=True)
    listings_import(connection_id=connection.id, data=LISTINGS)
    carrier_codes_import(connection_id=connection.id, data=CODES)
    description_rule_create(
        connection_id=connection.id, match="is", text="Standard", carrier_code="USPS_PRIORITY"
    )
    connection.refresh_from_db()
    return Station(created=created, client=Client())


def route(
    station: Station,
    key: str,
    lines: tuple[tuple[str, int, str], ...] = (("GIFTSET", 3, "Gift set"), ("TEE", 1, "Tee")),
    *,
    test: bool = False,
    modified: datetime | None = T0,
) -> WarehouseOrder:
    order, created = warehouse_order_add(
        connection=station.created.connection,
        header=CartOrderHeader(
            cart="shopify",
            external_key=f"shop.example:{key}",
            name=f"#{key}",
            test=test,
            recipient=RECIPIENT,
            shipping_description="Standard",
        ),
        lines=[
            CartLineToRoute(line_key=f"{key}-{n}", sku=sku, title=title, quantity=quantity)
            for n, (sku, quantity, title) in enumerate(lines)
        ],
    )
    assert (created, order.state) == (True, "open")
    if modified is not None:
        WarehouseOrder.objects.filter(id=order.id).update(created_at=T0, updated_at=modified)
    return WarehouseOrder.objects.get(id=order.id)


def exported(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)
    return [element.findtext("OrderID") or "" for element in root.findall("Order")]


def ship_notice(
    reference: str,
    *,
    tracking: str = "1Z999AA10123456784",
    items: str | None = None,
    ship_date: str = "11/04/2026",
) -> str:
    listed = "" if items is None else f"<Items>{items}</Items>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<ShipNotice><OrderNumber>{reference}</OrderNumber><OrderID>{reference}</OrderID>"
        f"<ShipDate>{ship_date}</ShipDate><Carrier>UPS</Carrier><Service>Ground</Service>"
        f"<TrackingNumber>{tracking}</TrackingNumber><ShippingCost>7.10</ShippingCost>"
        f"{listed}</ShipNotice>"
    )


def item(sku: str, quantity: int | None = None, line: int | None = None) -> str:
    text = f"<Item><SKU>{sku}</SKU>"
    if quantity is not None:
        text += f"<Quantity>{quantity}</Quantity>"
    if line is not None:
        text += f"<LineItemID>{line}</LineItemID>"
    return text + "</Item>"


def shipped(order: WarehouseOrder) -> list[tuple[str, int, int]]:
    return list(
        order.lines.order_by("id").values_list("warehouse_sku", "quantity", "quantity_shipped")
    )


@pytest.fixture
def acme(publisher: Any) -> Station:
    return make_warehouse(publisher)


def test_the_export_is_exactly_the_custom_store_xml_and_routes_the_order(acme: Station) -> None:
    order = route(acme, "1040")
    book, mug, tee = order.lines.order_by("id")
    before = timezone.now()
    response = acme.export(*WIDE)
    after = timezone.now()
    order.refresh_from_db()
    assert order.state == "routed"
    assert before <= order.updated_at <= after
    modified = order.updated_at.strftime("%m/%d/%Y %H:%M")
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert response.content.decode() == (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<Orders pages="1"><Order>'
        f"<OrderID>WH-{order.id}</OrderID><OrderNumber>WH-{order.id}</OrderNumber>"
        "<OrderDate>11/02/2026 09:30</OrderDate><OrderStatus>awaiting_shipment</OrderStatus>"
        f"<LastModified>{modified}</LastModified><ShippingMethod>USPS_PRIORITY</ShippingMethod>"
        "<OrderTotal>0.00</OrderTotal><TaxAmount>0.00</TaxAmount>"
        "<ShippingAmount>0.00</ShippingAmount>"
        "<InternalNotes>shopify order #1040</InternalNotes><CustomField1>#1040</CustomField1>"
        "<Customer><CustomerCode>ann@example.com</CustomerCode>"
        "<BillTo><Name>Ann &amp; &lt;Bob&gt;</Name><Company>Ünïcode GmbH</Company><Phone />"
        "<Email>ann@example.com</Email></BillTo>"
        "<ShipTo><Name>Ann &amp; &lt;Bob&gt;</Name><Company>Ünïcode GmbH</Company>"
        "<Address1>1 Main St</Address1><Address2 /><City>Austin</City><State>TX</State>"
        "<PostalCode>78701</PostalCode><Country>US</Country><Phone /></ShipTo></Customer>"
        "<Items>"
        f"<Item><LineItemID>{book.id}</LineItemID><SKU>ACME-BOOK</SKU><Name>Gift set</Name>"
        "<Quantity>3</Quantity><UnitPrice>0.00</UnitPrice></Item>"
        f"<Item><LineItemID>{mug.id}</LineItemID><SKU>ACME-MUG</SKU><Name>Gift set</Name>"
        "<Quantity>6</Quantity><UnitPrice>0.00</UnitPrice></Item>"
        f"<Item><LineItemID>{tee.id}</LineItemID><SKU>TEE</SKU><Name>Tee</Name>"
        "<Quantity>1</Quantity><UnitPrice>0.00</UnitPrice></Item>"
        "</Items></Order></Orders>"
    )
    # Exported again: the same order, the same LastModified (the move is not repeated).
    assert acme.export(*WIDE).content.decode() == response.content.decode()
    assert WarehouseOrder.objects.get(id=order.id).updated_at == order.updated_at


def test_the_window_and_states_decide_what_is_exported(acme: Station) -> None:
    inside = route(acme, "1", modified=datetime(2026, 11, 3, 14, 5, 59, tzinfo=UTC))
    routed = route(acme, "2", modified=None)
    warehouse_order_move(order_id=routed.id, to="routed", at=T0 + timedelta(days=1))
    test_order = route(acme, "3", test=True)
    closed = route(acme, "4")
    for state in ("routed", "partially_shipped", "closed"):
        warehouse_order_move(order_id=closed.id, to=state)
    errored = route(acme, "5")
    warehouse_order_move(order_id=errored.id, to="error", error="Refused by the warehouse.")
    # Only the routed order was modified in this window (the open one, before the export).
    assert exported(acme.export("11/03/2026 09:30", "11/03/2026 09:30")) == [f"WH-{routed.id}"]
    assert WarehouseOrder.objects.get(id=inside.id).state == "open"
    assert exported(acme.export("11/03/2026 14:00", "11/03/2026 14:04")) == []
    # The window that holds it routes it; LastModified becomes now, so it leaves that old
    # window and comes with the next poll (whose window covers the present).
    assert exported(acme.export("11/03/2026 14:00", "11/03/2026 14:05")) == []
    assert WarehouseOrder.objects.get(id=inside.id).state == "routed"
    assert sorted(exported(acme.export(*WIDE))) == sorted([f"WH-{routed.id}", f"WH-{inside.id}"])
    assert WarehouseOrder.objects.get(id=test_order.id).state == "open"
    assert WarehouseOrder.objects.get(id=errored.id).state == "error"


def test_paging_is_stable_while_the_export_routes_orders(acme: Station, settings: Any) -> None:
    settings.SHIPSTATION_PAGE_SIZE = 2
    orders = [route(acme, str(n), modified=T0 + timedelta(minutes=n)) for n in range(5)]
    seen: list[str] = []
    first = acme.export(*WIDE, page=1)
    assert ET.fromstring(first.content).attrib["pages"] == "3"
    seen += exported(first)
    seen += exported(acme.export(*WIDE, page=2))
    seen += exported(acme.export(*WIDE, page=3))
    assert seen == [f"WH-{order.id}" for order in orders]
    assert set(WarehouseOrder.objects.values_list("state", flat=True)) == {"routed"}


def test_a_partial_then_a_full_shipment(acme: Station) -> None:
    order = route(acme, "1040")
    book, mug, tee = order.lines.order_by("id")
    acme.export(*WIDE)
    response = acme.notify(
        ship_notice(
            f"WH-{order.id}", tracking="T-1", items=item("ACME-MUG", 4, mug.id) + item("TEE")
        )
    )
    assert response.status_code == 200
    assert response.content.decode() == (
        f"OK Warehouse order WH-{order.id}: shipment T-1 recorded.\n"
    )
    order.refresh_from_db()
    assert (order.state, order.shipped_at) == ("partially_shipped", None)
    assert shipped(order) == [("ACME-BOOK", 3, 0), ("ACME-MUG", 6, 4), ("TEE", 1, 1)]
    first = WarehouseShipment.objects.get()
    assert (
        first.connection_id,
        first.order_id,
        first.tracking_number,
        first.carrier,
        first.service,
        str(first.ship_date),
        first.lines,
    ) == (
        acme.id,
        order.id,
        "T-1",
        "UPS",
        "Ground",
        "2026-11-04",
        [
            {"line": mug.id, "sku": "ACME-MUG", "quantity": 4},
            {"line": tee.id, "sku": "TEE", "quantity": 1},
        ],
    )
    assert "<TrackingNumber>T-1</TrackingNumber>" in first.body
    root = ET.fromstring(acme.export(*WIDE).content)
    assert root.findtext("Order/OrderStatus") == "awaiting_shipment"

    # No Items: the package holds whatever is left.
    response = acme.notify(ship_notice(f"WH-{order.id}", tracking="T-2"))
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.state == "partially_shipped"
    assert order.shipped_at is not None
    assert shipped(order) == [("ACME-BOOK", 3, 3), ("ACME-MUG", 6, 6), ("TEE", 1, 1)]
    assert WarehouseShipment.objects.get(tracking_number="T-2").lines == [
        {"line": book.id, "sku": "ACME-BOOK", "quantity": 3},
        {"line": mug.id, "sku": "ACME-MUG", "quantity": 2},
    ]
    root = ET.fromstring(acme.export(*WIDE).content)
    assert root.findtext("Order/OrderStatus") == "shipped"
    assert list(ShipNotice.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied",
        "applied",
    ]


def test_a_duplicate_notice_is_recorded_once_and_answered_200(acme: Station) -> None:
    order = route(acme, "1040")
    acme.export(*WIDE)
    body = ship_notice(f"WH-{order.id}", items=item("TEE", 1))
    assert acme.notify(body).status_code == 200
    again = acme.notify(body)
    assert again.status_code == 200
    assert again.content.decode() == (
        f"OK Warehouse order WH-{order.id} already had shipment 1Z999AA10123456784; "
        "nothing changed.\n"
    )
    # The same package with other words (no Items this time) is still the same package.
    assert acme.notify(ship_notice(f"WH-{order.id}")).status_code == 200
    assert WarehouseShipment.objects.count() == 1
    order.refresh_from_db()
    assert shipped(order) == [("ACME-BOOK", 3, 0), ("ACME-MUG", 6, 0), ("TEE", 1, 1)]
    assert ShipNotice.objects.get(digest__isnull=False, times_received=2).outcome == "applied"


def test_a_notice_before_the_export_still_applies(acme: Station) -> None:
    order = route(acme, "1040")
    response = acme.notify(ship_notice(f"WH-{order.id}"))
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.state == "partially_shipped"
    assert order.shipped_at is not None
    assert exported(acme.export(*WIDE)) == [f"WH-{order.id}"]
    assert WarehouseOrder.objects.get(id=order.id).state == "partially_shipped"


def test_a_notice_the_order_cannot_take_is_refused_and_changes_nothing(acme: Station) -> None:
    order = route(acme, "1040")
    acme.export(*WIDE)
    tee = order.lines.get(warehouse_sku="TEE")
    refusals = [
        (item("NOPE", 1), "The order has no line of SKU 'NOPE'.\n"),
        (item("TEE", 2), f"Line {tee.id} (TEE) has 1 left to ship, not 2.\n"),
        (item("", 1, 999_999_999), "The order has no line '999999999'.\n"),
    ]
    for items, words in refusals:
        response = acme.notify(ship_notice(f"WH-{order.id}", tracking="T-9", items=items))
        assert (response.status_code, response.content.decode()) == (409, words)
    assert WarehouseShipment.objects.count() == 0
    assert shipped(order) == [("ACME-BOOK", 3, 0), ("ACME-MUG", 6, 0), ("TEE", 1, 0)]
    assert WarehouseOrder.objects.get(id=order.id).state == "routed"
    assert set(ShipNotice.objects.values_list("outcome", flat=True)) == {"refused"}
    # Without a tracking number it is no shipment at all.
    response = acme.notify(ship_notice(f"WH-{order.id}", tracking=""))
    assert response.status_code == 400
    assert response.content.decode() == "A warehouse's ShipNotice needs its TrackingNumber.\n"


def test_test_orders_are_never_exported_nor_shipped(acme: Station) -> None:
    order = route(acme, "1", test=True)
    assert exported(acme.export(*WIDE)) == []
    response = acme.notify(ship_notice(f"WH-{order.id}"))
    assert response.status_code == 404
    order.refresh_from_db()
    assert order.state == "open"
    assert not WarehouseShipment.objects.exists()


def test_isolation_over_every_warehouse_call(
    acme: Station,
    make_publisher: Callable[..., Any],
    make_station: Callable[..., Station],
    paid: Callable[..., Order],
) -> None:
    other = make_warehouse(make_publisher(), "Other 3PL")
    second_of_acme = make_warehouse(acme.created.connection.publisher, "Acme East")
    own = make_station()
    mine = route(acme, "1")
    theirs = route(other, "2")
    east = route(second_of_acme, "3")
    pressrun_order = paid(invoice="WH-999999")
    close_window(pressrun_order)

    assert exported(acme.export(*WIDE)) == [f"WH-{mine.id}"]
    assert exported(other.export(*WIDE)) == [f"WH-{theirs.id}"]
    # pressrun's own station sees pressrun's orders, never a warehouse order.
    assert exported(own.export(*WIDE)) == [str(pressrun_order.id)]
    assert WarehouseOrder.objects.get(id=east.id).state == "open"

    for target in (theirs, east):
        response = acme.notify(ship_notice(f"WH-{target.id}"))
        assert response.status_code == 404
        assert response.content.decode() == (
            f"No warehouse order 'WH-{target.id}' is shipped from here.\n"
        )
    # A warehouse cannot ship pressrun's own order either, by id or invoice.
    for reference in (str(pressrun_order.id), "WH-999999"):
        assert acme.notify(ship_notice(reference)).status_code == 404
    # The own station's notice for a warehouse order's number is about pressrun's orders.
    response = own.notify(ship_notice(f"WH-{east.id}"))
    assert response.status_code == 404
    assert not WarehouseShipment.objects.exists()
    assert WarehouseOrderLine.objects.filter(quantity_shipped__gt=0).count() == 0
    assert WarehouseOrder.objects.get(id=theirs.id).state == "routed"
    assert WarehouseOrder.objects.get(id=east.id).state == "open"
    assert Order.objects.get(id=pressrun_order.id).fulfillment_state != "shipped"
    assert set(ShipNotice.objects.values_list("outcome", flat=True)) == {"unknown"}


def test_an_operator_cannot_apply_a_warehouses_notice_to_a_pressrun_order(
    acme: Station, paid: Callable[..., Order]
) -> None:
    from pressrun.fulfillment.services import FulfillmentRefused
    from pressrun.warehouses.notices import ship_notice_apply_to

    pressrun_order = paid()
    close_window(pressrun_order)
    assert acme.notify(ship_notice("WH-999999")).status_code == 404
    kept = ShipNotice.objects.get()
    with pytest.raises(FulfillmentRefused, match="a publisher's warehouse"):
        ship_notice_apply_to(notice_id=kept.id, order_id=pressrun_order.id, actor="operator")
    assert Order.objects.get(id=pressrun_order.id).fulfillment_state != "shipped"
    kept.refresh_from_db()
    assert (kept.resolved_at, kept.outcome) == (None, "unknown")
