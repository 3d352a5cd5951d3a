"""Creating and changing projects."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import sync_id_sequence
from pressrun.catalog.models import Media, Packaging, Project
from pressrun.core.errors import DomainError
from pressrun.core.money import to_money


class ProjectInvalid(DomainError):
    """Arguments for a new or changed project were refused."""


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
) -> Project:
    """Create a project for `publisher`. Raises ProjectInvalid with a clear message."""
    title = title.strip()
    if not title:
        raise ProjectInvalid("The title must not be blank.")
    if media not in Media.values:
        raise ProjectInvalid(f"Unknown media '{media}'; use one of {', '.join(Media.values)}.")
    if packaging not in Packaging.values:
        raise ProjectInvalid(
            f"Unknown packaging '{packaging}'; use one of {', '.join(Packaging.values)}."
        )
    try:
        amount = Decimal(str(price))
    except InvalidOperation as exc:
        raise ProjectInvalid(f"Price '{price}' is not an amount such as 4.95.") from exc
    if not amount.is_finite() or amount < 0 or amount >= Decimal("100000"):
        raise ProjectInvalid(f"Price '{price}' must be between 0.00 and 99999.99.")
    if project_id is not None and project_id < 1:
        raise ProjectInvalid("The project ID must be a positive whole number.")
    try:
        with transaction.atomic():
            project = Project.objects.create(
                id=project_id,
                publisher=publisher,
                title=title,
                media=media,
                packaging=packaging,
                price=to_money(amount),
                ecommerce_ids=ecommerce_ids.strip(),
                special_text=special_text.strip(),
            )
            if project_id is not None:
                sync_id_sequence(Project)
    except IntegrityError as exc:
        raise ProjectInvalid(f"Project ID {project_id} is already taken.") from exc
    return project
