from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Field
from django.http import HttpRequest

from pressrun.billing.models import LedgerEntry, ShippingRate, StatusCallHour
from pressrun.core.forms import MoneyField


@admin.register(ShippingRate)
class ShippingRateAdmin(admin.ModelAdmin[ShippingRate]):
    list_display = ("shipping_method", "region", "first_unit", "each_additional_unit")
    list_editable = ("first_unit", "each_additional_unit")
    list_filter = ("region",)

    def formfield_for_dbfield(
        self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        # Prices are read strictly (core.money): a DecimalField's form field takes 1e3.
        if isinstance(db_field, models.DecimalField):
            return MoneyField(label=str(db_field.verbose_name).capitalize())
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin[LedgerEntry]):
    """Read-only: money moves only through billing services (payments: Publisher → Record a
    payment), so the balance and the ledger always agree."""

    list_display = ("created_at", "publisher", "kind", "amount", "order", "description")
    list_filter = ("kind",)
    search_fields = ("=publisher__id", "publisher__email", "=order__id", "description")
    list_select_related = ("publisher",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StatusCallHour)
class StatusCallHourAdmin(admin.ModelAdmin[StatusCallHour]):
    """Read-only: the counters are what metering charges by, so only metering changes them
    (and housekeeping deletes them after a week)."""

    list_display = ("hour_start", "publisher", "calls", "charged")
    search_fields = ("=publisher__id", "publisher__email")
    list_select_related = ("publisher",)
    date_hierarchy = "hour_start"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
