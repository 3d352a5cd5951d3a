from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from pressrun.catalog.ecommerce_ids import EcommerceIdsInvalid, parse_ecommerce_ids
from pressrun.catalog.models import Project, ProjectCartId
from pressrun.catalog.services import (
    ProjectChanges,
    ProjectInvalid,
    project_create,
    project_update,
    project_validate,
)
from pressrun.core.forms import MoneyField

# The form fields that the catalog service sets; anything else on the form is read-only.
EDITABLE_FIELDS = tuple(ProjectChanges.__annotations__)


class ProjectAdminForm(forms.ModelForm[Project]):
    """Refuses what the catalog service would refuse, next to the field concerned."""

    # Read strictly (core.money): a model DecimalField's form field takes 1e3 and ١٢.
    price = MoneyField(help_text="Per unit, in dollars, such as 4.95.")

    class Meta:
        model = Project
        fields = EDITABLE_FIELDS

    def clean_ecommerce_ids(self) -> str:
        text: str = self.cleaned_data.get("ecommerce_ids", "")
        try:
            parse_ecommerce_ids(text)
        except EcommerceIdsInvalid as exc:
            raise forms.ValidationError(exc.message, code="invalid") from exc
        return text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Fields that failed their own validation are absent; check the rest with the
        # service's rules (e.g. its price range) so saving cannot be refused later.
        values = {name: cleaned[name] for name in EDITABLE_FIELDS if name in cleaned}
        try:
            project_validate(**values)
        except ProjectInvalid as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)
        return cleaned


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    form = ProjectAdminForm
    list_display = ("id", "title", "publisher", "media", "packaging", "price", "is_active")
    list_filter = ("media", "packaging", "is_active")
    search_fields = ("=id", "title", "publisher__email", "ecommerce_ids")
    raw_id_fields = ("publisher",)
    readonly_fields = ("parsed_cart_ids", "created_at")

    @admin.display(description="Parsed cart IDs")
    def parsed_cart_ids(self, obj: Project) -> str:
        # What cart orders are matched against: the rows, not a re-parse of the string.
        if obj.pk is None:
            return "-"
        return "\n".join(row.cart_id for row in obj.cart_ids.all()) or "-"

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        """Save through the catalog service so the cart ID rows follow the string."""
        values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
        if change:
            project_update(project=obj, **values)
            return
        created = project_create(**values)
        # The admin goes on with `obj` (log entry, redirect): make it the saved project.
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj._state.adding = False
        obj._state.db = created._state.db


@admin.register(ProjectCartId)
class ProjectCartIdAdmin(admin.ModelAdmin[ProjectCartId]):
    """Read-only: rows are derived from each project's eCommerce ID String."""

    list_display = ("cart_id", "key", "project", "publisher")
    list_select_related = ("project", "publisher")
    search_fields = ("cart_id", "key", "=project__id", "=publisher__id")
    raw_id_fields = ("project", "publisher")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
