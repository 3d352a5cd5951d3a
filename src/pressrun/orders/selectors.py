"""Reads of orders."""

from __future__ import annotations

from pressrun.orders.models import Mode, Order


def order_by_invoices(*, publisher_id: int, invoices: list[str]) -> dict[str, Order]:
    """The publisher's order for each invoice that has one, in one indexed query.

    An invoice can name several orders (it is unique per product and mode, not per account):
    a production order wins over a test order, then the newest.
    """
    wanted = {invoice for invoice in invoices if invoice}
    found: dict[str, Order] = {}
    if not wanted:
        return found
    candidates = (
        Order.objects.filter(publisher_id=publisher_id, invoice__in=wanted)
        .only(
            "id",
            "invoice",
            "mode",
            "status",
            "name",
            "error_description",
            "ship_date",
            "shipping_method",
            "tracking_id",
            "created_at",
        )
        .order_by("id")
    )
    for order in candidates:
        current = found.get(order.invoice)
        if current is None or _rank(order) >= _rank(current):
            found[order.invoice] = order
    return found


def _rank(order: Order) -> tuple[int, int]:
    return (1 if order.mode == Mode.PROD else 0, order.id)
