from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join

from pressrun.carts.models import (
    CartPostback,
    InboundDelivery,
    Outcome,
    ShippingRule,
    StockSync,
    StockSyncItem,
    UnmatchedProduct,
)
from pressrun.carts.postback import postback_retry, postback_summary
from pressrun.carts.selectors import shipping_rule_taken, unmatched_product_projects
from pressrun.carts.services import (
    SECRET_HEADER_WORDS,
    ShippingRuleInvalid,
    delivery_replay,
    shipping_rule_clean,
    shipping_rule_create,
    shipping_rule_delete,
    shipping_rule_update,
    unmatched_reprocess,
)
from pressrun.core.sealed import hint, mask_secrets

# Header names that carry credentials; their values are shown only as hints. Deliveries are
# stored without the ones `headers_without_secrets` knows, but a cart (or an older version of
# pressrun) may have sent others.
SECRET_HEADER_NAME_WORDS = (
    *SECRET_HEADER_WORDS,
    "key",
    "secret",
    "password",
    "session",
    "auth",
)


def delivery_headers_masked(delivery: InboundDelivery) -> dict[str, str]:
    """The delivery's stored headers as an operator may see them: credential-like headers and
    any of the publisher's secrets reduced to their hints."""
    secrets = delivery.publisher.secret_values()
    stored = delivery.headers if isinstance(delivery.headers, dict) else {}
    shown: dict[str, str] = {}
    for name, value in stored.items():
        text = str(value)
        if any(word in str(name).lower() for word in SECRET_HEADER_NAME_WORDS):
            shown[str(name)] = hint(text)
        else:
            shown[str(name)] = mask_secrets(text, secrets)
    return shown


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(admin.ModelAdmin[InboundDelivery]):
    list_display = (
        "id",
        "received_at",
        "cart",
        "publisher",
        "topic",
        "outcome",
        "external_key",
        "delivery_id",
        "attempts",
    )
    list_filter = ("cart", "outcome")
    search_fields = ("=publisher__id", "publisher__email", "delivery_id", "external_key")
    list_select_related = ("publisher",)
    actions = ["replay"]
    readonly_fields = (
        "cart",
        "publisher",
        "received_at",
        "topic",
        "delivery_id",
        "external_key",
        "test_requested",
        "outcome",
        "reason_masked",
        "attempts",
        "retry_queued",
        "processed_at",
        "headers_masked",
        "body_text",
        "orders",
        "warehouse_orders",
    )
    exclude = ("body", "headers", "reason")

    @admin.display(description="headers")
    def headers_masked(self, obj: InboundDelivery) -> str:
        return json.dumps(delivery_headers_masked(obj), indent=2, ensure_ascii=False)

    @admin.display(description="body")
    def body_text(self, obj: InboundDelivery) -> str:
        if obj.body_emptied_at is not None:
            return (
                f"(removed on {obj.body_emptied_at:%Y-%m-%d %H:%M} UTC after the retention "
                f"period: {obj.body_size} bytes, SHA-256 {obj.body_sha256})"
            )
        text = bytes(obj.body).decode("utf-8", "replace")
        return mask_secrets(text, obj.publisher.secret_values())

    @admin.display(description="reason")
    def reason_masked(self, obj: InboundDelivery) -> str:
        return mask_secrets(obj.reason, obj.publisher.secret_values())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Replay (failed, unmatched or stuck pending deliveries)")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundDelivery]) -> None:
        queued = [d.id for d in queryset if delivery_replay(delivery_id=d.id)]
        skipped = queryset.count() - len(queued)
        self.message_user(
            request,
            f"Queued {len(queued)} deliveries again; skipped {skipped} (only failed or "
            "unmatched ones are replayed, and pending ones no task is left to process).",
            messages.SUCCESS,
        )


