"""Reads for the customer's page: the order behind a link, and whether it may still change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from pressrun.orders.changes import CUSTOMER_CORRECTABLE, customer_change_deadline
from pressrun.orders.models import Order, OrderLine, OrderStatus


def order_by_customer_token(token: str) -> Order | None:
    """The order whose address-change link carries `token`, or None."""
    return Order.objects.select_related("publisher").filter(customer_token=token).first()


def order_lines(order: Order) -> list[OrderLine]:
    return list(order.lines.select_related("project").order_by("position"))


@dataclass(frozen=True)
class AddressChangeWindow:
    """Whether the customer may correct the address now, until when, and if not, why."""

    is_open: bool
    deadline: datetime | None
    closed_because: str  # "" while open; "not_offered", "too_late" otherwise


def address_change_window(order: Order) -> AddressChangeWindow:
    """The same rules `order_correct_address` enforces, for showing the page; the service
    checks them again under the order's row lock when the customer submits."""
    deadline = customer_change_deadline(order)
    if deadline is None:
        return AddressChangeWindow(False, None, "not_offered")
    if order.status not in CUSTOMER_CORRECTABLE or timezone.now() >= deadline:
        return AddressChangeWindow(False, deadline, "too_late")
    return AddressChangeWindow(True, deadline, "")


CUSTOMER_STATUS_WORDS = {
    OrderStatus.HOLD: "Received, being prepared",
    OrderStatus.PROCESSING: "Received, being prepared",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.ERROR: "We are checking the address",
    OrderStatus.TEST: "Test order (it will not be made or shipped)",
}


def customer_status(order: Order) -> str:
    """The order's status in the customer's words (no billing states)."""
    return CUSTOMER_STATUS_WORDS.get(OrderStatus(order.status), str(order.status))
