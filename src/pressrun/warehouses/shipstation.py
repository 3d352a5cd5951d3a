"""The ShipStation Custom Store protocol: reading its requests and writing its XML.

What ShipStation's Custom Store Development Guide says, and what follows from it here:

- **Export** (`GET ?action=export&start_date=…&end_date=…&page=N`): dates are UTC,
  `MM/dd/yyyy HH:mm` (24-hour). The answer is `<Orders pages="N">` with one `<Order>` per
  order *modified* between the two dates; ShipStation asks for page 1, reads `pages`, then
  asks for each further page. Minutes are the finest unit ShipStation sends, so the end
  minute is included whole: an order modified at 21:09:40 is in a window ending `21:09`
  (a boundary minute may appear in two polls, which ShipStation takes as an update of the
  same OrderID). Dates are written back in the same format, UTC.
- **Ship notify** (`POST ?action=shipnotify&order_number=…&carrier=…&service=…&
  tracking_number=…`, body `<ShipNotice>`): the body carries OrderID, OrderNumber,
  ShipDate (`MM/dd/yyyy`), Carrier, Service, TrackingNumber, ShippingCost (what the label
  cost). Its values win over the query string's, which repeat some of them (ShipStation
  often sends `service=` empty). A 2xx answer tells ShipStation the notice was taken.

The XML is built with ElementTree (escaped as XML requires, so no value can break out of
its element) after removing the characters XML 1.0 cannot carry at all; the notice is read
with defusedxml with DTDs forbidden, so entity expansion (the "billion laughs") and
external entities are refused before anything is expanded.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from pressrun.core.errors import DomainError
from pressrun.core.money import amount_text
from pressrun.fulfillment.customs import unit_weight_oz
from pressrun.orders.models import Order
from pressrun.warehouses.models import WarehouseOrder
from pressrun.warehouses.selectors import order_number, warehouse_order_number

DATE_TIME_FORMAT = "%m/%d/%Y %H:%M"
DATE_FORMAT = "%m/%d/%Y"
# The largest ShipNotice body taken (a real one is a few kilobytes).
MAX_NOTICE_BYTES = 256 * 1024
# Dates outside these years are no shipping dates (and would overflow date arithmetic).
MIN_YEAR = 1970
MAX_YEAR = 9000

# Characters XML 1.0 cannot carry even escaped (C0 controls but tab, CR and LF; U+FFFE/F;
# lone surrogates).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_QUERY_DATE = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\s*$"
)


class ProtocolError(DomainError):
    """A request that does not follow the protocol (answered 400 with the message)."""


# --- the export ----------------------------------------------------------------------------


def parse_query_date(value: str, name: str) -> datetime:
    """A query date (`MM/dd/yyyy HH:mm`, UTC; a date alone is midnight; 12-hour times with
    AM/PM are read too) as an aware UTC datetime. Raises ProtocolError."""
    match = _QUERY_DATE.match(value)
    if match is None:
        raise ProtocolError(
            f"{name} must be a UTC date and time written MM/dd/yyyy HH:mm "
            f"(e.g. 03/23/2012 21:09), not {value[:40]!r}."
        )
    month, day, year, hour, minute, second, half = match.groups()
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise ProtocolError(f"{name} must be a year from {MIN_YEAR} to {MAX_YEAR}.")
    hours = int(hour or 0)
    if half is not None:
        if not 1 <= hours <= 12:
            raise ProtocolError(f"{name} has an hour {hours} that is not a 12-hour time.")
        hours = hours % 12 + (12 if half.lower() == "pm" else 0)
    try:
        return datetime(
            int(year), int(month), int(day), hours, int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError as exc:
        raise ProtocolError(f"{name} is not a real date and time: {value[:40]!r}.") from exc


@dataclass(frozen=True)
class ExportQuery:
    modified_from: datetime
    modified_before: datetime
    page: int


def parse_export_query(params: dict[str, str]) -> ExportQuery:
    """The export's window and page from the query (`start_date`, `end_date`, `page`).
    The end minute is included whole (see the module docstring). Raises ProtocolError."""
    start = params.get("start_date", "")
    end = params.get("end_date", "")
    if not start or not end:
        raise ProtocolError("start_date and end_date are required (MM/dd/yyyy HH:mm, UTC).")
    modified_from = parse_query_date(start, "start_date")
    end_minute = parse_query_date(end, "end_date").replace(second=0)
    if end_minute < modified_from.replace(second=0):
        raise ProtocolError("end_date is before start_date.")
    raw_page = params.get("page", "1").strip() or "1"
    if not raw_page.isascii() or not raw_page.isdigit() or len(raw_page) > 9:
        raise ProtocolError(f"page must be a whole number from 1, not {raw_page[:20]!r}.")
    page = int(raw_page)
    if page < 1:
        raise ProtocolError("page must be a whole number from 1.")
    return ExportQuery(
        modified_from=modified_from,
        modified_before=end_minute + timedelta(minutes=1),
        page=page,
    )


def xml_text(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry."""
    return _NOT_XML.sub("", value)


