"""The webhooks that follow what happens to orders: intake (`orders`), `billing` and
`fulfillment` publish domain events inside their transactions (`pressrun.orders.events`),
and these handlers, registered in `WebhooksConfig.ready()`, queue a delivery in the same
transaction when the publisher's endpoint takes that event (an outbox)."""

from __future__ import annotations

from pressrun.core.events import PreparedWrite, subscribe
from pressrun.orders.events import (
    AddressErrorRaised,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    ShipmentCorrected,
)
from pressrun.orders.models import OrderStatus
from pressrun.webhooks.models import WebhookEventType
from pressrun.webhooks.services import webhook_event_queue


def on_order_placed(event: OrderPlaced) -> None:
    """order.placed for every new order; order.held too when it waits on HOLD."""
    order = event.order
    webhook_event_queue(
        publisher_id=order.publisher_id, event_type=WebhookEventType.ORDER_PLACED, order=order
    )
    if order.status == OrderStatus.HOLD:
        webhook_event_queue(
            publisher_id=order.publisher_id, event_type=WebhookEventType.ORDER_HELD, order=order
        )


def prepare_order_placed(event: OrderPlaced) -> list[PreparedWrite] | None:
    """Before intake's transaction: nothing to write when the publisher's endpoint takes
    neither event (most publishers have none), as the copy of its events on the publisher
    read with the order's credentials says (`Publisher.webhook_events`, kept by
    `services.webhook_endpoint_save`); otherwise `on_order_placed` reads the endpoint and
    writes the deliveries in the transaction."""
    order = event.order
    wanted: set[str] = {WebhookEventType.ORDER_PLACED}
    if order.status == OrderStatus.HOLD:
        wanted.add(WebhookEventType.ORDER_HELD)
    return None if not wanted.isdisjoint(order.publisher.webhook_events) else []


def on_order_paid(event: OrderPaid) -> None:
    """order.released: a HOLD order was paid and entered fulfillment."""
    webhook_event_queue(
        publisher_id=event.order.publisher_id,
        event_type=WebhookEventType.ORDER_RELEASED,
        order=event.order,
    )


def on_order_shipped(event: OrderShipped) -> None:
    webhook_event_queue(
        publisher_id=event.order.publisher_id,
        event_type=WebhookEventType.ORDER_SHIPPED,
        order=event.order,
    )


def on_address_error(event: AddressErrorRaised) -> None:
    webhook_event_queue(
        publisher_id=event.order.publisher_id,
        event_type=WebhookEventType.ORDER_ADDRESS_ERROR,
        order=event.order,
    )


def on_shipment_corrected(event: ShipmentCorrected) -> None:
    """order.shipment_corrected, the body's `shipment` the corrected one: when the
    correction changed what that shows (a corrected postage cost alone is not in it)."""
    if not event.changed - {"postage_cost"}:
        return
    webhook_event_queue(
        publisher_id=event.order.publisher_id,
        event_type=WebhookEventType.ORDER_SHIPMENT_CORRECTED,
        order=event.order,
    )


def register() -> None:
    """Subscribe the handlers above (idempotent)."""
    subscribe(OrderPlaced, on_order_placed, prepare=prepare_order_placed)
    subscribe(OrderPaid, on_order_paid)
    subscribe(OrderShipped, on_order_shipped)
    subscribe(AddressErrorRaised, on_address_error)
    subscribe(ShipmentCorrected, on_shipment_corrected)
