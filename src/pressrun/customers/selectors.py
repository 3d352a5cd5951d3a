"""Reads for the customer's page: the order behind a link and its status in words (its lines:
`orders.selectors.order_lines_with_projects`, the notifications' read)."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from pressrun.orders.models import Order, OrderDeletion, OrderStatus


def order_by_customer_token(token: str) -> Order | None:
    """The order whose address-change link carries `token`, or None."""
    return Order.objects.select_related("publisher").filter(customer_token=token).first()


def deleted_order_by_customer_token(token: str) -> OrderDeletion | None:
    """What remains of the order whose link carries `token`, when its publisher deleted it."""
    if not token:
        return None
    return OrderDeletion.objects.select_related("publisher").filter(customer_token=token).first()


CUSTOMER_STATUS_WORDS = {
    OrderStatus.HOLD: "Received, being prepared",
    OrderStatus.PROCESSING: "Received, being prepared",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.ERROR: "On hold: the address needs correcting",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.TEST: "Test order (it will not be made or shipped)",
}


def customer_status(order: Order) -> str:
    """The order's status in the customer's words (no billing states)."""
    return CUSTOMER_STATUS_WORDS.get(OrderStatus(order.status), str(order.status))


def address_hidden_since(order: Order, *, today: date | None = None) -> date | None:
    """The day from which the page no longer shows the order's address and items (its ship
    date + `CUSTOMER_ADDRESS_VISIBLE_DAYS`), when that day has come; else None (not shipped,
    or shipped recently). A link forwarded or found long after delivery shows the status
    only, never where the customer lives."""
    if order.status != OrderStatus.SHIPPED or order.ship_date is None:
        return None
    hidden_from = order.ship_date + timedelta(days=max(settings.CUSTOMER_ADDRESS_VISIBLE_DAYS, 0))
    return hidden_from if (today or timezone.now().date()) >= hidden_from else None
