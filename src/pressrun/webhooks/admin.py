"""The operator console's view of publisher webhooks, read-only: each publisher's endpoint
(its secret only as a hint) and every delivery with its attempts, to answer "did you send
it?" without a database shell. Publishers change their own settings on the dashboard."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pressrun.core.sealed import hint, unseal
from pressrun.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly, admin.ModelAdmin[WebhookEndpoint]):
    list_display = ("publisher", "url", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("=publisher__id", "publisher__email", "url")
    list_select_related = ("publisher",)
    fields = (
        "publisher",
        "url",
        "enabled",
        "event_types",
        "secret_hint",
        "secret_created_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="signing secret")
    def secret_hint(self, obj: WebhookEndpoint) -> str:
        return hint(unseal(obj.secret_sealed)) or "(unreadable: the publisher must replace it)"


class WebhookAttemptInline(_ReadOnly, admin.TabularInline[WebhookAttempt, WebhookDelivery]):
    model = WebhookAttempt
    extra = 0
    fields = (
        "number",
        "started_at",
        "url",
        "response_code",
        "duration_ms",
        "error",
        "response_excerpt",
        "next_retry_at",
    )
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly, admin.ModelAdmin[WebhookDelivery]):
    list_display = (
        "created_at",
        "publisher",
        "event_type",
        "order",
        "status",
        "series_attempts",
        "last_response_code",
        "next_attempt_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("=event_id", "=publisher__id", "=order__id")
    list_select_related = ("publisher",)
    date_hierarchy = "created_at"
    inlines = (WebhookAttemptInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return WebhookDelivery.field_names_for_operators()
