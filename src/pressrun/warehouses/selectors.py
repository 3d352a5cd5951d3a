"""Reads for the shipping stations: which orders a station ships, the order numbers it is
shown, finding the order a notice or an imported row is about, and the margin report.

`station_export_orders` is the one place that decides what a station's export contains;
every other rule about the export (the date window, paging) is applied on top of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from pressrun.fulfillment.address.selectors import address_verified_q
from pressrun.fulfillment.selectors import ready_q, with_fulfillment_last_modified
from pressrun.orders.models import FulfillmentState, Mode, Order
from pressrun.warehouses.models import (
    WarehouseConnection,
    WarehouseOrder,
    WarehouseOrderState,
    WarehouseStockLevel,
)

S = FulfillmentState

# ShipStation's OrderNumber is at most 50 characters.
MAX_ORDER_NUMBER_LENGTH = 50
# The largest order id a lookup tries (BigAutoField).
_MAX_ORDER_ID = 2**63 - 1
_INVOICE_AND_ID = re.compile(r"^(.+)-(\d{1,19})$")
# States in which an order is finished with: another order's invoice is no longer "shared"
# with it.
_CLOSED_STATES = (S.SHIPPED, S.CANCELLED)


def station_orders(connection: WarehouseConnection) -> QuerySet[Order]:
    """Every order `connection` may know about, whatever its state: pressrun's own station
    sees every publisher's production orders that entered fulfillment (never HOLD or test
    orders); a publisher's warehouse sees none of them (its orders are its own, issue 11)."""
    if not connection.is_own_station:
        return Order.objects.none()
    return Order.objects.filter(mode=Mode.PROD).exclude(fulfillment_state="")


def station_export_orders(
    connection: WarehouseConnection, *, now: datetime | None = None
) -> QuerySet[Order]:
    """The orders `connection` ships right now, annotated with `fulfillment_last_modified`
    (ShipStation's LastModified).

    Default: every order that may be shipped — ready (an order waiting for a postage
    window that has passed counts, `fulfillment.selectors.ready_q`), in production or
    packed. A station created "after packing": packed orders only. Never HOLD or test
    orders, never one waiting for its window, in address error, shipped or cancelled, and
    never one whose current address has not passed the address check
    (`fulfillment.address.selectors.address_verified_q`).
    """
    now = now or timezone.now()
    if connection.after_packing:
        shippable = Q(fulfillment_state=S.PACKED)
    else:
        shippable = ready_q(now=now) | Q(fulfillment_state__in=(S.IN_PRODUCTION, S.PACKED))
    # Handed to shipping only once its current address has passed the address check.
    shippable &= address_verified_q()
    return with_fulfillment_last_modified(station_orders(connection).filter(shippable), now=now)


@dataclass(frozen=True)
class ExportPage:
    orders: list[Order]
    pages: int
    page: int


