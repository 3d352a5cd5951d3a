"""Row locks that name what they lock."""

from __future__ import annotations

import hashlib
from typing import TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def lock_own_rows(queryset: QuerySet[M]) -> QuerySet[M]:
    """`queryset` read under SELECT ... FOR UPDATE, locking only its own table's rows, even
    when it joins others (`select_related`).

    A plain FOR UPDATE over a join locks the joined rows too: an order read with its
    publisher would also lock the publisher's row, which a payment locks first and the
    order second — a deadlock waiting to happen. Where the database cannot name the locked
    table (`of`), the plain lock is the fallback; SQLite has no FOR UPDATE at all and
    serializes writers instead.
    """
    if connection.features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset.select_for_update()


def lock_names(*names: str) -> None:
    """Hold a lock on each of `names` until the current transaction ends.

    Whoever takes the same name waits, so a count-then-insert under it cannot be overtaken
    (e.g. two sign-in attempts both seeing room for one more). PostgreSQL: transaction-level
    advisory locks, taken in one fixed order so that two callers never deadlock. SQLite has
    one writer at a time: its IMMEDIATE write transactions already serialize the callers, so
    nothing is taken there. Call it inside `transaction.atomic()`.
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({_advisory_key(name) for name in names})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit number for `name` (what PostgreSQL's advisory locks take)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
