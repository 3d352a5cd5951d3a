"""Records the row locks taken on deliveries, to check what a lock covers on databases that
have FOR UPDATE (SQLite, where the suite usually runs, has none)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.db.models.query import QuerySet

from pressrun.carts.models import InboundDelivery


@contextmanager
def record_delivery_locks() -> Iterator[list[tuple[str, ...]]]:
    """The `of` argument of every select_for_update() on an InboundDelivery queryset."""
    locks: list[tuple[str, ...]] = []
    original = QuerySet.select_for_update

    def spy(queryset: QuerySet[Any], *args: Any, **kwargs: Any) -> QuerySet[Any]:
        if queryset.model is InboundDelivery:
            locks.append(tuple(kwargs.get("of", ())))
        return original(queryset, *args, **kwargs)

    with mock.patch.object(QuerySet, "select_for_update", spy):
        yield locks


@contextmanager
def probe_delivery_locks(monkeypatch: Any) -> Iterator[list[tuple[bool, bool]]]:
    """PostgreSQL, committed rows (`django_db(transaction=True)`): each time a delivery is
    read with its publisher under its row lock (`carts.locks.delivery_locked_with_publisher`),
    whether another connection could then lock (NOWAIT) the delivery's row, and the
    publisher's row: `(False, True)` when the lock covers the delivery only."""
    from pressrun.carts import locks
    from tests.second_connection import row_lockable, second_connection

    other = second_connection()

    seen: list[tuple[bool, bool]] = []
    read_delivery, read_publisher = locks._delivery_locked.get, locks._publisher_of_delivery.get
    reading: list[int] = []

    def delivery_read(delivery_id: int, **kwargs: Any) -> Any:
        reading.append(delivery_id)
        return read_delivery(delivery_id, **kwargs)

    def publisher_read(publisher_id: int, **kwargs: Any) -> Any:
        publisher = read_publisher(publisher_id, **kwargs)
        seen.append(
            (
                row_lockable(other, InboundDelivery._meta.db_table, reading[-1]),
                row_lockable(other, "accounts_publisher", publisher_id),
            )
        )
        return publisher

    monkeypatch.setattr(locks._delivery_locked, "get", delivery_read)
    monkeypatch.setattr(locks._publisher_of_delivery, "get", publisher_read)
    try:
        yield seen
    finally:
        other.close()
