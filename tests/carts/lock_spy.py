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
