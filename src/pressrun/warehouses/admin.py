"""The operator console's view of the warehouse push protocol, read-only: every order push
with its attempts (to answer "did you send it?" without a database shell) and the stock
levels the warehouses reported. Publishers act on their own pushes on the dashboard; the
connections' secrets are not shown here at all."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pressrun.warehouses.models import WarehousePush, WarehousePushAttempt, WarehouseStockLevel


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WarehousePushAttemptInline(
    _ReadOnly, admin.TabularInline[WarehousePushAttempt, WarehousePush]
):
    model = WarehousePushAttempt
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


@admin.register(WarehousePush)
class WarehousePushAdmin(_ReadOnly, admin.ModelAdmin[WarehousePush]):
    list_display = (
        "created_at",
        "order",
        "connection",
        "status",
        "series_attempts",
        "last_response_code",
        "next_attempt_at",
    )
    list_filter = ("status",)
    search_fields = ("=order__id", "=connection__id", "=idempotency_key")
    list_select_related = ("order", "connection")
    date_hierarchy = "created_at"
    inlines = (WarehousePushAttemptInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return WarehousePush.field_names_for_operators()


@admin.register(WarehouseStockLevel)
class WarehouseStockLevelAdmin(_ReadOnly, admin.ModelAdmin[WarehouseStockLevel]):
    list_display = ("connection", "sku", "quantity", "reported_at", "changed_at", "sync_pending")
    list_filter = ("sync_pending",)
    search_fields = ("=connection__id", "sku")
    list_select_related = ("connection",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in WarehouseStockLevel._meta.fields]
