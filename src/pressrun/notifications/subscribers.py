"""The emails that follow what happens to orders: `orders` publishes domain events
(`pressrun.orders.events`) inside its transactions, and these handlers, registered in
`NotificationsConfig.ready()`, queue the emails in the same transaction (an outbox: the
change and its email commit together or not at all). A new order's notification follows
`PlacedOrderRelayed`, published by the worker's relay of intake's placed events, whose
history row is the outbox that commits with the order (`orders.relay`)."""

from __future__ import annotations

from pressrun.core.events import PreparedWrite, subscribe
from pressrun.core.task_backend import task_enqueue_prepare
from pressrun.notifications.services import (
    notify_order_cancelled,
    notify_order_changed,
    order_email_recipients,
)
from pressrun.notifications.tasks import (
    address_error_email,
    order_placed_email,
    order_shipped_email,
    shipment_corrected_email,
)
from pressrun.orders.events import (
    AddressErrorRaised,
    OrderChanged,
    OrderDeleted,
    OrderShipped,
    PlacedOrderRelayed,
    ShipmentCorrected,
)
from pressrun.orders.models import Order, OrderStatus


def on_placed_order_relayed(event: PlacedOrderRelayed) -> None:
    """Queue the task that renders the notification and the HOLD reminder (the relay runs
    outside intake's transaction: `orders.relay`). Nothing is queued when no email can
    result."""
    if _placed_email_wanted(event.order):
        order_placed_email.enqueue(order_id=event.order.id)


def prepare_placed_order_relayed(event: PlacedOrderRelayed) -> list[PreparedWrite] | None:
    """`on_placed_order_relayed`'s task row, prepared before the relay's transaction."""
    if not _placed_email_wanted(event.order):
        return []
    prepared = task_enqueue_prepare(order_placed_email, order_id=event.order.id)
    return None if prepared is None else [prepared]


def _placed_email_wanted(order: Order) -> bool:
    return order.status == OrderStatus.HOLD or bool(order_email_recipients(order))


def on_order_shipped(event: OrderShipped) -> None:
    """Queue the tracking email; a shipment without a tracking ID (a letter) has none."""
    if event.order.tracking_id:
        order_shipped_email.enqueue(order_id=event.order.id)


def on_shipment_corrected(event: ShipmentCorrected) -> None:
    """Queue the customer's corrected tracking email when the correction changed what the
    tracking email says (the tracking ID or the carrier; a corrected ship date or postage
    cost is not the customer's concern) and there is a tracking ID to tell."""
    order = event.order
    if not order.tracking_id or event.changed.isdisjoint({"tracking_id", "carrier"}):
        return
    if order_email_recipients(order):
        shipment_corrected_email.enqueue(order_id=order.id, history_event_id=event.history_event_id)


def on_order_changed(event: OrderChanged) -> None:
    notify_order_changed(change=event)


def on_order_deleted(event: OrderDeleted) -> None:
    notify_order_cancelled(deleted=event)


def on_address_error(event: AddressErrorRaised) -> None:
    """Queue the customer's email with the reopened address-change link (rendered by the
    task, which sends nothing if the address was fixed meanwhile)."""
    if order_email_recipients(event.order):
        address_error_email.enqueue(
            order_id=event.order.id, history_event_id=event.history_event_id
        )


def register() -> None:
    """Subscribe the handlers above (idempotent)."""
    subscribe(PlacedOrderRelayed, on_placed_order_relayed, prepare=prepare_placed_order_relayed)
    subscribe(OrderShipped, on_order_shipped)
    subscribe(ShipmentCorrected, on_shipment_corrected)
    subscribe(OrderChanged, on_order_changed)
    subscribe(OrderDeleted, on_order_deleted)
    subscribe(AddressErrorRaised, on_address_error)
