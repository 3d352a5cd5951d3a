"""The order's status, what the publisher is told, and how a paid order enters fulfillment.

An order has two state columns (`orders/models.py`):

- `status`, what the publisher sees and the gateway's status call reports: HOLD (waiting for
  payment), TEST, and, once the order is paid, a summary of its physical state;
- `fulfillment_state`, where a paid order physically is. Its table of moves is
  `pressrun.fulfillment.states`, and every move goes through
  `pressrun.fulfillment.services.fulfillment_move`, which keeps `status` equal to
  the status the table declares for the new state, in the same write.

The only status change made here, below fulfillment, is payment: HOLD → PROCESSING, by intake
(paid at once) or billing (a payment releases HOLD orders, or an operator pays one). Payment
is also where an order enters fulfillment, as WAITING or READY
(`fulfillment_state_on_payment`), in the same write.

    HOLD ──(paid)──▶ PROCESSING (waiting / ready / in production / packed)
                         │  ▲                     │
                         ▼  │ (address fixed)     ▼
                        ERROR (address error)   SHIPPED
    PROCESSING or ERROR ──(operator refund)──▶ CANCELLED
    TEST: final; test orders are never paid, made or shipped.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from pressrun.orders.models import FulfillmentState, Order, OrderEvent


def fulfillment_state_on_payment(order: Order, *, now: datetime) -> str:
    """The physical state an order enters when it is paid at `now`.

    WAITING while it has a postage window (`address_changes_until`, fixed when it was placed)
    that has not ended before `now`: intake always enters a paid order with a window here,
    even a window of 0 hours, and the postage-window task (or the next move) takes it on.
    READY when it has no window (the publisher offers no address changes) or the window
    ended before the payment (a HOLD order paid late is ready at once). Readers treat a
    WAITING order whose window has ended as READY (`pressrun.fulfillment.selectors`).
    """
    deadline = order.address_changes_until
    if deadline is not None and deadline >= now:
        return FulfillmentState.WAITING
    return FulfillmentState.READY


def order_enter_fulfillment(order: Order, *, now: datetime) -> tuple[str, ...]:
    """Enter `order`, just paid at `now`, into fulfillment, on the instance only; returns the
    names of the fields set, for the caller's save. The caller sets its status to
    PROCESSING in the same write."""
    order.fulfillment_state = fulfillment_state_on_payment(order, now=now)
    order.fulfillment_updated_at = now
    return ("fulfillment_state", "fulfillment_updated_at")


def record_transition(
    *,
    order: Order,
    to_status: str,
    kind: str,
    message: str,
    actor: str,
    extra_fields: tuple[str, ...] = (),
    from_state: str | None = None,
    at: datetime | None = None,
) -> OrderEvent:
    """Set `order.status` to `to_status`, save it with `extra_fields`, and write the event.

    The caller holds the order's row lock (or has just created the order) and has checked
    that the change is allowed; this function only records. The event carries the physical
    state before (`from_state`, when the caller changed it; else the state is unchanged) and
    after (`order.fulfillment_state`).
    """
    from_status = order.status
    order.status = to_status
    fields = dict.fromkeys(["status", "updated_at", *extra_fields])
    order.save(update_fields=list(fields))
    return OrderEvent.objects.create(
        order=order,
        at=at or timezone.now(),
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        from_state=order.fulfillment_state if from_state is None else from_state,
        to_state=order.fulfillment_state,
        message=message,
        actor=actor,
    )
