"""The Custom Store export: exactly the XML ShipStation reads, the orders a station ships,
paging, the date window and LastModified moving when a postage window ends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pressrun.fulfillment.services import fulfillment_close_postage_windows
from pressrun.orders.models import FulfillmentState, Order
from tests.fulfillment.support import bring_to, close_window, flag_address, ship
from tests.warehouses.conftest import Station

pytestmark = pytest.mark.django_db

S = FulfillmentState
T0 = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)
WIDE = ("01/01/2026 00:00", "12/31/2027 23:59")


def fix(order: Order, *, modified: datetime, created: datetime = T0, **values: Any) -> Order:
    """Pin the order's times (and any other columns) so the XML can be written out."""
    Order.objects.filter(id=order.id).update(
        created_at=created, fulfillment_updated_at=modified, **values
    )
    return Order.objects.get(id=order.id)


def ready(paid: Callable[..., Order], *, modified: datetime, **kwargs: Any) -> Order:
    order = paid(**kwargs)
    close_window(order)
    return fix(order, modified=modified, address_changes_until=modified - timedelta(hours=1))


def ids(response: Any) -> list[str]:
    root = ET.fromstring(response.content)
    return [element.findtext("OrderID") or "" for element in root.findall("Order")]


def pages(response: Any) -> str:
    return ET.fromstring(response.content).attrib["pages"]


def test_the_export_is_exactly_the_custom_store_xml(
    station: Station, paid: Callable[..., Order], publisher: Any, cd: Any
) -> None:
    order = paid(invoice="INV-7", quantity=3)
    close_window(order)
    order = fix(
        order,
        modified=datetime(2026, 11, 3, 14, 5, 59, tzinfo=UTC),
        address_changes_until=datetime(2026, 11, 2, 21, 30, tzinfo=UTC),
        name='Ann & <Bob> "Buyer"\x01',
        company="Ünïcode GmbH",
        products_cost=Decimal("13.50"),
        shipping_cost=Decimal("2.25"),
        total_cost=Decimal("15.75"),
    )
    response = station.export("11/03/2026 14:00", "11/03/2026 14:05")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    expected = (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<Orders pages="1"><Order>'
        f"<OrderID>{order.id}</OrderID>"
        "<OrderNumber>INV-7</OrderNumber>"
        "<OrderDate>11/02/2026 09:30</OrderDate>"
        "<OrderStatus>ready</OrderStatus>"
        "<LastModified>11/03/2026 14:05</LastModified>"
        "<ShippingMethod>standard+tracking</ShippingMethod>"
        "<OrderTotal>15.75</OrderTotal>"
        "<TaxAmount>0.00</TaxAmount>"
        "<ShippingAmount>2.25</ShippingAmount>"
        f"<InternalNotes>Publisher {publisher.id} (Acme Discs), invoice INV-7</InternalNotes>"
        "<CustomField1>INV-7</CustomField1>"
        f"<CustomField2>{publisher.id}</CustomField2>"
        "<Customer><CustomerCode>ann@example.com</CustomerCode>"
        '<BillTo><Name>Ann &amp; &lt;Bob&gt; "Buyer"</Name><Company>Ünïcode GmbH</Company>'
        "<Phone /><Email>ann@example.com</Email></BillTo>"
        '<ShipTo><Name>Ann &amp; &lt;Bob&gt; "Buyer"</Name><Company>Ünïcode GmbH</Company>'
        "<Address1>1 Main St</Address1><Address2 /><City>Austin</City><State>TX</State>"
        "<PostalCode>78701</PostalCode><Country>US</Country><Phone /></ShipTo></Customer>"
        "<Items><Item>"
        f"<SKU>{cd.id}</SKU><Name>Greatest Hits</Name><Weight>2</Weight>"
        "<WeightUnits>Ounces</WeightUnits><Quantity>3</Quantity><UnitPrice>4.50</UnitPrice>"
        "</Item></Items></Order></Orders>"
    )
    assert response.content.decode() == expected