@admin.register(UnmatchedProduct)
class UnmatchedProductAdmin(admin.ModelAdmin[UnmatchedProduct]):
    """Cart products that named no project. Fix the mapping (the project's eCommerce ID
    String), then "Re-process kept deliveries"."""

    list_display = (
        "id",
        "publisher",
        "cart",
        "product_ref",
        "title",
        "times_seen",
        "last_seen_at",
        "waiting",
        "resolved",
    )
    list_filter = ("cart", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("=publisher__id", "publisher__email", "product_ref", "title")
    list_select_related = ("publisher",)
    actions = ["reprocess"]
    fields = (
        "publisher",
        "cart",
        "product_ref",
        "title",
        "first_seen_at",
        "last_seen_at",
        "times_seen",
        "resolved_at",
        "maps_to",
        "kept_deliveries",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[UnmatchedProduct]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                waiting_count=Count(
                    "deliveries", filter=Q(deliveries__outcome=Outcome.UNMATCHED), distinct=True
                )
            )
        )

    @admin.display(description="waiting deliveries", ordering="waiting_count")
    def waiting(self, obj: UnmatchedProduct) -> int:
        return int(getattr(obj, "waiting_count", 0))

    @admin.display(description="resolved", boolean=True, ordering="resolved_at")
    def resolved(self, obj: UnmatchedProduct) -> bool:
        return obj.resolved_at is not None

    @admin.display(description="maps to now")
    def maps_to(self, obj: UnmatchedProduct) -> str:
        projects = unmatched_product_projects(obj)
        return ", ".join(f"{p.id} {p.title}" for p in projects) or "no project yet"

    @admin.display(description="deliveries")
    def kept_deliveries(self, obj: UnmatchedProduct) -> str:
        rows = obj.deliveries.order_by("id").values_list("id", "outcome", "received_at")
        # format_html_join escapes every value.
        return format_html_join("\n", "<div>{} · {} · {:%Y-%m-%d %H:%M}</div>", rows) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Re-process kept deliveries")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[UnmatchedProduct]) -> None:
        queued = 0
        still_unmapped: list[str] = []
        for product in queryset.select_related("publisher"):
            queued += unmatched_reprocess(
                publisher=product.publisher, unmatched_product_id=product.id
            )
            if not unmatched_product_projects(product):
                still_unmapped.append(product.product_ref)
        text = f"Queued {queued} deliveries again."
        if still_unmapped:
            text += (
                f" Still mapped to no project: {', '.join(still_unmapped)} (add them to a "
                "project's eCommerce ID String first)."
            )
        self.message_user(request, text, messages.WARNING if still_unmapped else messages.SUCCESS)


class ShippingRuleAdminForm(forms.ModelForm[ShippingRule]):
    """Refuses what the shipping rule services would refuse, next to the field concerned."""

    class Meta:
        model = ShippingRule
        fields = ("publisher", "position", "match", "text", "mail_method")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # On a change form the publisher is read-only (not a form field): the rule's own.
        publisher = cleaned.get("publisher") if "publisher" in self.fields else None
        publisher_id = publisher.id if publisher is not None else self.instance.publisher_id
        if publisher_id is None or not {"match", "text", "mail_method"} <= set(cleaned):
            return cleaned
        try:
            spec = shipping_rule_clean(
                match=cleaned["match"], text=cleaned["text"], mail_method=cleaned["mail_method"]
            )
        except ShippingRuleInvalid as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
            return cleaned
        if shipping_rule_taken(
            publisher_id=publisher_id,
            match=spec.match,
            text=spec.text,
            exclude_id=self.instance.pk,
        ):
            self.add_error("text", "This publisher already has a rule with this match and text.")
        return cleaned

    def validate_unique(self) -> None:
        # Checked in clean() on the cleaned text; the model check would compare the raw one.
        return


