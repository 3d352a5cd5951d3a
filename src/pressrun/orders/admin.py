"""The operators' view of deleted orders, and the inlines of an order's admin page.

The order's own admin page (with "Change status") is registered by `fulfillment/admin.py`:
its actions are payments and fulfillment moves, and `orders` sits below both.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from pressrun.orders.models import Order, OrderDeletion, OrderEvent, OrderLine


class OrderLineInline(admin.TabularInline[OrderLine, Order]):
    model = OrderLine
    fields = ("position", "project", "quantity", "unit_price")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OrderEventInline(admin.TabularInline[OrderEvent, Order]):
    model = OrderEvent
    fields = (
        "at",
        "kind",
        "from_status",
        "to_status",
        "from_state",
        "to_state",
        "message",
        "actor",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OrderDeletion)
class OrderDeletionAdmin(admin.ModelAdmin[OrderDeletion]):
    """What publishers deleted (HOLD and test orders): read-only, the record of the act."""

    list_display = ("order_number", "publisher", "invoice", "name", "status", "deleted_at")
    list_filter = ("mode", "status")
    search_fields = ("=order_number", "=publisher__id", "invoice", "name")
    list_select_related = ("publisher",)
    # The deleted order's customer link is the customer's key to its page: never shown.
    exclude = ("customer_token",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OrderDeletion | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OrderDeletion | None = None) -> bool:
        return False
