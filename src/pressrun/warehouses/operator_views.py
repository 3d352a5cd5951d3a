"""The operators' shipping pages (`/operator/shipping/`): shipping stations, marking an
order shipped by hand, importing tracking from a CSV file, the ship notices that could not
be applied, and the margin report. Thin: each page calls one service or selector."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.core.operator_pages import operator_actor, operator_required
from pressrun.core.selectors import public_base_url
from pressrun.fulfillment.selectors import effective_state
from pressrun.fulfillment.services import FulfillmentRefused, fulfillment_move
from pressrun.fulfillment.states import state_label
from pressrun.orders.models import FulfillmentState, Mode, Order, ShippingMethod
from pressrun.warehouses.forms import (
    FindOrderForm,
    MarginForm,
    ShipOrderForm,
    StationForm,
    TrackingImportForm,
)
from pressrun.warehouses.models import ATTENTION_OUTCOMES, ShipNotice, WarehouseConnection
from pressrun.warehouses.notices import ship_notice_apply_to, ship_notice_resolve
from pressrun.warehouses.order_page import SHIPPABLE_STATES
from pressrun.warehouses.selectors import margin_report
from pressrun.warehouses.services import (
    ConnectionInvalid,
    NewConnection,
    warehouse_create,
    warehouse_reset_password,
    warehouse_set_enabled,
)
from pressrun.warehouses.tracking_import import (
    ImportInvalid,
    tracking_import_apply,
    tracking_import_preview,
)

S = FulfillmentState
SECTION = "shipping"


def _page(request: HttpRequest, template: str, context: dict[str, object]) -> HttpResponse:
    return render(request, template, {"section": SECTION, **context})


def endpoint_url() -> str:
    """The URL an operator pastes into ShipStation's Custom Store settings."""
    return public_base_url().rstrip("/") + reverse("shipstation")


@operator_required
@require_http_methods(["GET", "POST"])
def stations(request: HttpRequest) -> HttpResponse:
    """The shipping stations (own stations only: publishers' warehouses are theirs), the
    form that adds one, and a box to find an order to mark shipped."""
    form = StationForm(request.POST or None)
    created: NewConnection | None = None
    if request.method == "POST" and form.is_valid():
        try:
            created = warehouse_create(
                name=form.cleaned_data["name"], after_packing=form.cleaned_data["after_packing"]
            )
        except ConnectionInvalid as exc:
            form.add_error("name", exc.message)
        else:
            form = StationForm()
    return _page(
        request,
        "warehouses/stations.html",
        {
            "stations": WarehouseConnection.objects.filter(publisher__isnull=True),
            "form": form,
            "find_form": FindOrderForm(),
            "created": created,
            "endpoint_url": endpoint_url(),
        },
    )


@operator_required
@require_POST
def station_change(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(WarehouseConnection, id=connection_id, publisher__isnull=True)
    action = request.POST.get("action", "")
    if action in ("enable", "disable"):
        warehouse_set_enabled(connection_id=connection.id, enabled=action == "enable")
        messages.success(
            request, f"{connection.name} is {'enabled' if action == 'enable' else 'disabled'}."
        )
        return HttpResponseRedirect(reverse("warehouses:stations"))
    if action == "reset_password":
        created = warehouse_reset_password(connection_id=connection.id)
        return _page(
            request,
            "warehouses/stations.html",
            {
                "stations": WarehouseConnection.objects.filter(publisher__isnull=True),
                "form": StationForm(),
                "find_form": FindOrderForm(),
                "created": created,
                "reset": True,
                "endpoint_url": endpoint_url(),
            },
        )
    messages.error(request, "Unknown action.")
    return HttpResponseRedirect(reverse("warehouses:stations"))


@operator_required
def find_order(request: HttpRequest) -> HttpResponse:
    form = FindOrderForm(request.GET)
    if form.is_valid():
        return HttpResponseRedirect(
            reverse("warehouses:order_ship", args=[form.cleaned_data["order"]])
        )
    messages.error(request, "Enter an order number.")
    return HttpResponseRedirect(reverse("warehouses:stations"))


@operator_required
@require_http_methods(["GET", "POST"])
def order_ship(request: HttpRequest, order_id: int) -> HttpResponse:
    """Enter an order's tracking and mark it shipped (a letter-rate order may have none)."""
    order = get_object_or_404(
        Order.objects.select_related("publisher").prefetch_related("lines__project"),
        id=order_id,
        mode=Mode.PROD,
    )
    letter_rate = order.shipping_method == ShippingMethod.STANDARD
    form = ShipOrderForm(request.POST or None, letter_rate=letter_rate)
    state = effective_state(order)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = fulfillment_move(
                order_id=order.id,
                to=S.SHIPPED,
                actor=operator_actor(request.user),
                ship_date=data["ship_date"],
                carrier=data["carrier"],
                service=data["service"],
                tracking_id=data["tracking_id"],
                postage_cost=data["postage_cost"],
                correction=order.fulfillment_state == S.SHIPPED,
            )
        except FulfillmentRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"Order {order.id} is shipped."
                if result.changed
                else f"Order {order.id} already had this shipment; nothing changed.",
            )
            return HttpResponseRedirect(reverse("warehouses:order_ship", args=[order.id]))
    return _page(
        request,
        "warehouses/order_ship.html",
        {
            "order": order,
            "form": form,
            "letter_rate": letter_rate,
            "state": state,
            "state_label": state_label(state),
            "shippable": state in SHIPPABLE_STATES or state == S.SHIPPED,
        },
    )


