"""Reads of orders: status replies, and the dashboard's order list, export and detail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.db.models import Prefetch, Q, QuerySet

from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery
from pressrun.catalog.models import Project
from pressrun.core.prepared import PreparedRowRead, PreparedRowsRead
from pressrun.orders.models import Mode, Order, OrderDeletion, OrderLine


class OrderStatusRow(NamedTuple):
    """What a status reply shows of an order: plain values, no model instance (a status call
    reads up to 100 orders, and building model objects would be most of its cost)."""

    id: int
    invoice: str
    mode: str
    status: str
    name: str
    error_description: str
    ship_date: date | None
    shipping_method: str
    tracking_id: str


# Compiled once per process and number of invoices: building and compiling the queryset
# cost as much as running it. No ORDER BY: `order_by_invoices` ranks the rows itself, and
# without it the database skips a sort of the rows read.
_orders_by_invoice = PreparedRowsRead(
    Order, columns=OrderStatusRow._fields, keys=("publisher_id",), among="invoice"
)


def order_by_invoices(*, publisher_id: int, invoices: list[str]) -> dict[str, OrderStatusRow]:
    """The publisher's order for each invoice that has one, in one indexed query.

    An invoice can name several orders (it is unique per product and mode, not per account):
    a production order wins over a test order, then the newest.
    """
    wanted = list({invoice for invoice in invoices if invoice})
    found: dict[str, OrderStatusRow] = {}
    if not wanted:
        return found
    make = OrderStatusRow._make
    for values in _orders_by_invoice.rows(publisher_id, among=wanted):
        row = make(values)
        current = found.get(row.invoice)
        if current is None or _rank(row) > _rank(current):
            found[row.invoice] = row
    return found


def _rank(row: OrderStatusRow) -> tuple[int, int]:
    return (1 if row.mode == Mode.PROD else 0, row.id)


# The follow-up tasks (notifications, the address check) read their order by id, once or
# twice a task: compiled once per process (core.prepared), as intake reads its rows. Built
# and compiled per call, the queryset cost 0.3 to 0.5 ms of a worker's CPU, the read itself
# 0.04 (docs/performance.md, twenty-fourth round).
_order_by_id = PreparedRowRead(Order)
_order_by_id_locked = PreparedRowRead(Order, for_update=True)
_publisher_by_id = PreparedRowRead(Publisher)
_lines_of_order = PreparedRowRead(OrderLine, keys=("order",), order_by=("position",))
_project_by_id = PreparedRowRead(Project)


def order_by_id(order_id: int, *, for_update: bool = False) -> Order | None:
    """Order `order_id`, or None when there is none; with `for_update`, its row stays locked
    until the transaction ends, as `select_for_update()` locks it."""
    read = _order_by_id_locked if for_update else _order_by_id
    order: Order | None = read.get(order_id)
    return order


def order_with_publisher(order_id: int) -> Order | None:
    """Order `order_id` with its publisher read too (`order.publisher` costs no query), or
    None when there is none. Two statements, no join: each compiled once."""
    order = order_by_id(order_id)
    if order is None:
        return None
    # Never None: a publisher with orders cannot be deleted (PROTECT).
    order.publisher = _publisher_by_id.get(order.publisher_id)
    return order


def order_lines_with_projects(order_id: int) -> list[OrderLine]:
    """Order `order_id`'s lines in their order, each with its product read too
    (`line.project` costs no query): one statement for the lines and one per product, each
    compiled once."""
    lines: list[OrderLine] = _lines_of_order.all(order_id)
    projects: dict[int, Project] = {}
    for line in lines:
        project = projects.get(line.project_id)
        if project is None:
            # Never None: a product with orders cannot be deleted (PROTECT).
            project = projects[line.project_id] = _project_by_id.get(line.project_id)
        line.project = project
    return lines


@dataclass(frozen=True)
class OrderFilters:
    """What the order list is narrowed to; blank / None means "any"."""

    mode: str = ""
    status: str = ""
    source: str = ""
    placed_from: date | None = None  # first day, UTC
    placed_to: date | None = None  # last day, UTC, included
    search: str = ""
    # A further condition from a layer above orders, e.g. the physical state with the
    # postage-window rule applied (pressrun.fulfillment.selectors.state_q).
    where: Q | None = None


_MAX_ORDER_ID = 2**63 - 1


def orders_filtered(*, publisher_id: int, filters: OrderFilters) -> QuerySet[Order]:
    """The publisher's orders matching `filters`, newest first.

    `search` matches part of the invoice, customer name, email, tracking ID or cart store
    (Shopify's shop domain), ignoring case, or an order number exactly. Dates are UTC days,
    both ends included.
    """
    orders = Order.objects.filter(publisher_id=publisher_id)
    if filters.mode:
        orders = orders.filter(mode=filters.mode)
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.source:
        orders = orders.filter(source=filters.source)
    if filters.where is not None:
        orders = orders.filter(filters.where)
    if filters.placed_from is not None:
        orders = orders.filter(created_at__gte=datetime.combine(filters.placed_from, time.min, UTC))
    if filters.placed_to is not None and filters.placed_to < date.max:
        end = datetime.combine(filters.placed_to + timedelta(days=1), time.min, UTC)
        orders = orders.filter(created_at__lt=end)
    search = filters.search.strip()
    if search:
        matches = (
            Q(invoice__icontains=search)
            | Q(name__icontains=search)
            | Q(email__icontains=search)
            | Q(tracking_id__icontains=search)
            | Q(store__icontains=search)
        )
        if search.isascii() and search.isdigit() and int(search) <= _MAX_ORDER_ID:
            matches |= Q(id=int(search))
        orders = orders.filter(matches)
    return orders.order_by("-created_at", "-id")


def order_deletion_for_publisher(*, publisher_id: int, order_number: int) -> OrderDeletion | None:
    """What remains of the publisher's order `order_number` if the publisher deleted it."""
    return (
        OrderDeletion.objects.filter(publisher_id=publisher_id, order_number=order_number)
        .order_by("-deleted_at")
        .first()
    )


def order_for_publisher(*, publisher_id: int, order_id: int) -> Order | None:
    """The publisher's order `order_id` with its lines (and projects), history and the cart
    deliveries that carried it; None when it does not exist or is another publisher's."""
    deliveries = InboundDelivery.objects.defer("body", "headers").order_by("received_at", "id")
    return (
        Order.objects.filter(publisher_id=publisher_id, id=order_id)
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("project")),
            "events",
            Prefetch("inbound_deliveries", queryset=deliveries),
        )
        .first()
    )