def station_export_page(
    connection: WarehouseConnection,
    *,
    modified_from: datetime,
    modified_before: datetime,
    page: int,
    page_size: int,
    now: datetime | None = None,
) -> ExportPage:
    """One page of the orders `connection` ships whose LastModified is in
    [`modified_from`, `modified_before`), oldest change first (then by order id, so the
    pages of one window are stable while nothing changes). `pages` is at least 1; a page
    beyond it is empty."""
    # The annotation's lookups as (name, value) pairs: the type checker knows only fields.
    # Before them, the same window on the stored column, which the open-orders index serves:
    # LastModified equals `fulfillment_updated_at` for every order but a waiting one whose
    # postage window has ended (the window task moves those within a minute).
    window = station_export_orders(connection, now=now).filter(
        (
            Q(fulfillment_state=S.WAITING)
            | Q(
                fulfillment_updated_at__gte=modified_from,
                fulfillment_updated_at__lt=modified_before,
            )
        )
        & Q(("fulfillment_last_modified__gte", modified_from))
        & Q(("fulfillment_last_modified__lt", modified_before))
    )
    total = window.count()
    pages = max(1, -(-total // page_size))
    start = (page - 1) * page_size
    orders: list[Order] = []
    if start < total:
        orders = list(
            window.select_related("publisher")
            .prefetch_related("lines__project")
            .order_by("fulfillment_last_modified", "id")[start : start + page_size]
        )
    return ExportPage(orders=orders, pages=pages, page=page)


# --- a publisher's warehouse (the pull half of issue 11) ----------------------------------

# What a warehouse order is called at its warehouse: `WH-<id>`. pressrun's own order numbers
# are invoices, `invoice-id` or bare ids; a warehouse's notices are looked up among its own
# orders only, so the prefix is for people (and the notice log) to tell them apart.
WAREHOUSE_ORDER_PREFIX = "WH-"
_WAREHOUSE_ORDER_NUMBER = re.compile(r"^WH-(\d{1,19})$", re.IGNORECASE)
# The states in which a warehouse pulls an order: handed to it (an open one is moved to
# routed by the export that hands it over) or partly shipped.
WAREHOUSE_EXPORT_STATES = (
    WarehouseOrderState.OPEN,
    WarehouseOrderState.ROUTED,
    WarehouseOrderState.PARTIALLY_SHIPPED,
)


def warehouse_order_number(order_id: int) -> str:
    """The OrderID and OrderNumber a warehouse is shown for warehouse order `order_id`."""
    return f"{WAREHOUSE_ORDER_PREFIX}{order_id}"


def warehouse_order_id(reference: str) -> int | None:
    """The warehouse order id a `WH-<id>` reference names (None for anything else)."""
    match = _WAREHOUSE_ORDER_NUMBER.match(reference.strip())
    if match is None:
        return None
    return _order_id(match.group(1))


def warehouse_orders_pulled(connection: WarehouseConnection) -> QuerySet[WarehouseOrder]:
    """Every order `connection` may know about: its own, never a test order (a cart's test
    order is never handed to a warehouse), none for pressrun's own station."""
    if connection.is_own_station:
        return WarehouseOrder.objects.none()
    return WarehouseOrder.objects.filter(connection=connection, test=False)


def warehouse_export_window(
    connection: WarehouseConnection, *, modified_from: datetime, modified_before: datetime
) -> QuerySet[WarehouseOrder]:
    """The orders a pulling warehouse is sent for one export window: its own in an export
    state whose LastModified (`updated_at`) is in [`modified_from`, `modified_before`)."""
    return warehouse_orders_pulled(connection).filter(
        state__in=WAREHOUSE_EXPORT_STATES,
        updated_at__gte=modified_from,
        updated_at__lt=modified_before,
    )


@dataclass(frozen=True)
class WarehouseExportPage:
    orders: list[WarehouseOrder]
    pages: int
    page: int


def warehouse_export_page(
    connection: WarehouseConnection,
    *,
    modified_from: datetime,
    modified_before: datetime,
    page: int,
    page_size: int,
) -> WarehouseExportPage:
    """One page of `warehouse_export_window`, oldest change first then by id (the own
    station's paging: `pages` at least 1, a page beyond it empty), with the lines."""
    window = warehouse_export_window(
        connection, modified_from=modified_from, modified_before=modified_before
    )
    total = window.count()
    pages = max(1, -(-total // page_size))
    start = (page - 1) * page_size
    orders: list[WarehouseOrder] = []
    if start < total:
        orders = list(
            window.prefetch_related("lines").order_by("updated_at", "id")[start : start + page_size]
        )
    return WarehouseExportPage(orders=orders, pages=pages, page=page)


def shared_invoices(orders: Iterable[Order]) -> set[tuple[int, str]]:
    """The (publisher, invoice) pairs among `orders` that more than one open production
    order of that publisher carries (open: not shipped or cancelled; HOLD orders count).
    One query for a whole page."""
    pairs = {(order.publisher_id, order.invoice) for order in orders if order.invoice}
    if not pairs:
        return set()
    rows = (
        Order.objects.filter(
            mode=Mode.PROD,
            publisher_id__in={publisher for publisher, _ in pairs},
            invoice__in={invoice for _, invoice in pairs},
        )
        .exclude(fulfillment_state__in=_CLOSED_STATES)
        .values("publisher_id", "invoice")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return {(row["publisher_id"], row["invoice"]) for row in rows} & pairs


def order_number(order: Order, *, shared: bool) -> str:
    """The OrderNumber a station shows: the invoice, or `invoice-orderid` when another open
    order of the publisher has the same invoice (the spec lets an invoice be used again on
    other products), or the order id when there is no invoice (or the combination would
    be longer than ShipStation's 50 characters)."""
    if not order.invoice:
        return str(order.id)
    if not shared:
        return order.invoice
    combined = f"{order.invoice}-{order.id}"
    return combined if len(combined) <= MAX_ORDER_NUMBER_LENGTH else str(order.id)


@dataclass(frozen=True)
class Lookup:
    """What a reference (a notice's OrderID or order_number, an imported row's first
    column) names: `order` when exactly one order, else the candidates' ids (none:
    unknown; several: ambiguous)."""

    order: Order | None
    candidates: tuple[int, ...]


def _order_id(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= _MAX_ORDER_ID else None


def order_by_station_id(connection: WarehouseConnection, reference: str) -> Order | None:
    """The order whose id is `reference` (ShipStation's OrderID, which is our order id),
    among those `connection` may know about; None when there is none."""
    order_id = _order_id(reference)
    if order_id is None:
        return None
    return station_orders(connection).filter(id=order_id).first()


def order_by_number(connection: WarehouseConnection, reference: str) -> Lookup:
    """The order `reference` names among those `connection` may know about: an invoice, an
    `invoice-orderid` order number, or an order id.

    Invoices are used again (on other products, and by different publishers), so several
    orders may match. An open order (not shipped or cancelled) is the one a station is
    shipping: when exactly one candidate is open it is the answer; when none is, a single
    candidate is (a repeated notice for a shipped order, or a cancelled one); otherwise the
    reference is ambiguous.
    """
    reference = reference.strip()
    if not reference or len(reference) > 200:
        return Lookup(order=None, candidates=())
    names = Q(invoice=reference)
    order_id = _order_id(reference)
    if order_id is not None:
        names |= Q(id=order_id)
    match = _INVOICE_AND_ID.match(reference)
    if match is not None:
        combined_id = _order_id(match.group(2))
        if combined_id is not None:
            names |= Q(id=combined_id, invoice=match.group(1))
    found = list(station_orders(connection).filter(names).order_by("id")[:20])
    candidates = tuple(order.id for order in found)
    open_orders = [order for order in found if order.fulfillment_state not in _CLOSED_STATES]
    if len(open_orders) == 1:
        return Lookup(order=open_orders[0], candidates=candidates)
    if not open_orders and len(found) == 1:
        return Lookup(order=found[0], candidates=candidates)
    return Lookup(order=None, candidates=candidates)


# --- the margin report -------------------------------------------------------------------


@dataclass(frozen=True)
class MarginRow:
    order_id: int
    publisher_id: int
    company: str
    invoice: str
    ship_date: date
    carrier: str
    service: str
    shipping_method: str
    paid_for_shipping: Decimal
    postage_cost: Decimal | None

    @property
    def margin(self) -> Decimal | None:
        if self.postage_cost is None:
            return None
        return self.paid_for_shipping - self.postage_cost


@dataclass(frozen=True)
class MarginReport:
    rows: list[MarginRow]
    date_from: date
    date_to: date
    orders: int
    without_cost: int
    paid_for_shipping: Decimal
    postage_cost: Decimal
    # Over the orders whose postage cost is known.
    margin: Decimal


def margin_report(*, date_from: date, date_to: date) -> MarginReport:
    """Every production order shipped from `date_from` to `date_to` (ship dates, both
    included), oldest first: what the publisher paid for shipping (`Order.shipping_cost`),
    what the postage cost (`Order.postage_cost`, when recorded) and the difference. The
    totals of paid and margin count only orders whose postage cost is known; the others are
    counted in `without_cost`."""
    cent = Decimal("0.01")
    orders = (
        Order.objects.filter(
            mode=Mode.PROD,
            fulfillment_state=S.SHIPPED,
            ship_date__gte=date_from,
            ship_date__lte=date_to,
        )
        .select_related("publisher")
        .order_by("ship_date", "id")
    )
    rows: list[MarginRow] = []
    for order in orders:
        assert order.ship_date is not None
        rows.append(
            MarginRow(
                order_id=order.id,
                publisher_id=order.publisher_id,
                company=order.publisher.company,
                invoice=order.invoice,
                ship_date=order.ship_date,
                carrier=order.carrier,
                service=order.service,
                shipping_method=order.shipping_method,
                paid_for_shipping=Decimal(order.shipping_cost).quantize(cent),
                postage_cost=(
                    Decimal(order.postage_cost).quantize(cent)
                    if order.postage_cost is not None
                    else None
                ),
            )
        )
    costed = [row for row in rows if row.postage_cost is not None]
    paid = sum((row.paid_for_shipping for row in costed), Decimal("0.00"))
    cost = sum((row.postage_cost or Decimal("0") for row in costed), Decimal("0.00"))
    return MarginReport(
        rows=rows,
        date_from=date_from,
        date_to=date_to,
        orders=len(rows),
        without_cost=len(rows) - len(costed),
        paid_for_shipping=paid,
        postage_cost=cost,
        margin=paid - cost,
    )


def warehouse_stock_levels(connection: WarehouseConnection) -> QuerySet[WarehouseStockLevel]:
    """The stock levels `connection`'s warehouse reported, one per SKU, by SKU."""
    return WarehouseStockLevel.objects.filter(connection=connection).order_by("sku")
