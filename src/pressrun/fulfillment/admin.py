"""The operators' order pages: the list, an order's page (linking the operator pages' order
page, `/operator/floor/orders/<id>`), and its "Change status" page, where an operator pays a
HOLD order or makes a fulfillment move. The page only offers and forwards;
`billing.services.order_pay_from_balance` and `fulfillment.services.fulfillment_move` decide.
The floor's batches are listed read-only (they change on the floor's pages only).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from pressrun.billing.services import PaymentRefused, order_pay_from_balance
from pressrun.core.forms import MoneyField
from pressrun.fulfillment.floor import GROUPS_BY_KEY
from pressrun.fulfillment.models import Batch
from pressrun.fulfillment.selectors import effective_state, state_q, window_has_ended
from pressrun.fulfillment.services import MAX_POSTAGE_COST, FulfillmentRefused, fulfillment_move
from pressrun.fulfillment.states import FULFILLMENT_TABLE, state_label
from pressrun.orders.admin import OrderEventInline, OrderLineInline
from pressrun.orders.models import FulfillmentState, Order, OrderStatus

S = FulfillmentState
PAY = "pay"
CORRECT_SHIPMENT = "correct_shipment"


def change_choices(order: Order) -> list[tuple[str, str]]:
    """What an operator may do to `order` now: pay it (HOLD), correct a shipment (shipped),
    or the moves the table allows from its effective state (a waiting order whose window is
    over is offered what a ready one is)."""
    if order.status == OrderStatus.HOLD:
        return [(PAY, "Pay from the balance (HOLD → PROCESSING)")]
    state = effective_state(order)
    if not state:
        return []
    if state == S.SHIPPED:
        return [(CORRECT_SHIPMENT, "Correct the shipment details (stays shipped)")]
    allowed = FULFILLMENT_TABLE[state].next
    if state == S.WAITING and not window_has_ended(order):
        allowed = allowed - {S.READY}
    return [
        (target, f"{state_label(target)} ({FULFILLMENT_TABLE[target].status})")
        for target in FULFILLMENT_TABLE
        if target in allowed
    ]


class ChangeStatusForm(forms.Form):
    to = forms.ChoiceField(label="Change to")
    ship_date = forms.DateField(
        required=False,
        help_text="Shipped: the date postage printed (YYYY-MM-DD); it may be a few days ahead.",
    )
    carrier = forms.CharField(required=False, max_length=50, help_text="Shipped: e.g. USPS.")
    service = forms.CharField(
        required=False, max_length=100, help_text="Shipped: e.g. USPS Priority Mail."
    )
    tracking_id = forms.CharField(
        required=False, max_length=100, help_text="Shipped: blank for a letter without tracking."
    )
    postage_cost = MoneyField(
        required=False,
        min_value=Decimal("0.00"),
        max_value=MAX_POSTAGE_COST,
        help_text="Shipped: what the postage cost (the label's price).",
    )
    description = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Address error: what is wrong with the address (the publisher sees this).",
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Cancelled: why (the publisher sees this). What the order was charged is "
        "credited back to the publisher's balance.",
    )
    note = forms.CharField(
        required=False, max_length=500, help_text="Optional: added to the order's history."
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = choices  # type: ignore[attr-defined]


class PhysicalStateFilter(admin.SimpleListFilter):
    """The list narrowed to a physical state, with the postage-window rule applied (a
    waiting order whose window is over is listed as ready)."""

    title = "fulfillment"
    parameter_name = "fulfillment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in FulfillmentState.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        value = self.value()
        if value not in FULFILLMENT_TABLE:
            return queryset
        return queryset.filter(state_q(value))


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
        "physical_state",
        "shipping_method",
        "total_cost",
    )
    list_filter = ("status", PhysicalStateFilter, "mode", "source", "shipping_method")
    search_fields = ("=id", "invoice", "name", "email", "tracking_id", "=publisher__id")
    list_select_related = ("publisher",)
    date_hierarchy = "created_at"
    inlines = (OrderLineInline, OrderEventInline)
    actions = ("pay_from_balance",)
    change_form_template = "admin/orders/order/change_form.html"
    readonly_fields = (
        "id",
        "publisher",
        "mode",
        "status",
        "physical_state",
        "fulfillment_updated_at",
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
        "address_changes_until",
        "address_checked_at",
        "address_check_note",
        "address_error_reminded_at",
        "error_description",
        "ship_date",
        "carrier",
        "service",
        "tracking_id",
        "postage_cost",
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
    exclude = ("customer_token", "fulfillment_state")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come in through intake only

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="fulfillment", ordering="fulfillment_state")
    def physical_state(self, order: Order) -> str:
        """The effective physical state (a waiting order whose window is over is ready)."""
        return state_label(effective_state(order))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:order_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            )
        ]
        return own + super().get_urls()

    @admin.action(description="Pay selected HOLD orders from the balance")
    def pay_from_balance(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        paid, refused = 0, []
        for order_id in queryset.order_by("created_at", "id").values_list("id", flat=True):
            try:
                order_pay_from_balance(order_id=order_id, actor=f"operator:{request.user}")
                paid += 1
            except PaymentRefused as exc:
                refused.append(exc.message)
        if paid:
            self.message_user(request, f"{paid} order(s) paid: PROCESSING.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    def transition_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        order = get_object_or_404(Order, id=order_id)
        if not self.has_change_permission(request, order):
            return HttpResponseRedirect(reverse("admin:index"))
        choices = change_choices(order)
        form = ChangeStatusForm(request.POST or None, choices=choices)
        if request.method == "POST" and form.is_valid():
            error = self._apply(request, order, form.cleaned_data)
            if error is None:
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.id]))
            form.add_error(None, error)
        state = effective_state(order)
        now = f"{order.status}" + (f", {state_label(state).lower()}" if state else "")
        intro = "" if choices else "Nothing can change from here: the order is final."
        if order.status == OrderStatus.TEST:
            intro = "Test orders are never paid, made or shipped."
        elif state == S.WAITING:
            intro = (
                f"The customer may correct the address until "
                f"{order.address_changes_until:%Y-%m-%d %H:%M} UTC; nothing is made or "
                "shipped before then."
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change the status of order {order.id} (now {now})",
            "intro": intro,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pressrun/simple_form.html", context)

    def _apply(self, request: HttpRequest, order: Order, data: dict[str, Any]) -> str | None:
        """Do what the form asks; None when done, else the refusal to show."""
        actor = f"operator:{request.user}"
        try:
            if data["to"] == PAY:
                order_pay_from_balance(order_id=order.id, actor=actor)
                self.message_user(request, f"Order {order.id} is paid: PROCESSING.")
                return None
            target = S.SHIPPED if data["to"] == CORRECT_SHIPMENT else data["to"]
            details: dict[str, Any] = {"note": data["note"]}
            if target == S.SHIPPED:
                details.update(
                    ship_date=data["ship_date"],
                    carrier=data["carrier"],
                    service=data["service"],
                    tracking_id=data["tracking_id"],
                    postage_cost=data["postage_cost"],
                )
            elif target == S.ADDRESS_ERROR:
                details["description"] = data["description"]
            elif target == S.CANCELLED:
                details["reason"] = data["reason"]
            result = fulfillment_move(
                order_id=order.id,
                to=target,
                actor=actor,
                correction=data["to"] == CORRECT_SHIPMENT,
                **details,
            )
        except (PaymentRefused, FulfillmentRefused) as exc:
            return exc.message
        moved = result.order
        self.message_user(
            request,
            f"Order {order.id} is now {moved.status}, "
            f"{state_label(moved.fulfillment_state).lower()}."
            if result.changed
            else f"Order {order.id} was already {state_label(moved.fulfillment_state).lower()}"
            " with these details: nothing changed.",
        )
        return None


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin[Batch]):
    """The floor's batches, read-only: number, group, state, how many orders are in it, who
    made it. Batches are made, packed and emptied on the floor's pages (`/operator/floor/`),
    through the moves of their orders."""

    list_display = ("id", "group_label", "state", "order_count", "created_by_name", "created_at")
    list_filter = ("state", "group")
    search_fields = ("=id", "created_by_name", "=memberships__order__id")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "group_label",
        "state",
        "order_count",
        "created_by_name",
        "created_at",
        "state_changed_at",
        "floor_page",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Batch]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                current_orders=Count("memberships", filter=Q(memberships__removed_at__isnull=True))
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="group", ordering="group")
    def group_label(self, batch: Batch) -> str:
        group = GROUPS_BY_KEY.get(batch.group)
        return group.label if group else batch.group

    @admin.display(description="orders", ordering="current_orders")
    def order_count(self, batch: Batch) -> int:
        """Orders in the batch now (those pulled out are not counted)."""
        return int(getattr(batch, "current_orders", 0))

    @admin.display(description="on the floor")
    def floor_page(self, batch: Batch) -> str:
        return format_html(
            '<a href="{}">Batch {} on the floor</a>',
            reverse("floor:batch", args=[batch.id]),
            batch.id,
        )