ORDER_EXPORT_COLUMNS = (
    "order",
    "invoice",
    "mode",
    "status",
    "source",
    "store",
    "placed_utc",
    "name",
    "company",
    "email",
    "address",
    "city",
    "state",
    "postal_code",
    "country",
    "mail_method",
    "shipping_method",
    "products",
    "quantity",
    "products_cost",
    "shipping_cost",
    "total_cost",
    "ship_date",
    "tracking_id",
    "error",
)
_EXPORT_CHUNK = 500


def order_export_rows(*, publisher_id: int, filters: OrderFilters) -> Iterator[tuple[str, ...]]:
    """The matching orders as rows of text in `ORDER_EXPORT_COLUMNS` order, newest first,
    read in chunks so an export of any size keeps memory flat. `products` lists
    "project ID x quantity" per line, space-separated; money has two places."""
    orders = orders_filtered(publisher_id=publisher_id, filters=filters).prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("position"))
    )
    for order in orders.iterator(chunk_size=_EXPORT_CHUNK):
        lines = list(order.lines.all())
        yield (
            str(order.id),
            order.invoice,
            order.mode,
            order.status,
            order.source,
            order.store,
            order.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            order.name,
            order.company,
            order.email,
            order.address,
            order.city,
            order.state,
            order.postal_code,
            order.country,
            order.mail_method,
            order.shipping_method,
            " ".join(f"{line.project_id}x{line.quantity}" for line in lines),
            str(sum(line.quantity for line in lines)),
            f"{order.products_cost:.2f}",
            f"{order.shipping_cost:.2f}",
            f"{order.total_cost:.2f}",
            order.ship_date.isoformat() if order.ship_date else "",
            order.tracking_id,
            order.error_description,
        )