@operator_required
@require_http_methods(["GET", "POST"])
def tracking_import(request: HttpRequest) -> HttpResponse:
    """Upload or paste the CSV, see what will change row by row, then apply it all."""
    form = TrackingImportForm(request.POST or None, request.FILES or None)
    result = None
    text = ""
    if request.method == "POST" and form.is_valid():
        text = (
            request.POST.get("confirmed_text", "")
            if request.POST.get("apply")
            else form.rows_text()
        )
        try:
            if request.POST.get("apply"):
                result = tracking_import_apply(text=text, actor=operator_actor(request.user))
                if result.applied:
                    messages.success(request, f"Imported: {result.changes} order(s) changed.")
                    return HttpResponseRedirect(reverse("warehouses:tracking_import"))
                form.add_error(None, "Nothing was imported: fix the rows marked below.")
            else:
                result = tracking_import_preview(text=text, actor=operator_actor(request.user))
        except ImportInvalid as exc:
            form.add_error(None, exc.message)
            result = None
    return _page(
        request,
        "warehouses/tracking_import.html",
        {"form": form, "result": result, "text": text},
    )


@operator_required
@require_http_methods(["GET", "POST"])
def notices(request: HttpRequest) -> HttpResponse:
    """The ship notices that could not be applied (unknown, ambiguous or cancelled order,
    refused by the order's state); "all" lists every notice received."""
    if request.method == "POST":
        try:
            notice_id = int(request.POST.get("notice", ""))
        except ValueError:
            notice_id = 0
        get_object_or_404(ShipNotice, id=notice_id)
        if request.POST.get("action") == "apply":
            return _apply_notice(request, notice_id)
        ship_notice_resolve(notice_id=notice_id, actor=operator_actor(request.user))
        messages.success(request, "Marked as dealt with.")
        return HttpResponseRedirect(reverse("warehouses:notices"))
    show_all = request.GET.get("show") == "all"
    found = ShipNotice.objects.select_related("connection", "order")
    if not show_all:
        found = found.filter(outcome__in=ATTENTION_OUTCOMES, resolved_at__isnull=True)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    return _page(request, "warehouses/notices.html", {"page": page, "show_all": show_all})


def _apply_notice(request: HttpRequest, notice_id: int) -> HttpResponse:
    """Ship the order the operator names with the notice's details."""
    raw = request.POST.get("order", "").strip()
    order = (
        Order.objects.filter(id=int(raw), mode=Mode.PROD).first()
        if raw.isascii() and raw.isdigit() and len(raw) <= 18
        else None
    )
    if order is None:
        messages.error(request, f"There is no production order {raw[:20]!r}.")
        return HttpResponseRedirect(reverse("warehouses:notices"))
    try:
        ship_notice_apply_to(
            notice_id=notice_id, order_id=order.id, actor=operator_actor(request.user)
        )
    except FulfillmentRefused as exc:
        messages.error(request, f"Not applied: {exc.message}")
    else:
        messages.success(request, f"Order {order.id} is shipped with the notice's details.")
    return HttpResponseRedirect(reverse("warehouses:notices"))


@operator_required
def margin(request: HttpRequest) -> HttpResponse:
    """Per shipped order: what the publisher paid for shipping, what postage cost, the
    margin; with totals, for a range of ship dates (default the last 30 days)."""
    form = MarginForm(request.GET or None)
    date_from, date_to = form.period()
    report = margin_report(date_from=date_from, date_to=date_to)
    return _page(request, "warehouses/margin.html", {"form": form, "report": report})
