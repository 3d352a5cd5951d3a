"""Reads of orders."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from pressrun.orders.models import Mode, Order


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


_STATUS_COLUMNS = OrderStatusRow._fields


def order_by_invoices(*, publisher_id: int, invoices: list[str]) -> dict[str, OrderStatusRow]:
    """The publisher's order for each invoice that has one, in one indexed query.

    An invoice can name several orders (it is unique per product and mode, not per account):
    a production order wins over a test order, then the newest.
    """
    wanted = {invoice for invoice in invoices if invoice}
    found: dict[str, OrderStatusRow] = {}
    if not wanted:
        return found
    rows = Order.objects.filter(publisher_id=publisher_id, invoice__in=wanted).values_list(
        *_STATUS_COLUMNS
    )
    for values in rows:
        row = OrderStatusRow(*values)
        current = found.get(row.invoice)
        if current is None or _rank(row) > _rank(current):
            found[row.invoice] = row
    return found


def _rank(row: OrderStatusRow) -> tuple[int, int]:
    return (1 if row.mode == Mode.PROD else 0, row.id)
