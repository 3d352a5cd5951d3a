from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from pressrun.orders.models import Order, OrderDeletion, OrderEvent, OrderLine, OrderStatus
from pressrun.orders.services import TransitionRefused, order_transition
from pressrun.orders.status import ALLOWED_TRANSITIONS


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
    fields = ("at", "kind", "from_status", "to_status", "message", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(label="New status")
    ship_date = forms.DateField(
        required=False, help_text="For SHIPPED: the date postage printed (YYYY-MM-DD)."
    )
    tracking_id = forms.CharField(required=False, max_length=100, help_text="For SHIPPED.")
    error_description = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For ERROR: what is wrong with the address (the publisher sees this).",
    )

    def __init__(self, *args: object, allowed: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["to_status"].choices = [  # type: ignore[attr-defined]
            (status, OrderStatus(status).label) for status in allowed
        ]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin[Order]):
    list_display = (
        "id",
        "created_at",
        "publisher",
        "invoice",
        "name",
        "mode",
        "status",
        "shipping_method",
        "total_cost",
    )
    list_filter = ("status", "mode", "source", "shipping_method")
    search_fields = ("=id", "invoice", "name", "email", "tracking_id", "=publisher__id")
    list_select_related = ("publisher",)
    date_hierarchy = "created_at"
    inlines = (OrderLineInline, OrderEventInline)
    actions = ("mark_processing",)
    change_form_template = "admin/orders/order/change_form.html"
    readonly_fields = (
        "id",
        "publisher",
        "mode",
        "status",
        "invoice",
        "source",
        "external_ref",
        "store",
        "email",
        "mail_method",
        "shipping_method",
        "special_text",
        "customer_price",
        "use_price_on_customs_form",
        "send_notification_email",
        "products_cost",
        "shipping_cost",
        "total_cost",
        "charged_at",
        "error_description",
        "ship_date",
        "tracking_id",
        "created_at",
        "updated_at",
        "name",
        "company",
        "address",
        "city",
        "state",
        "postal_code",
        "country",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come in through intake only

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:order_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            )
        ]
        return own + super().get_urls()

    @admin.action(description="Move selected orders to PROCESSING")
    def mark_processing(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        moved, refused = 0, []
        for order_id in queryset.values_list("id", flat=True):
            try:
                order_transition(
                    order_id=order_id,
                    to_status=OrderStatus.PROCESSING,
                    actor=f"operator:{request.user}",
                )
                moved += 1
            except TransitionRefused as exc:
                refused.append(exc.message)
        if moved:
            self.message_user(request, f"{moved} order(s) moved to PROCESSING.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    def transition_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        order = get_object_or_404(Order, id=order_id)
        if not self.has_change_permission(request, order):
            return HttpResponseRedirect(reverse("admin:index"))
        allowed = sorted(ALLOWED_TRANSITIONS.get(order.status, frozenset()))
        form = TransitionForm(request.POST or None, allowed=allowed)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                order_transition(
                    order_id=order.id,
                    to_status=data["to_status"],
                    actor=f"operator:{request.user}",
                    ship_date=data["ship_date"],
                    tracking_id=data["tracking_id"],
                    error_description=data["error_description"],
                )
            except TransitionRefused as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Order {order.id} is now {data['to_status']}.")
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.id]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change the status of order {order.id} (now {order.status})",
            "intro": "" if allowed else "No status change is possible from this status.",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pressrun/simple_form.html", context)


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
