from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from pressrun.catalog.ecommerce_ids import EcommerceIdsInvalid, parse_ecommerce_ids
from pressrun.catalog.models import PACKAGING_FOR_MEDIA, Project, ProjectCartId
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
    confirm_shared_ids = forms.BooleanField(
        label="Confirm shared IDs",
        required=False,
        help_text="Save the eCommerce ID String even though other projects of the publisher "
        "answer to some of its IDs (listed there, or their project ID), e.g. a bonus disc.",
    )

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
            project_validate(
                project=self.instance if self.instance.pk else None,
                confirm_shared_ids=bool(cleaned.get("confirm_shared_ids")),
                **values,
            )
        except ProjectInvalid as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)
        return cleaned


class PackagingFitsFilter(admin.SimpleListFilter):
    """Projects saved before media and packaging were checked may not fit (a DVD in a USB
    ecomailer): operators find them here and settle them with the publisher."""

    title = "packaging fits media"
    parameter_name = "packaging_fits"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "No"), ("yes", "Yes")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> QuerySet[Project]:
        if self.value() not in ("yes", "no"):
            return queryset
        fitting = Q()
        for media, packagings in PACKAGING_FOR_MEDIA.items():
            fitting |= Q(media=media, packaging__in=packagings)
        return queryset.filter(fitting) if self.value() == "yes" else queryset.exclude(fitting)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    form = ProjectAdminForm
    list_display = ("id", "title", "publisher", "media", "packaging", "price", "is_active")
    list_filter = ("media", "packaging", PackagingFitsFilter, "is_active")
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
        confirmed = bool(form.cleaned_data.get("confirm_shared_ids"))
        if change:
            project_update(project=obj, confirm_shared_ids=confirmed, **values)
            return
        created = project_create(confirm_shared_ids=confirmed, **values)
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