def _add(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = xml_text(value)
    return element


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime(DATE_TIME_FORMAT)


def _add_customer(
    element: ET.Element,
    *,
    code: str,
    name: str,
    company: str,
    email: str,
    address: str,
    city: str,
    state: str,
    postal_code: str,
    country: str,
) -> None:
    """An export Order's `<Customer>`: its code, BillTo (who) and ShipTo (where). Both
    exports, pressrun's own orders and a publisher warehouse's, write the same shape."""
    customer = ET.SubElement(element, "Customer")
    _add(customer, "CustomerCode", code)
    bill_to = ET.SubElement(customer, "BillTo")
    _add(bill_to, "Name", name)
    _add(bill_to, "Company", company)
    _add(bill_to, "Phone", "")
    _add(bill_to, "Email", email)
    ship_to = ET.SubElement(customer, "ShipTo")
    _add(ship_to, "Name", name)
    _add(ship_to, "Company", company)
    _add(ship_to, "Address1", address)
    _add(ship_to, "Address2", "")
    _add(ship_to, "City", city)
    _add(ship_to, "State", state)
    _add(ship_to, "PostalCode", postal_code)
    _add(ship_to, "Country", country)
    _add(ship_to, "Phone", "")


def render_orders(
    orders: list[Order], *, pages: int, shared: set[tuple[int, str]], states: dict[int, str]
) -> bytes:
    """The `<Orders pages="…">` document for one page. Each order needs its lines (with
    their projects), its publisher and its `fulfillment_last_modified` annotation;
    `shared` is `selectors.shared_invoices(orders)` and `states` each order's effective
    fulfillment state (its OrderStatus)."""
    root = ET.Element("Orders", pages=str(pages))
    for order in orders:
        last_modified: datetime = getattr(order, "fulfillment_last_modified", None) or (
            order.fulfillment_updated_at or order.created_at
        )
        element = ET.SubElement(root, "Order")
        _add(element, "OrderID", str(order.id))
        _add(
            element,
            "OrderNumber",
            order_number(order, shared=(order.publisher_id, order.invoice) in shared),
        )
        _add(element, "OrderDate", _when(order.created_at))
        _add(element, "OrderStatus", states.get(order.id, order.fulfillment_state))
        _add(element, "LastModified", _when(last_modified))
        _add(element, "ShippingMethod", order.shipping_method)
        _add(element, "OrderTotal", amount_text(order.total_cost))
        _add(element, "TaxAmount", "0.00")
        _add(element, "ShippingAmount", amount_text(order.shipping_cost))
        publisher = order.publisher
        notes = f"Publisher {publisher.id}" + (
            f" ({publisher.company})" if publisher.company else ""
        )
        if order.invoice:
            notes += f", invoice {order.invoice}"
        _add(element, "InternalNotes", notes)
        _add(element, "CustomField1", order.invoice)
        _add(element, "CustomField2", str(publisher.id))
        _add_customer(
            element,
            code=(order.email or f"order-{order.id}")[:50],
            name=order.name,
            company=order.company,
            email=order.email,
            address=order.address,
            city=order.city,
            state=order.state,
            postal_code=order.postal_code,
            country=order.country,
        )
        items = ET.SubElement(element, "Items")
        for line in order.lines.all():
            project = line.project
            item = ET.SubElement(items, "Item")
            _add(item, "SKU", str(project.id))
            _add(item, "Name", project.title)
            _add(item, "Weight", str(unit_weight_oz(project.packaging)))
            _add(item, "WeightUnits", "Ounces")
            _add(item, "Quantity", str(line.quantity))
            _add(item, "UnitPrice", amount_text(line.unit_price))
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def warehouse_order_status(order: WarehouseOrder) -> str:
    """The OrderStatus a pulling warehouse is shown (mapped to ShipStation's statuses when
    the store is connected): `shipped` once every line has shipped, else
    `awaiting_shipment` (also while some lines remain after a partial shipment)."""
    return "shipped" if order.shipped_at is not None else "awaiting_shipment"


def render_warehouse_orders(orders: list[WarehouseOrder], *, pages: int) -> bytes:
    """The `<Orders pages="…">` document of one page of a publisher warehouse's export:
    each order with its warehouse lines (SKU = the warehouse SKU, LineItemID = the line's
    id, which a ShipNotice may name) and its carrier code as ShippingMethod. Each order
    needs its lines prefetched. The warehouse is not sent prices: it ships, the cart
    charged."""
    root = ET.Element("Orders", pages=str(pages))
    for order in orders:
        number = warehouse_order_number(order.id)
        element = ET.SubElement(root, "Order")
        _add(element, "OrderID", number)
        _add(element, "OrderNumber", number)
        _add(element, "OrderDate", _when(order.created_at))
        _add(element, "OrderStatus", warehouse_order_status(order))
        _add(element, "LastModified", _when(order.updated_at))
        _add(element, "ShippingMethod", order.carrier_code)
        _add(element, "OrderTotal", "0.00")
        _add(element, "TaxAmount", "0.00")
        _add(element, "ShippingAmount", "0.00")
        _add(element, "InternalNotes", f"{order.cart} order {order.cart_order_name}".strip())
        _add(element, "CustomField1", order.cart_order_name)
        _add_customer(
            element,
            code=(order.ship_email or number)[:50],
            name=order.ship_name,
            company=order.ship_company,
            email=order.ship_email,
            address=order.ship_address,
            city=order.ship_city,
            state=order.ship_state,
            postal_code=order.ship_postal_code,
            country=order.ship_country,
        )
        items = ET.SubElement(element, "Items")
        for line in order.lines.all():
            item = ET.SubElement(items, "Item")
            _add(item, "LineItemID", str(line.id))
            _add(item, "SKU", line.warehouse_sku)
            _add(item, "Name", line.title)
            _add(item, "Quantity", str(line.quantity))
            _add(item, "UnitPrice", "0.00")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


# --- the ship notice -----------------------------------------------------------------------


# The most items one ShipNotice is read with, and the largest quantity of one.
MAX_NOTICE_ITEMS = 500
MAX_ITEM_QUANTITY = 1_000_000


@dataclass(frozen=True)
class NoticeItem:
    """One `<Item>` of a ShipNotice's `<Items>`: what the package holds. `quantity` is None
    when the item does not say; `line_item_id` is the LineItemID we exported, when sent."""

    sku: str
    quantity: int | None
    line_item_id: str


@dataclass(frozen=True)
class Notice:
    """A ShipNotice as read: the body's values, the query string's where the body is
    silent."""

    order_id: str
    order_number: str
    ship_date: date | None
    carrier: str
    service: str
    tracking_number: str
    shipping_cost: Decimal | None
    # Empty when the notice lists no items (the package holds whatever is left to ship).
    items: tuple[NoticeItem, ...] = ()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _child_text(root: ET.Element, name: str) -> str:
    for child in root:
        if isinstance(child.tag, str) and _local(child.tag) == name.lower():
            return (child.text or "").strip()
    return ""


def _child(root: ET.Element, name: str) -> ET.Element | None:
    for child in root:
        if isinstance(child.tag, str) and _local(child.tag) == name.lower():
            return child
    return None


def parse_notice_items(root: ET.Element) -> tuple[NoticeItem, ...]:
    """The `<Items><Item>…</Item></Items>` of a ShipNotice (SKU, Quantity, LineItemID).
    Raises ProtocolError for a quantity that is not a whole number from 1, or too many
    items."""
    container = _child(root, "Items")
    if container is None:
        return ()
    items: list[NoticeItem] = []
    for element in container:
        if not isinstance(element.tag, str) or _local(element.tag) != "item":
            continue
        if len(items) == MAX_NOTICE_ITEMS:
            raise ProtocolError(f"The ShipNotice lists more than {MAX_NOTICE_ITEMS} items.")
        raw = _child_text(element, "Quantity")
        quantity: int | None = None
        if raw:
            if (
                not raw.isascii()
                or not raw.isdigit()
                or len(raw) > 9
                or not 1 <= int(raw) <= MAX_ITEM_QUANTITY
            ):
                raise ProtocolError(
                    f"An item's Quantity must be a whole number from 1, not {raw[:20]!r}."
                )
            quantity = int(raw)
        items.append(
            NoticeItem(
                sku=_child_text(element, "SKU")[:255],
                quantity=quantity,
                line_item_id=_child_text(element, "LineItemID")[:50],
            )
        )
    return tuple(items)


def parse_notice_date(value: str) -> date | None:
    """A ShipNotice date (`MM/dd/yyyy`, optionally with a time; `yyyy-MM-dd` too), or None
    when blank. Raises ProtocolError."""
    value = value.strip()
    if not value:
        return None
    iso = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$", value)
    try:
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        return parse_query_date(value, "ShipDate").date()
    except (ValueError, ProtocolError) as exc:
        raise ProtocolError(
            f"ShipDate must be a date written MM/dd/yyyy, not {value[:40]!r}."
        ) from exc


def parse_notice(body: bytes, params: dict[str, str]) -> Notice:
    """Read a `<ShipNotice>` body. Raises ProtocolError for a missing, malformed or
    forbidden (DTD, entities) document, or values that are not what they must be."""
    if not body.strip():
        raise ProtocolError("The body must be the <ShipNotice> XML document; it is empty.")
    if len(body) > MAX_NOTICE_BYTES:
        raise ProtocolError(f"The ShipNotice is larger than {MAX_NOTICE_BYTES} bytes.")
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ProtocolError(
            "The ShipNotice declares a DTD or entities, which are refused."
        ) from exc
    except ET.ParseError as exc:
        raise ProtocolError(f"The ShipNotice is not well-formed XML ({exc}).") from exc
    except (ValueError, UnicodeError) as exc:
        raise ProtocolError("The ShipNotice could not be read as XML.") from exc
    if not isinstance(root.tag, str) or _local(root.tag) != "shipnotice":
        raise ProtocolError("The body's root element must be <ShipNotice>.")
    cost_text = _child_text(root, "ShippingCost")
    cost: Decimal | None = None
    if cost_text:
        try:
            cost = Decimal(cost_text)
        except InvalidOperation as exc:
            raise ProtocolError(f"ShippingCost is not a number: {cost_text[:40]!r}.") from exc
        if not cost.is_finite():
            raise ProtocolError(f"ShippingCost is not a number: {cost_text[:40]!r}.")
    ship_date = parse_notice_date(_child_text(root, "ShipDate"))
    if ship_date is None:
        label_date = _child_text(root, "LabelCreateDate")
        ship_date = parse_notice_date(label_date) if label_date else None
    return Notice(
        order_id=_child_text(root, "OrderID"),
        order_number=params.get("order_number", "").strip() or _child_text(root, "OrderNumber"),
        ship_date=ship_date,
        carrier=_child_text(root, "Carrier") or params.get("carrier", "").strip(),
        service=_child_text(root, "Service") or params.get("service", "").strip(),
        tracking_number=(
            _child_text(root, "TrackingNumber") or params.get("tracking_number", "").strip()
        ),
        shipping_cost=cost,
        items=parse_notice_items(root),
    )
