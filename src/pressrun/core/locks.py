"""Row locks that name what they lock."""

from __future__ import annotations

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