def test_a_station_ships_ready_in_production_and_packed_orders_only(
    *,
    station: Station,
    make_station: Callable[..., Station],
    paid: Callable[..., Order],
    place: Callable[..., Order],
    publisher: Any,
    cd: Any,
) -> None:
    ready_order = paid()
    close_window(ready_order)  # still "waiting" in the column: ready to every reader
    in_production = bring_to(paid(), S.IN_PRODUCTION)
    packed = bring_to(paid(), S.PACKED)
    waiting = paid()  # window open
    flagged = flag_address(paid(), "No such street.")
    shipped = ship(paid())
    cancelled = bring_to(paid(), S.CANCELLED)
    test_order = place(publisher, cd, mode="test")
    type(publisher).objects.filter(id=publisher.id).update(balance=Decimal("0"))
    hold = place(publisher, cd)
    assert hold.status == "HOLD"
    assert test_order.status == "TEST"
    exported = ids(station.export(*WIDE))
    assert sorted(exported) == sorted(str(o.id) for o in (ready_order, in_production, packed))
    for never in (waiting, flagged, shipped, cancelled, test_order, hold):
        assert str(never.id) not in exported
    statuses = {
        element.findtext("OrderID"): element.findtext("OrderStatus")
        for element in ET.fromstring(station.export(*WIDE).content).findall("Order")
    }
    assert statuses == {
        str(ready_order.id): "ready",
        str(in_production.id): "in_production",
        str(packed.id): "packed",
    }
    after_packing = make_station(name="Packing bench", after_packing=True)
    assert ids(after_packing.export(*WIDE)) == [str(packed.id)]
    # A publisher's own warehouse never sees pressrun's orders.
    own = make_station(name="Their 3PL", publisher_id=publisher.id)
    from pressrun.warehouses.services import warehouse_set_enabled

    warehouse_set_enabled(connection_id=own.id, enabled=True)
    response = own.export(*WIDE)
    assert response.content.decode().endswith('<Orders pages="1" />')


def test_paging_follows_last_modified_then_order_id(
    station: Station, paid: Callable[..., Order], settings: Any
) -> None:
    settings.SHIPSTATION_PAGE_SIZE = 2
    base = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    orders = [ready(paid, modified=base + timedelta(minutes=m)) for m in (4, 1, 3, 1, 2)]
    expected = [str(o.id) for o in sorted(orders, key=lambda o: (o.fulfillment_updated_at, o.id))]
    window = ("11/03/2026 08:00", "11/03/2026 08:10")
    first = station.export(*window, page=1)
    assert pages(first) == "3"
    got = ids(first) + ids(station.export(*window, page=2)) + ids(station.export(*window, page=3))
    assert got == expected
    beyond = station.export(*window, page=4)
    assert beyond.status_code == 200
    assert pages(beyond) == "3"
    assert ids(beyond) == []


