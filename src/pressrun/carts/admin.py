from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from pressrun.carts.models import InboundDelivery
from pressrun.carts.services import delivery_replay


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
        "reason",
        "attempts",
        "processed_at",
        "headers",
        "body_text",
        "orders",
    )
    exclude = ("body",)

    @admin.display(description="body")
    def body_text(self, obj: InboundDelivery) -> str:
        return bytes(obj.body).decode("utf-8", "replace")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Replay (failed or unmatched deliveries)")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundDelivery]) -> None:
        queued = [d.id for d in queryset if delivery_replay(delivery_id=d.id)]
        skipped = queryset.count() - len(queued)
        self.message_user(
            request,
            f"Queued {len(queued)} deliveries again; skipped {skipped} (only failed or "
            "unmatched ones are replayed).",
            messages.SUCCESS,
        )
