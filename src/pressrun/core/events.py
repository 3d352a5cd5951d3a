"""Domain events: a lower layer says what happened, the layers above decide what follows.

`orders` (intake and changes) must not know that emails exist, yet every order it places,
ships, changes or deletes may need one. So it calls `publish(OrderPlaced(...))` inside the
transaction that made the change, and `notifications` (an upper layer) subscribes to that
event type in its `AppConfig.ready()`. Subscribers run synchronously, in the publisher's
transaction: what they write (an email row, a queued task) commits with the change or rolls
back with it, which is the outbox rule of docs/emails.md. A subscriber therefore must only
write to the database (queue tasks, store rows); anything slow or outside the process belongs
in a task it queues.

A write path that must hold its transaction short (intake) can have the subscribers'
writes prepared before the transaction begins: a subscriber registered with `prepare` says,
given the event as it will be (its order's id may still be `core.prepared.PENDING_ID`), which
writes it would make (statements with an `execute(pending_id)`), or None to be called in the
transaction as usual. `publication_prepare(event)` collects them; the publication's
`publish(pending_id)`, inside the transaction, executes those writes and calls the other
subscribers. What a prepared subscriber reads to decide is read before the transaction.

Deliberately small: event types are plain frozen dataclasses subclassing `DomainEvent`; a
subscriber is a callable taking the event; there is no wildcard, no ordering between
subscribers beyond registration order, and no asynchronous delivery. An exception in a
subscriber propagates to the publisher, so its transaction rolls back (nothing half done).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

E = TypeVar("E", bound="DomainEvent")


@dataclass(frozen=True)
class DomainEvent:
    """Base of every event type: a record of something that has happened."""


class PreparedWrite(Protocol):
    """A statement prepared before its transaction (`core.prepared.PreparedInsert`,
    `core.task_backend.PreparedTask`): `execute` runs it, `PENDING_ID` replaced by the id."""

    def execute(self, pending_id: int | None = None) -> Any: ...


_subscribers: dict[type[DomainEvent], list[Callable[[Any], None]]] = {}
# A subscriber's `prepare`, by event type and subscriber (one handler may serve several types).
_preparers: dict[
    tuple[type[DomainEvent], Callable[[Any], None]],
    Callable[[Any], Sequence[PreparedWrite] | None],
] = {}


def subscribe(
    event_type: type[E],
    handler: Callable[[E], None],
    *,
    prepare: Callable[[E], Sequence[PreparedWrite] | None] | None = None,
) -> None:
    """Call `handler(event)` for every published event of exactly `event_type`.

    With `prepare`, a publication prepared before its transaction (`publication_prepare`)
    calls `prepare(event)` instead, then, and executes the writes it returns in the
    transaction; when it returns None, `handler` is called in the transaction as usual.
    `prepare` must make, in writes, exactly what `handler` would.

    Registering the same handler twice for a type registers it once (an app's `ready()` may
    run more than once in tests)."""
    handlers = _subscribers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)
    if prepare is not None:
        _preparers[(event_type, handler)] = prepare


def unsubscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Stop calling `handler` for `event_type` (tests)."""
    handlers = _subscribers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)
    _preparers.pop((event_type, handler), None)


def subscribers(event_type: type[DomainEvent]) -> tuple[Callable[[Any], None], ...]:
    """The handlers `publish` calls for `event_type`, in registration order."""
    return tuple(_subscribers.get(event_type, ()))


def publish(event: DomainEvent) -> None:
    """Hand `event` to each subscriber of its type, in order, now.

    Call it inside the transaction that made the change the event describes, so that the
    subscribers' writes commit or roll back with it."""
    for handler in subscribers(type(event)):
        handler(event)


@dataclass
class Publication:
    """An event's subscribers, prepared before the transaction: `publish` runs them in it."""

    event: DomainEvent
    writes: list[PreparedWrite] = field(default_factory=list)
    handlers: list[Callable[[Any], None]] = field(default_factory=list)

    def publish(self, pending_id: int | None = None) -> None:
        """In the transaction of the change: the prepared writes, then the subscribers that
        had nothing prepared, with the event (whose ids are real by now)."""
        self.write(pending_id)
        self.notify()

    def write(self, pending_id: int | None = None) -> None:
        """The prepared writes alone (they may go out in a statement pipeline,
        `core.prepared.pipelined`); `notify` must follow in the same transaction."""
        for write in self.writes:
            write.execute(pending_id)

    def notify(self) -> None:
        """The subscribers that had nothing prepared (never inside a statement pipeline:
        they use the ORM)."""
        for handler in self.handlers:
            handler(self.event)


def publication_prepare(event: DomainEvent) -> Publication:
    """Before the transaction: what each subscriber of `event`'s type will do, prepared
    where it can be (see `subscribe`)."""
    publication = Publication(event)
    for handler in subscribers(type(event)):
        prepare = _preparers.get((type(event), handler))
        writes = prepare(event) if prepare is not None else None
        if writes is None:
            publication.handlers.append(handler)
        else:
            publication.writes.extend(writes)
    return publication
