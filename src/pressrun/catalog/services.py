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
from pressrun.catalog.models import (
    PACKAGING_FOR_MEDIA,
    Media,
    Packaging,
    Project,
    ProjectCartId,
    packaging_fits,
)
from pressrun.catalog.selectors import SharedCartId, shared_cart_ids
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


class ProjectIdsShared(ProjectInvalid):
    """The eCommerce ID String uses IDs that other projects of the publisher already answer
    to, and the caller did not confirm it (`confirm_shared_ids`). `shared` names them; the
    message names every other project. Nothing is written."""

    def __init__(self, shared: tuple[SharedCartId, ...]) -> None:
        # What is shared, for channels that say how to confirm in their own words.
        self.summary = (
            "This eCommerce ID String uses IDs of your other projects: "
            + "; ".join(item.describe() for item in shared)
            + "."
        )
        super().__init__(
            self.summary + " Confirm to save it anyway (a bonus disc ordered by the same SKU "
            "is fine).",
            field="ecommerce_ids",
        )
        self.shared = shared


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
    confirm_shared_ids: bool = False,
) -> Project:
    """Create a project for `publisher`, with its parsed cart IDs.

    Raises ProjectInvalid with a clear message (for a malformed eCommerce ID String, the
    parser's message; for media and packaging that do not fit, which do); nothing is written
    then. An eCommerce ID String using an ID that another of the publisher's active projects
    answers to (listed there, or its project ID) raises ProjectIdsShared naming them unless
    `confirm_shared_ids`.
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
    _check_rules(None, {**values, "publisher": publisher}, confirm_shared_ids, project_id)
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


def project_update(
    *, project: Project, confirm_shared_ids: bool = False, **changes: Unpack[ProjectChanges]
) -> Project:
    """Change the given fields of `project` and return it.

    A new eCommerce ID String replaces the project's cart ID rows in the same transaction; a
    new publisher moves them with the project. Raises ProjectInvalid (for a malformed string,
    with the parser's message; for a new media / packaging pair that does not fit) before
    anything is written, leaving both the database and `project` unchanged, and
    ProjectIdsShared when the string newly uses IDs other projects answer to, unless
    `confirm_shared_ids` (IDs it shared already were confirmed before). Safe to repeat.
    """
    values = _cleaned(dict(changes))
    cart_ids = _parsed(values["ecommerce_ids"]) if "ecommerce_ids" in values else None
    with transaction.atomic():
        # The row lock orders concurrent edits of one project, so the rows written last
        # always belong to the string saved last.
        locked = Project.objects.select_for_update().get(id=project.id)
        _check_rules(locked, values, confirm_shared_ids, locked.id)
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


def project_validate(
    *,
    project: Project | None = None,
    confirm_shared_ids: bool = False,
    **changes: Unpack[ProjectChanges],
) -> None:
    """Raise ProjectInvalid (with `field` set; ProjectIdsShared for unconfirmed shared IDs)
    if project_create (`project` None) or project_update of `project` would refuse these.

    For forms, which must show a refusal next to its field before anything is saved.
    """
    values = _cleaned(dict(changes))
    if "ecommerce_ids" in values:
        _parsed(values["ecommerce_ids"])
    if project is None and "publisher" not in values:
        return
    _check_rules(project, values, confirm_shared_ids, project.id if project else None)


def _in_text(packaging: str) -> str:
    """A packaging's label inside a sentence: "sleeve", "jewel case", "DVD case"."""
    label = str(Packaging(packaging).label)
    return label if label[:2].isupper() else label[0].lower() + label[1:]


def _check_rules(
    current: Project | None,
    values: dict[str, Any],
    confirm_shared_ids: bool,
    project_id: int | None,
) -> None:
    """The rules between fields: media and packaging fit (checked when either changes, so
    an old project that does not fit can still be edited otherwise), and shared cart IDs
    (only those the change adds need a confirmation)."""
    media = values.get("media", current.media if current else None)
    packaging = values.get("packaging", current.packaging if current else None)
    changed_pair = current is None or (media, packaging) != (current.media, current.packaging)
    if (
        media is not None
        and packaging is not None
        and changed_pair
        and not packaging_fits(media=media, packaging=packaging)
    ):
        fits = " or ".join(f"a {_in_text(p)}" for p in PACKAGING_FOR_MEDIA[media])
        raise ProjectInvalid(
            f"A {Media(media).label} cannot ship in a {_in_text(packaging)}: "
            f"a {Media(media).label} ships in {fits}.",
            field="packaging",
        )
    if confirm_shared_ids:
        return
    publisher = values.get("publisher") or (current.publisher if current else None)
    if publisher is None:
        return
    same_owner = current is not None and publisher.id == current.publisher_id
    if "ecommerce_ids" not in values and same_owner:
        return
    text = values.get("ecommerce_ids", current.ecommerce_ids if current else "")
    confirmed_before = (
        {
            item.key
            for item in shared_cart_ids(
                publisher_id=publisher.id, text=current.ecommerce_ids, project_id=project_id
            )
        }
        if current is not None and same_owner
        else set()
    )
    added = tuple(
        item
        for item in shared_cart_ids(publisher_id=publisher.id, text=text, project_id=project_id)
        if item.key not in confirmed_before
    )
    if added:
        raise ProjectIdsShared(added)


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
