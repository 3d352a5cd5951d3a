"""The webhooks that follow what happens to orders: intake (`orders`), `billing` and
`fulfillment` publish domain events inside their transactions (`pressrun.orders.events`),
and these handlers, registered in `WebhooksConfig.ready()`, queue a delivery in the same
transaction when the publisher's endpoint takes that event (an outbox). They also keep the
publisher's copy of what its endpoint takes (`Publisher.webhook_events`), by which intake
knows before its transaction, without reading the endpoint, that no webhook follows."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from pressrun.accounts.services import publisher_webhook_events_set
from pressrun.core.events import PreparedWrite, subscribe
from pressrun.orders.events import AddressErrorRaised, OrderPaid, OrderPlaced, OrderShipped
from pressrun.orders.models import OrderStatus
from pressrun.webhooks.models import WebhookEndpoint, WebhookEventType
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
    read with the order's credentials says (`endpoint_events_copy`); otherwise
    `on_order_placed` reads the endpoint and writes the deliveries in the transaction."""
    order = event.order
    wanted: set[str] = {WebhookEventType.ORDER_PLACED}
    if order.status == OrderStatus.HOLD:
        wanted.add(WebhookEventType.ORDER_HELD)
    return None if not wanted.isdisjoint(order.publisher.webhook_events) else []


def endpoint_events_copy(endpoint: WebhookEndpoint, *, deleted: bool = False) -> None:
    """Keep the publisher's copy of what its endpoint takes (`Publisher.webhook_events`)
    equal to the endpoint: after every save and delete of an endpoint, in its
    transaction, whatever saved it (the dashboard, the admin, a test)."""
    taken = [] if deleted or not endpoint.enabled else list(endpoint.event_types)
    publisher_webhook_events_set(publisher_id=endpoint.publisher_id, event_types=taken)
    # The publisher the endpoint was saved with may place the next order (a script, the
    # tests): it says the same as its row.
    cached = endpoint._state.fields_cache.get("publisher")
    if cached is not None:
        cached.webhook_events = sorted(taken)


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


def _endpoint_saved(sender: type[WebhookEndpoint], instance: WebhookEndpoint, **_: Any) -> None:
    endpoint_events_copy(instance)


def _endpoint_deleted(sender: type[WebhookEndpoint], instance: WebhookEndpoint, **_: Any) -> None:
    endpoint_events_copy(instance, deleted=True)


def register() -> None:
    """Subscribe the handlers above (idempotent)."""
    post_save.connect(_endpoint_saved, sender=WebhookEndpoint, dispatch_uid="endpoint_saved")
    post_delete.connect(_endpoint_deleted, sender=WebhookEndpoint, dispatch_uid="endpoint_deleted")
    subscribe(OrderPlaced, on_order_placed, prepare=prepare_order_placed)
    subscribe(OrderPaid, on_order_paid)
    subscribe(OrderShipped, on_order_shipped)
    subscribe(AddressErrorRaised, on_address_error)
