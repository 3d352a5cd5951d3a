"""What the address check does when orders change: the handlers of the domain events,
registered by `FulfillmentConfig.ready()`. Each runs in the transaction of the change, so the
check it queues (a task row) commits with the change or not at all.

- a paid order (paid at once: `PlacedOrderRelayed`, from the worker's relay of intake's
  placed orders; paid later: `OrderPaid`) gets its address checked;
- a corrected address (`OrderAddressCorrected`) gets checked again, and an order that was
  stopped in address error goes back to ready (waiting while its postage window is open)
  through `fulfillment_move`, recorded as moved by whoever corrected it;
- an order stopped in address error (`AddressErrorRaised`) records who stopped it in its
  check note; one put back to ready *without* a corrected address (`OrderReady` from
  address error, e.g. an operator's "Change status") counts as accepted as it is, so the
  check does not stop it again.
"""

from __future__ import annotations

from django.utils import timezone

from pressrun.core.events import PreparedWrite, subscribe
from pressrun.core.task_backend import task_enqueue_prepare
from pressrun.fulfillment.address.selectors import CHECKABLE_STATES
from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.events import (
    AddressErrorRaised,
    OrderAddressCorrected,
    OrderPaid,
    OrderReady,
    PlacedOrderRelayed,
)
from pressrun.orders.models import FulfillmentState, Mode, Order

S = FulfillmentState
MAX_NOTE_LENGTH = 500


def _queue_check(order: Order) -> None:
    from pressrun.fulfillment.address.tasks import check_order_address

    if _checkable(order):
        check_order_address.enqueue(order_id=order.id)


def _checkable(order: Order) -> bool:
    return order.mode == Mode.PROD and order.fulfillment_state in CHECKABLE_STATES


def on_placed_order_relayed(event: PlacedOrderRelayed) -> None:
    """Paid at once (PROCESSING): check the address. HOLD and test orders are not checked
    (a HOLD order gets its check when paid). The relay runs outside intake's transaction
    (`orders.relay`)."""
    if event.order.fulfillment_state:
        _queue_check(event.order)


def prepare_placed_order_relayed(event: PlacedOrderRelayed) -> list[PreparedWrite] | None:
    """`on_placed_order_relayed`'s task row, prepared before the relay's transaction."""
    from pressrun.fulfillment.address.tasks import check_order_address

    if not (event.order.fulfillment_state and _checkable(event.order)):
        return []
    prepared = task_enqueue_prepare(check_order_address, order_id=event.order.id)
    return None if prepared is None else [prepared]


def on_order_paid(event: OrderPaid) -> None:
    _queue_check(event.order)


def on_address_corrected(event: OrderAddressCorrected) -> None:
    order = event.order
    if event.was_address_error and order.fulfillment_state == S.ADDRESS_ERROR:
        moved = fulfillment_move(
            order_id=order.id,
            to=S.READY,
            actor=event.actor,
            from_states={S.ADDRESS_ERROR},
        ).order
        order.fulfillment_state = moved.fulfillment_state
        order.status = moved.status
        order.error_description = moved.error_description
    _queue_check(order)


def on_address_error(event: AddressErrorRaised) -> None:
    Order.objects.filter(id=event.order.id).update(
        address_check_note=f"Stopped by {event.actor}: {event.description}"[:MAX_NOTE_LENGTH]
    )


def on_order_ready(event: OrderReady) -> None:
    """Back to ready from address error. A corrected address has an empty check note (the
    correction cleared it) and its check is queued by `on_address_corrected`; otherwise the
    address was accepted as it is by whoever moved the order."""
    if event.from_state != S.ADDRESS_ERROR:
        return
    order = Order.objects.filter(id=event.order.id).values_list(
        "address_checked_at", "address_check_note"
    )
    found = order.first()
    if found is None or not found[1]:
        return
    checked_at = found[0] or timezone.now()
    Order.objects.filter(id=event.order.id).update(
        address_checked_at=checked_at,
        address_check_note=f"Accepted as it is by {event.actor}."[:MAX_NOTE_LENGTH],
    )


def register() -> None:
    """Subscribe the handlers above (idempotent)."""
    subscribe(PlacedOrderRelayed, on_placed_order_relayed, prepare=prepare_placed_order_relayed)
    subscribe(OrderPaid, on_order_paid)
    subscribe(OrderAddressCorrected, on_address_corrected)
    subscribe(AddressErrorRaised, on_address_error)
    subscribe(OrderReady, on_order_ready)
