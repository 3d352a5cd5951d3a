"""Operators see every checkout (with what was refunded and taken back), Stripe event and
dispute, read-only: money moves only through the services (a payment that needs correcting
is an adjustment on the publisher)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from pressrun.payments.models import Checkout, StripeDispute, StripeEvent


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Checkout)
class CheckoutAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "publisher",
        "amount",
        "status",
        "stripe_payment_intent",
        "paid_at",
        "refunded",
        "taken_back",
    )
    list_filter = ("status",)
    search_fields = (
        "=id",
        "=publisher__id",
        "publisher__email",
        "stripe_session_id",
        "stripe_payment_intent",
    )
    list_select_related = ("publisher",)
    date_hierarchy = "created_at"


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "event_id",
        "type",
        "outcome",
        "checkout",
        "ledger_entry",
        "livemode",
    )
    list_filter = ("outcome", "type", "livemode")
    search_fields = ("event_id", "=checkout__id", "payload")
    date_hierarchy = "received_at"


@admin.register(StripeDispute)
class StripeDisputeAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "dispute_id",
        "checkout",
        "amount",
        "status",
        "withdrawn",
        "reinstated",
        "taken",
        "given_back",
    )
    list_filter = ("status",)
    search_fields = ("dispute_id", "=checkout__id", "checkout__stripe_payment_intent")
    list_select_related = ("checkout",)
    date_hierarchy = "created_at"
