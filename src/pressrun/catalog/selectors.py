"""Reads of projects: which projects a cart order names."""

from __future__ import annotations

import re

from pressrun.catalog.ecommerce_ids import MAX_KEY_LENGTH, cart_id_key
from pressrun.catalog.models import Project, ProjectCartId

# Method 2 SKUs are the project ID exactly as pressrun shows it: digits, no leading zero,
# within the database's BigInteger range.
_PROJECT_ID_SKU = re.compile(r"[1-9][0-9]{0,18}")
_MAX_PROJECT_ID = 2**63 - 1


def projects_for_cart_ids(*, publisher_id: int, cart_ids: list[str]) -> dict[str, list[Project]]:
    """For each given cart ID, the publisher's active projects whose eCommerce ID String lists it.

    Matching ignores case and surrounding whitespace (see `cart_id_key`). Every given ID is a
    key of the result, with [] when nothing matches; projects are in project ID order. An ID
    may order several projects (a bonus disc). Only `publisher_id`'s projects can match,
    whoever else lists the same ID. One indexed query, none when no ID can match.
    """
    keys = {cart_id: cart_id_key(cart_id) for cart_id in cart_ids}
    # An over-long key is in no row (the parser refuses them), so it is not worth sending.
    wanted = {key for key in keys.values() if key and len(key) <= MAX_KEY_LENGTH}
    by_key: dict[str, list[Project]] = {}
    if wanted:
        rows = (
            ProjectCartId.objects.filter(
                publisher_id=publisher_id,
                key__in=wanted,
                project__is_active=True,
                # The row's publisher is a copy; checking the project's own as well means a
                # stale copy could only hide a match, never lend one to another publisher.
                project__publisher_id=publisher_id,
            )
            .select_related("project")
            .order_by("project_id")
        )
        projects: dict[int, Project] = {}
        for row in rows:
            project = projects.setdefault(row.project_id, row.project)
            by_key.setdefault(row.key, []).append(project)
    return {cart_id: list(by_key.get(key, [])) for cart_id, key in keys.items()}


def project_for_sku_method2(*, publisher_id: int, sku: str) -> Project | None:
    """Shopify's Method 2: the publisher's active project whose project ID is `sku`, if any.

    The SKU must be the project ID as written by pressrun (digits only, surrounding whitespace
    ignored); anything else is not a Method 2 SKU and gives None without a query.
    """
    text = sku.strip()
    if not _PROJECT_ID_SKU.fullmatch(text) or int(text) > _MAX_PROJECT_ID:
        return None
    return Project.objects.filter(id=int(text), publisher_id=publisher_id, is_active=True).first()