def test_the_date_window_includes_its_start_and_its_whole_end_minute(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready(paid, modified=datetime(2026, 11, 3, 10, 5, 40, tzinfo=UTC))
    assert ids(station.export("11/03/2026 10:00", "11/03/2026 10:05")) == [str(order.id)]
    assert ids(station.export("11/03/2026 10:05", "11/03/2026 10:30")) == [str(order.id)]
    assert ids(station.export("11/03/2026 10:06", "11/03/2026 10:30")) == []
    assert ids(station.export("11/03/2026 09:00", "11/03/2026 10:04")) == []
    # 12-hour notation, which the guide allows for dates, is read too.
    assert ids(station.export("11/03/2026 10:00 AM", "11/03/2026 10:05 AM")) == [str(order.id)]
    empty = station.export("11/03/2026 11:00", "11/03/2026 12:00")
    assert (
        empty.content.decode() == "<?xml version='1.0' encoding='utf-8'?>\n<Orders pages=\"1\" />"
    )


def test_last_modified_moves_when_the_postage_window_ends(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = paid()
    placed = datetime.now(UTC) - timedelta(hours=2)
    Order.objects.filter(id=order.id).update(fulfillment_updated_at=placed)
    # Window open: not exported at all, whatever the window asked for.
    assert ids(station.export(*WIDE)) == []
    # The window ends (no write to the order but the deadline passing): exported, with
    # LastModified = the window's end, so a station polling "modified since" sees it.
    ended = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    Order.objects.filter(id=order.id).update(address_changes_until=ended)
    order.refresh_from_db()
    assert order.fulfillment_state == S.WAITING
    since = (ended - timedelta(minutes=1)).strftime("%m/%d/%Y %H:%M")
    until = datetime.now(UTC).strftime("%m/%d/%Y %H:%M")
    before_end = (ended - timedelta(minutes=2)).strftime("%m/%d/%Y %H:%M")
    [element] = ET.fromstring(station.export(since, until).content).findall("Order")
    assert element.findtext("LastModified") == ended.strftime("%m/%d/%Y %H:%M")
    assert element.findtext("OrderStatus") == "ready"
    # A poll that ended before the window did saw nothing of it.
    assert ids(station.export("01/01/2026 00:00", before_end)) == []
    # The window task records the same time: LastModified does not move again.
    assert fulfillment_close_postage_windows() == 1
    [element] = ET.fromstring(station.export(since, until).content).findall("Order")
    assert element.findtext("LastModified") == ended.strftime("%m/%d/%Y %H:%M")
    # A later move (into production) moves it to now.
    bring_to(order, S.IN_PRODUCTION)
    [element] = ET.fromstring(station.export(since, until).content).findall("Order")
    moved = Order.objects.get(id=order.id).fulfillment_updated_at
    assert moved is not None
    assert element.findtext("LastModified") == moved.strftime("%m/%d/%Y %H:%M")


def test_order_number_is_invoice_or_invoice_dash_id_when_shared(
    station: Station,
    paid: Callable[..., Order],
    place: Callable[..., Order],
    make_project: Callable[..., Any],
    publisher: Any,
) -> None:
    first = paid(invoice="SHARED")
    close_window(first)
    dvd = make_project(publisher, title="Live DVD", media="dvd")
    second = place(publisher, dvd, invoice="SHARED")
    Order.objects.filter(id=second.id).update(address_checked_at=second.created_at)
    close_window(second)
    numbers = {
        element.findtext("OrderID"): element.findtext("OrderNumber")
        for element in ET.fromstring(station.export(*WIDE).content).findall("Order")
    }
    assert numbers == {str(first.id): f"SHARED-{first.id}", str(second.id): f"SHARED-{second.id}"}
    ship(first)
    numbers = {
        element.findtext("OrderID"): element.findtext("OrderNumber")
        for element in ET.fromstring(station.export(*WIDE).content).findall("Order")
    }
    assert numbers == {str(second.id): "SHARED"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("action=export", "start_date and end_date are required"),
        ("action=export&start_date=2026-11-03&end_date=11/03/2026 10:00", "start_date must be"),
        ("action=export&start_date=13/45/2026 10:00&end_date=11/03/2026 10:00", "not a real date"),
        ("action=export&start_date=11/03/2026 10:00&end_date=11/02/2026 10:00", "before start"),
        ("action=export&start_date=11/03/2026 10:00&end_date=11/03/2026 11:00&page=0", "page"),
        ("action=export&start_date=11/03/2026 10:00&end_date=11/03/2026 11:00&page=x", "page"),
        ("action=nothing", "action must be export or shipnotify"),
        ("", "action must be export or shipnotify"),
    ],
)
def test_a_request_outside_the_protocol_gets_a_clear_400(
    station: Station, query: str, message: str
) -> None:
    response = station.get(query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_order_with_no_recorded_change_is_exported_from_its_windows_end(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = paid()
    ended = datetime(2026, 11, 3, 7, 45, tzinfo=UTC)
    Order.objects.filter(id=order.id).update(
        fulfillment_updated_at=None, address_changes_until=ended
    )
    [element] = ET.fromstring(
        station.export("11/03/2026 07:45", "11/03/2026 07:45").content
    ).findall("Order")
    assert element.findtext("LastModified") == "11/03/2026 07:45"
    assert ids(station.export("11/03/2026 07:46", "11/03/2026 09:00")) == []


def test_an_order_whose_address_has_not_passed_the_check_is_not_exported_yet(
    station: Station, paid: Callable[..., Order]
) -> None:
    """Nothing is handed to shipping before its address is checked; the check's pass moves
    LastModified, so a station that polled past the time the order became ready sees it."""
    from pressrun.fulfillment.address.services import address_check_order
    from pressrun.fulfillment.address.verifiers import OfflineVerifier

    order = paid(checked=False)
    close_window(order)
    assert ids(station.export(*WIDE)) == []
    became_ready = Order.objects.get(id=order.id).fulfillment_updated_at
    assert became_ready is not None
    checked_at = became_ready + timedelta(minutes=7)
    assert (
        address_check_order(order_id=order.id, verifier=OfflineVerifier(), now=checked_at)
        == "passed"
    )
    after = (checked_at - timedelta(minutes=1)).strftime("%m/%d/%Y %H:%M")
    response = station.export(after, "12/31/2027 23:59")
    assert ids(response) == [str(order.id)]
    [element] = ET.fromstring(response.content).findall("Order")
    assert element.findtext("LastModified") == checked_at.strftime("%m/%d/%Y %H:%M")
