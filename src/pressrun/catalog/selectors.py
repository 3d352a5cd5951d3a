"""Reads of projects: which projects a cart order names, what a project costs, and what an
eCommerce ID String would order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from pressrun.catalog.ecommerce_ids import (
    MAX_KEY_LENGTH,
    EcommerceIdsInvalid,
    cart_id_key,
    parse_ecommerce_ids,
)
from pressrun.catalog.models import Media, Project, ProjectCartId

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
    project_id = _method2_project_id(sku)
    if project_id is None:
        return None
    return Project.objects.filter(id=project_id, publisher_id=publisher_id, is_active=True).first()


def _method2_project_id(sku: str) -> int | None:
    """The project ID a Method 2 SKU names (digits only, surrounding whitespace ignored)."""
    text = sku.strip()
    if not _PROJECT_ID_SKU.fullmatch(text) or int(text) > _MAX_PROJECT_ID:
        return None
    return int(text)


# What a project created in the dashboard costs the publisher per unit, by media. Operators
# set any other price in the admin (publishers only see it); see docs/dashboard.md.
STANDARD_UNIT_PRICES: dict[str, Decimal] = {
    Media.CD: Decimal("4.50"),
    Media.DVD: Decimal("6.25"),
    Media.USB: Decimal("9.00"),
}


def project_standard_price(*, media: str) -> Decimal:
    """The unit price a new project of `media` starts at. Raises KeyError for unknown media."""
    return STANDARD_UNIT_PRICES[media]


def project_has_standard_price(*, project: Project) -> bool:
    """Whether the project still costs its media's standard price (operators have not set one)."""
    return STANDARD_UNIT_PRICES.get(project.media) == project.price


def project_price_for_media(*, project: Project, media: str) -> Decimal:
    """The project's price once its media becomes `media`: a standard price follows the media
    (a CD project turned into a USB project costs what USB projects cost); a price operators
    set for this project is kept."""
    if project.media != media and project_has_standard_price(project=project):
        return project_standard_price(media=media)
    return project.price


def projects_for_publisher(*, publisher_id: int) -> QuerySet[Project]:
    """All the publisher's projects, active and not, by project ID, with their cart IDs."""
    return (
        Project.objects.filter(publisher_id=publisher_id)
        .prefetch_related("cart_ids")
        .order_by("id")
    )


@dataclass(frozen=True)
class CartIdUse:
    """One ID parsed from an eCommerce ID String, and where else the publisher uses it."""

    cart_id: str
    # The publisher's other active projects listing the same ID: a cart order for it orders
    # them too (the bonus-disc case, allowed).
    also_orders: tuple[Project, ...]
    # The publisher's other active project whose project ID this is: a Shopify SKU equal to
    # it orders the listing project(s) instead of that one (the listing wins over Method 2).
    shadows: Project | None


@dataclass(frozen=True)
class EcommerceIdsCheck:
    """What an eCommerce ID String would mean if saved: its IDs, or why it is refused."""

    error: str
    ids: tuple[CartIdUse, ...]

    @property
    def shared(self) -> tuple[CartIdUse, ...]:
        return tuple(use for use in self.ids if use.also_orders or use.shadows)


def ecommerce_ids_check(
    *, publisher_id: int, text: str, project_id: int | None
) -> EcommerceIdsCheck:
    """Parse `text` as project `project_id` (None: a new project) would save it, and find the
    publisher's other active projects that the same IDs order. Writes nothing; two queries
    at most. Only `publisher_id`'s projects are ever named."""
    try:
        cart_ids = parse_ecommerce_ids(text.strip())
    except EcommerceIdsInvalid as exc:
        return EcommerceIdsCheck(error=exc.message, ids=())
    if not cart_ids:
        return EcommerceIdsCheck(error="", ids=())
    keys = {cart_id: cart_id_key(cart_id) for cart_id in cart_ids}
    others = ProjectCartId.objects.filter(
        publisher_id=publisher_id,
        key__in=set(keys.values()),
        project__is_active=True,
        project__publisher_id=publisher_id,
    ).select_related("project")
    if project_id is not None:
        others = others.exclude(project_id=project_id)
    by_key: dict[str, list[Project]] = {}
    for row in others.order_by("project_id"):
        by_key.setdefault(row.key, []).append(row.project)
    method2_ids = {cart_id: _method2_project_id(cart_id) for cart_id in cart_ids}
    numeric = {named: cart_id for cart_id, named in method2_ids.items() if named is not None}
    shadowed = {}
    if numeric:
        candidates = Project.objects.filter(
            publisher_id=publisher_id, is_active=True, id__in=set(numeric)
        )
        if project_id is not None:
            candidates = candidates.exclude(id=project_id)
        shadowed = {numeric[project.id]: project for project in candidates}
    return EcommerceIdsCheck(
        error="",
        ids=tuple(
            CartIdUse(
                cart_id=cart_id,
                also_orders=tuple(by_key.get(keys[cart_id], [])),
                shadows=shadowed.get(cart_id),
            )
            for cart_id in cart_ids
        ),
    )


@dataclass(frozen=True)
class SharedCartId:
    """An ID of an eCommerce ID String that another of the publisher's active projects
    already answers to: `listed` (its string lists the same ID: a cart order for it orders
    both) or `project_id` (it is that project's project ID: a Shopify Method 2 SKU would
    order the listing project instead)."""

    cart_id: str
    other: Project
    kind: str  # "listed" or "project_id"

    @property
    def key(self) -> tuple[str, int, str]:
        return (cart_id_key(self.cart_id), self.other.id, self.kind)

    def describe(self) -> str:
        if self.kind == "project_id":
            return (
                f"'{self.cart_id}' is the project ID of project {self.other.id} "
                f"“{self.other.title}” (a Shopify SKU {self.cart_id} would order this project "
                "instead of that one)"
            )
        return (
            f"'{self.cart_id}' is also listed by project {self.other.id} “{self.other.title}” "
            "(a cart order for it orders both, in one box)"
        )


def shared_cart_ids(
    *, publisher_id: int, text: str, project_id: int | None
) -> tuple[SharedCartId, ...]:
    """The IDs of `text` (as project `project_id` would save it) that other active projects
    of the publisher already answer to; () for a malformed or blank string. Writes nothing."""
    check = ecommerce_ids_check(publisher_id=publisher_id, text=text, project_id=project_id)
    shared: list[SharedCartId] = []
    for use in check.ids:
        if use.shadows is not None:
            shared.append(SharedCartId(use.cart_id, use.shadows, "project_id"))
        shared.extend(SharedCartId(use.cart_id, other, "listed") for other in use.also_orders)
    return tuple(shared)