@admin.register(ShippingRule)
class ShippingRuleAdmin(admin.ModelAdmin[ShippingRule]):
    """A publisher's own readings of cart shipping descriptions, tried in position order
    before the default rule ("priority" / "express" anywhere in the description)."""

    form = ShippingRuleAdminForm
    list_display = ("publisher", "position", "match", "text", "mail_method")
    list_filter = ("match", "mail_method")
    search_fields = ("=publisher__id", "publisher__email", "text")
    list_select_related = ("publisher",)
    raw_id_fields = ("publisher",)
    ordering = ("publisher", "position", "id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A rule belongs to one publisher for good: delete it and add one to the other.
        return ("publisher",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: ShippingRule, form: Any, change: bool) -> None:
        """Save through the services, which store the text as it is compared."""
        values = {name: form.cleaned_data[name] for name in ("match", "text", "mail_method")}
        position = form.cleaned_data.get("position")
        if change:
            saved = shipping_rule_update(
                publisher=obj.publisher, rule_id=obj.id, position=position, **values
            )
        else:
            saved = shipping_rule_create(
                publisher=form.cleaned_data["publisher"], position=position, **values
            )
            obj.pk = saved.pk
            obj.created_at = saved.created_at
            obj._state.adding = False
            obj._state.db = saved._state.db
        obj.text = saved.text

    def delete_model(self, request: HttpRequest, obj: ShippingRule) -> None:
        shipping_rule_delete(publisher=obj.publisher, rule_id=obj.id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ShippingRule]) -> None:
        for rule in queryset.select_related("publisher"):
            shipping_rule_delete(publisher=rule.publisher, rule_id=rule.id)


@admin.register(CartPostback)
class CartPostbackAdmin(admin.ModelAdmin[CartPostback]):
    """Tracking posted back to the carts, one row per shipment (pressrun's order shipping, or
    a package of a publisher's warehouse): what was sent where, for which cart lines, what
    failed and when the next attempt is. Read-only; "Send again" restarts the ones that gave
    up."""

    list_display = (
        "order",
        "warehouse_shipment",
        "cart",
        "state",
        "summary",
        "attempts",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("cart", "state")
    search_fields = (
        "=order__id",
        "=warehouse_shipment__order__id",
        "tracking_id",
        "remote_id",
        "=order__publisher__id",
        "=warehouse_shipment__order__publisher__id",
    )
    list_select_related = ("order", "warehouse_shipment")
    readonly_fields = (
        "order",
        "warehouse_shipment",
        "cart_order",
        "lines",
        "cart",
        "state",
        "summary",
        "tracking_id",
        "carrier",
        "attempts",
        "last_error",
        "next_attempt_at",
        "remote_id",
        "created_at",
        "updated_at",
        "sent_at",
    )
    fields = readonly_fields
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="what the publisher reads")
    def summary(self, obj: CartPostback) -> str:
        return postback_summary(obj)

    @admin.action(description="Send again (post-backs that gave up)")
    def send_again(self, request: HttpRequest, queryset: QuerySet[CartPostback]) -> None:
        restarted = sum(postback_retry(postback_id=postback.id) for postback in queryset)
        self.message_user(
            request,
            f"{restarted} post-back(s) queued again; the others had not given up.",
            messages.SUCCESS if restarted else messages.WARNING,
        )


@admin.register(StockSync)
class StockSyncAdmin(admin.ModelAdmin[StockSync]):
    """Each publisher's stock sync to Shopify (carts/stock_sync.py): the shop and location,
    the last run and its error. Read-only: the publisher picks the location on the
    dashboard's Stock page."""

    list_display = ("publisher", "shop_domain", "location_name", "last_run_at", "last_error")
    search_fields = ("=publisher__id", "shop_domain")
    readonly_fields = (
        "publisher",
        "shop_domain",
        "location_id",
        "location_name",
        "claimed_until",
        "last_run_at",
        "last_error",
        "next_attempt_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StockSyncItem)
class StockSyncItemAdmin(admin.ModelAdmin[StockSyncItem]):
    """Each channel SKU's stock per warehouse connection and what was last sent to Shopify.
    Read-only."""

    list_display = (
        "channel_sku",
        "connection",
        "components",
        "quantity_available",
        "quantity_sent",
        "synced_at",
        "last_error",
    )
    list_filter = ("connection__publisher",)
    search_fields = ("channel_sku", "=connection__id", "=connection__publisher__id")
    list_select_related = ("connection",)
    readonly_fields = (
        "connection",
        "channel_sku",
        "components",
        "quantity_available",
        "quantity_sent",
        "synced_at",
        "last_error",
        "updated_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
