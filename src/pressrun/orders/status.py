"""The order status table and the one function that changes an order's status.

HOLD ──(paid)──▶ PROCESSING ──▶ SHIPPED
  │                  │  ▲
  └──▶ ERROR ◀───────┘  └── (address fixed)
TEST: final; test orders are never made or shipped.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from pressrun.orders.models import Order, OrderEvent, OrderStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.HOLD: frozenset({OrderStatus.PROCESSING, OrderStatus.ERROR}),
    OrderStatus.PROCESSING: frozenset({OrderStatus.SHIPPED, OrderStatus.ERROR}),
    OrderStatus.ERROR: frozenset({OrderStatus.PROCESSING, OrderStatus.SHIPPED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.ERROR}),
    OrderStatus.TEST: frozenset(),
}


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, frozenset())


def record_transition(
    *,
    order: Order,
    to_status: str,
    kind: str,
    message: str,
    actor: str,
    extra_fields: tuple[str, ...] = (),
    at: datetime | None = None,
) -> OrderEvent:
    """Set `order.status`, save it with `extra_fields`, and write the event.

    The caller holds the order's row lock (or has just created the order) and has checked
    `can_transition`; this function only records.
    """
    from_status = order.status
    order.status = to_status
    order.save(update_fields=["status", "updated_at", *extra_fields])
    return OrderEvent.objects.create(
        order=order,
        at=at or timezone.now(),
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        message=message,
        actor=actor,
    )
