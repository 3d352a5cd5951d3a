from __future__ import annotations

import re
from functools import cache
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from pressrun.core.sealed import hint, mask_secrets
from pressrun.notifications.models import OutgoingEmail

# Shown in place of the stored text and HTML: the same content with its secrets masked.
MASKED_CONTENT = {"text": "text_masked", "html": "html_masked"}


@cache
def _customer_link() -> re.Pattern[str]:
    """A customer's address-change link (`/c/<token>`), whatever order it belongs to."""
    sample = "T" * 24
    path = reverse("customers:order", kwargs={"token": sample})
    prefix = re.escape(path[: path.index(sample)])
    return re.compile(prefix + r"([A-Za-z0-9_-]{16,64})")


def email_content_masked(email: OutgoingEmail, content: str) -> str:
    """An email's content as an operator may see it: the customer link's token (of any
    order, deleted ones included) and the publisher's secrets shown only as hints."""
    content = _customer_link().sub(
        lambda match: match.group(0).replace(match.group(1), hint(match.group(1))), content
    )
    secrets = email.publisher.secret_values() if email.publisher is not None else []
    if email.order is not None:
        secrets.append(email.order.customer_token)
    return mask_secrets(content, secrets)


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin[OutgoingEmail]):
    """The email log, read-only: what was sent, to whom, when, and why a send failed. The
    customer's address-change link is shown with its token masked: the link is the
    customer's key to the address."""

    list_display = ("created_at", "kind", "to", "subject", "status", "attempts", "sent_at")
    list_filter = ("kind", "status", "is_test")
    search_fields = ("=publisher__id", "to", "subject", "key", "=order__id")
    list_select_related = ("publisher",)
    date_hierarchy = "created_at"
    exclude = tuple(MASKED_CONTENT)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [MASKED_CONTENT.get(field.name, field.name) for field in OutgoingEmail._meta.fields]

    @admin.display(description="text")
    def text_masked(self, obj: OutgoingEmail) -> str:
        return email_content_masked(obj, obj.text)

    @admin.display(description="HTML")
    def html_masked(self, obj: OutgoingEmail) -> str:
        return email_content_masked(obj, obj.html)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
