"""Small helpers shared by the floor's views."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet

from pressrun.core.errors import PageNotFound

M = TypeVar("M", bound=Model)
# A number in a URL beyond a 64-bit id names nothing (and must not reach the database).
MAX_ID = 2**63 - 1


def found_or_404(queryset: QuerySet[M], object_id: int, kind: str) -> M:
    """The object with `object_id`, else the styled 404 ("There is no batch 12.")."""
    found = queryset.filter(id=object_id).first() if 0 < object_id <= MAX_ID else None
    if found is None:
        raise PageNotFound(f"There is no {kind} {object_id}.")
    return found
