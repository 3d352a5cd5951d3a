"""Small helpers every cart parser shares: reading loose JSON values, and the shipping rule."""

from __future__ import annotations

from typing import Any

from pressrun.accounts.models import MailMethod


def text(value: Any) -> str:
    """A scalar as single-spaced text; '' for null, objects and lists (carts send all three
    where a string is expected)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    return " ".join(str(value).split())


def mail_method_from_description(description: str) -> str | None:
    """The specs' rule: a shipping description containing "priority" or "express" (any case)
    asks for that method; anything else leaves the publisher's default (None)."""
    lowered = description.lower()
    if "priority" in lowered:
        return MailMethod.PRIORITY
    if "express" in lowered:
        return MailMethod.EXPRESS
    return None
