"""Creating and changing projects.

A project's eCommerce ID String is kept twice: as written (`Project.ecommerce_ids`, what the
publisher edits) and parsed (`ProjectCartId` rows, what cart orders are matched against).
Only this module writes either, and always both in one transaction, so they cannot disagree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict, Unpack

from django.db import IntegrityError, transaction

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import sync_id_sequence
from pressrun.catalog.ecommerce_ids import EcommerceIdsInvalid, cart_id_key, parse_ecommerce_ids
from pressrun.catalog.models import Media, Packaging, Project, ProjectCartId
from pressrun.core.errors import DomainError
from pressrun.core.money import MoneyFormatError, is_whole_cents, parse_money, to_money

TITLE_MAX_LENGTH = 200
SPECIAL_TEXT_MAX_LENGTH = 500


class ProjectInvalid(DomainError):
    """Arguments for a new or changed project were refused.

    `field` names the refused argument when there is one, so forms can show the message
    next to it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ProjectChanges(TypedDict, total=False):
    """The fields of a project that may be changed after it is created."""

    publisher: Publisher
    title: str
    media: str
    packaging: str
    price: Decimal | str
    special_text: str
    ecommerce_ids: str
    is_active: bool


def project_create(
    *,
    publisher: Publisher,
    title: str,
    media: str,
    packaging: str,
    price: Decimal | str,
    project_id: int | None = None,
    ecommerce_ids: str = "",
    special_text: str = "",
    is_active: bool = True,
) -> Project:
    """Create a project for `publisher`, with its parsed cart IDs.

    Raises ProjectInvalid with a clear message (for a malformed eCommerce ID String, the
    parser's message); nothing is written then.
    """
    values = _cleaned(
        {
            "title": title,
            "media": media,
            "packaging": packaging,
            "price": price,
            "special_text": special_text,
            "ecommerce_ids": ecommerce_ids,
        }
    )
    if project_id is not None and project_id < 1:
        raise ProjectInvalid("The project ID must be a positive whole number.", field="id")
    cart_ids = _parsed(values["ecommerce_ids"])
    try:
        with transaction.atomic():
            project = Project.objects.create(
                id=project_id, publisher=publisher, is_active=is_active, **values
            )
            if project_id is not None:
                sync_id_sequence(Project)
            _write_cart_ids(project=project, cart_ids=cart_ids)
    except IntegrityError as exc:
        if project_id is not None and Project.objects.filter(id=project_id).exists():
            raise ProjectInvalid(f"Project ID {project_id} is already taken.", field="id") from exc
        raise
    return project


def project_update(*, project: Project, **changes: Unpack[ProjectChanges]) -> Project:
    """Change the given fields of `project` and return it.

    A new eCommerce ID String replaces the project's cart ID rows in the same transaction; a
    new publisher moves them with the project. Raises ProjectInvalid (for a malformed string,
    with the parser's message) before anything is written, leaving both the database and
    `project` unchanged. Safe to repeat.
    """
    values = _cleaned(dict(changes))
    cart_ids = _parsed(values["ecommerce_ids"]) if "ecommerce_ids" in values else None
    with transaction.atomic():
        # The row lock orders concurrent edits of one project, so the rows written last
        # always belong to the string saved last.
        locked = Project.objects.select_for_update().get(id=project.id)
        for field, value in values.items():
            setattr(locked, field, value)
        if values:
            locked.save(update_fields=list(values))
        if cart_ids is not None:
            _write_cart_ids(project=locked, cart_ids=cart_ids)
        elif "publisher" in values:
            ProjectCartId.objects.filter(project=locked).update(publisher=locked.publisher)
    for field, value in values.items():
        setattr(project, field, value)
    return project


def project_validate(**changes: Unpack[ProjectChanges]) -> None:
    """Raise ProjectInvalid (with `field` set) if project_create/update would refuse these.

    For forms, which must show a refusal next to its field before anything is saved.
    """
    values = _cleaned(dict(changes))
    if "ecommerce_ids" in values:
        _parsed(values["ecommerce_ids"])


def _cleaned(changes: dict[str, Any]) -> dict[str, Any]:
    """The given fields, trimmed and checked. Raises ProjectInvalid naming the field."""
    unknown = set(changes) - set(ProjectChanges.__annotations__)
    if unknown:
        raise TypeError(f"project fields that cannot be set: {', '.join(sorted(unknown))}")
    values = dict(changes)
    if "title" in values:
        values["title"] = title = values["title"].strip()
        if not title:
            raise ProjectInvalid("The title must not be blank.", field="title")
        if len(title) > TITLE_MAX_LENGTH:
            raise ProjectInvalid(
                f"The title must have at most {TITLE_MAX_LENGTH} characters.", field="title"
            )
    if "media" in values and values["media"] not in Media.values:
        raise ProjectInvalid(
            f"Unknown media '{values['media']}'; use one of {', '.join(Media.values)}.",
            field="media",
        )
    if "packaging" in values and values["packaging"] not in Packaging.values:
        raise ProjectInvalid(
            f"Unknown packaging '{values['packaging']}'; use one of {', '.join(Packaging.values)}.",
            field="packaging",
        )
    if "price" in values:
        values["price"] = _price(values["price"])
    if "special_text" in values:
        values["special_text"] = values["special_text"].strip()
        if len(values["special_text"]) > SPECIAL_TEXT_MAX_LENGTH:
            raise ProjectInvalid(
                f"The special text must have at most {SPECIAL_TEXT_MAX_LENGTH} characters.",
                field="special_text",
            )
    if "ecommerce_ids" in values:
        values["ecommerce_ids"] = values["ecommerce_ids"].strip()
    return values


def _price(price: Decimal | str) -> Decimal:
    """A typed price (text) is read strictly (`core.money.parse_money`); a Decimal must be
    whole cents."""
    if isinstance(price, str):
        try:
            amount = parse_money(price)
        except MoneyFormatError as exc:
            raise ProjectInvalid(f"Price {exc}", field="price") from exc
    else:
        amount = price
    if not amount.is_finite() or amount < 0 or amount >= Decimal("100000"):
        raise ProjectInvalid(f"Price '{price}' must be between 0.00 and 99999.99.", field="price")
    if not is_whole_cents(amount):
        raise ProjectInvalid(f"Price '{price}' is not a whole number of cents.", field="price")
    return to_money(amount)


def _parsed(ecommerce_ids: str) -> tuple[str, ...]:
    try:
        return parse_ecommerce_ids(ecommerce_ids)
    except EcommerceIdsInvalid as exc:
        raise ProjectInvalid(exc.message, field="ecommerce_ids") from exc


def _write_cart_ids(*, project: Project, cart_ids: tuple[str, ...]) -> None:
    """Replace the project's cart ID rows. Call inside the transaction that saves the string."""
    ProjectCartId.objects.filter(project=project).delete()
    ProjectCartId.objects.bulk_create(
        ProjectCartId(
            project=project,
            publisher_id=project.publisher_id,
            cart_id=cart_id,
            key=cart_id_key(cart_id),
        )
        for cart_id in cart_ids
    )
