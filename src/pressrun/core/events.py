"""Domain events: a lower layer says what happened, the layers above decide what follows.

`orders` (intake and changes) must not know that emails exist, yet every order it places,
ships, changes or deletes may need one. So it calls `publish(OrderPlaced(...))` inside the
transaction that made the change, and `notifications` (an upper layer) subscribes to that
event type in its `AppConfig.ready()`. Subscribers run synchronously, in the publisher's
transaction: what they write (an email row, a queued task) commits with the change or rolls
back with it, which is the outbox rule of docs/emails.md. A subscriber therefore must only
write to the database (queue tasks, store rows); anything slow or outside the process belongs
in a task it queues.

Deliberately small: event types are plain frozen dataclasses subclassing `DomainEvent`; a
subscriber is a callable taking the event; there is no wildcard, no ordering between
subscribers beyond registration order, and no asynchronous delivery. An exception in a
subscriber propagates to the publisher, so its transaction rolls back (nothing half done).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

E = TypeVar("E", bound="DomainEvent")


@dataclass(frozen=True)
class DomainEvent:
    """Base of every event type: a record of something that has happened."""


_subscribers: dict[type[DomainEvent], list[Callable[[Any], None]]] = {}


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Call `handler(event)` for every published event of exactly `event_type`.

    Registering the same handler twice for a type registers it once (an app's `ready()` may
    run more than once in tests)."""
    handlers = _subscribers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Stop calling `handler` for `event_type` (tests)."""
    handlers = _subscribers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)


def subscribers(event_type: type[DomainEvent]) -> tuple[Callable[[Any], None], ...]:
    """The handlers `publish` calls for `event_type`, in registration order."""
    return tuple(_subscribers.get(event_type, ()))


def publish(event: DomainEvent) -> None:
    """Hand `event` to each subscriber of its type, in order, now.

    Call it inside the transaction that made the change the event describes, so that the
    subscribers' writes commit or roll back with it."""
    for handler in subscribers(type(event)):
        handler(event)
