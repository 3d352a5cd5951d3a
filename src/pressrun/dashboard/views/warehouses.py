"""Integrations → Warehouses: the publisher's own warehouse connections (a 3PL that pulls
its orders over ShipStation's Custom Store protocol with the connection's username and
password), and each one's listings — what a cart SKU is called at that warehouse — with a
CSV upload that is previewed before it is imported, and a CSV download.

Every connection is looked up among the signed-in publisher's own (`owned_or_404`): another
publisher's connection, its listings and its uploads are a 404 whatever the method.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pressrun.carts.models import CartPostback, PostbackState
from pressrun.carts.postback import postback_retry, postback_summary
from pressrun.carts.services import unmatched_reprocess_for_warehouse
from pressrun.core.selectors import public_base_url
from pressrun.dashboard import selectors
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.forms import ListingsUploadForm, WarehouseForm
from pressrun.warehouses.csv_files import MAX_FILE_BYTES
from pressrun.warehouses.listings import (
    Component,
    ListingsChanged,
    ListingsInvalid,
    Upload,
    listings_confirm,
    listings_csv,
    listings_for,
    listings_upload,
)
from pressrun.warehouses.models import WarehouseConnection, WarehouseOrderState
from pressrun.warehouses.orders import warehouse_orders_recheck_for_publisher
from pressrun.warehouses.services import (
    ConnectionInvalid,
    NewConnection,
    warehouse_create,
    warehouse_reset_password,
    warehouse_set_enabled,
    warehouse_set_receives_unknown_skus,
)
from pressrun.warehouses.states import WAREHOUSE_ORDER_TABLE

LISTINGS_PAGE_SIZE = 100


def _endpoint_url() -> str:
    return public_base_url().rstrip("/") + reverse("shipstation")


def _connection_or_404(request: PublisherRequest, connection_id: int) -> WarehouseConnection:
    return owned_or_404(WarehouseConnection.objects.all(), request.publisher, id=connection_id)


def _list_page(
    request: PublisherRequest,
    *,
    form: WarehouseForm | None = None,
    created: NewConnection | None = None,
    reset: bool = False,
    status: int = 200,
) -> HttpResponse:
    connections = WarehouseConnection.objects.filter(publisher=request.publisher).order_by("id")
    context = {
        "section": "integrations",
        "connections": connections,
        "form": form or WarehouseForm(),
        "created": created,
        "reset": reset,
        "endpoint_url": _endpoint_url(),
    }
    return render(request, "dashboard/warehouses.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def warehouses(request: PublisherRequest) -> HttpResponse:
    """GET: the publisher's connections. POST: add one; the answer shows its username and
    password this once (a POST's answer is never stored by the browser)."""
    if request.method != "POST":
        return _list_page(request)
    form = WarehouseForm(request.POST)
    if form.is_valid():
        try:
            created = warehouse_create(
                name=form.cleaned_data["name"], publisher_id=request.publisher.id
            )
        except ConnectionInvalid as exc:
            form.add_error("name", exc.message)
        else:
            return _list_page(request, created=created)
    return _list_page(request, form=form, status=400)


@publisher_required
@require_POST
def warehouse_enabled(request: PublisherRequest, connection_id: int) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    enabled = request.POST.get("enabled") == "1"
    warehouse_set_enabled(connection_id=connection.id, enabled=enabled)
    state = "enabled: its credentials work" if enabled else "disabled: its credentials are refused"
    messages.success(request, f"{connection.name} is {state}.{_routed_text(request, connection)}")
    return HttpResponseRedirect(reverse("dashboard:warehouses"))


def _routed_text(request: PublisherRequest, connection: WarehouseConnection) -> str:
    """Route the kept cart lines the warehouse now takes (their unmatched products), and say
    how many deliveries that was; "" when none."""
    routed = unmatched_reprocess_for_warehouse(
        publisher=request.publisher, connection_id=connection.id
    )
    if not routed:
        return ""
    return (
        f" {routed} kept deliver{'y' if routed == 1 else 'ies'} waiting for it "
        f"{'was' if routed == 1 else 'were'} routed or queued to be processed again."
    )


@publisher_required
@require_POST
def warehouse_unknown_skus(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """Send the cart lines whose SKU pressrun does not know (no project, no listing) to this
    warehouse, or stop; one warehouse of the publisher at most."""
    connection = _connection_or_404(request, connection_id)
    on = request.POST.get("on") == "1"
    warehouse_set_receives_unknown_skus(connection_id=connection.id, on=on)
    if on:
        text = (
            f"Cart lines whose SKU names no project and no listing now go to {connection.name}, "
            "unchanged" + ("." if connection.enabled else " (once it is enabled).")
        ) + _routed_text(request, connection)
    else:
        text = f"{connection.name} no longer receives unknown SKUs: they wait for a mapping."
    messages.success(request, text)
    return HttpResponseRedirect(reverse("dashboard:warehouses"))


@publisher_required
@require_GET
def warehouse_orders(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """A warehouse's orders: their state (with the reason of an error), lines and cart
    order, newest first, optionally in one state."""
    connection = _connection_or_404(request, connection_id)
    state = request.GET.get("state", "")
    if state not in WarehouseOrderState.values:
        state = ""
    found = selectors.warehouse_orders(connection=connection, state=state)
    page = Paginator(found, selectors.WAREHOUSE_ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    # Each package with where its post-back to the cart stands (none: a package that
    # completes no cart line, such as part of a bundle).
    postbacks = {
        postback.warehouse_shipment_id: postback
        for postback in CartPostback.objects.filter(
            warehouse_shipment__order__in=list(page.object_list)
        )
    }
    for order in page.object_list:
        order.shipment_rows = [
            (
                shipment,
                postbacks.get(shipment.id),
                postback_summary(postbacks[shipment.id]) if shipment.id in postbacks else "",
            )
            for shipment in order.shipments.all()
        ]
    counts = selectors.warehouse_order_counts(connection=connection)
    context = {
        "section": "integrations",
        "connection": connection,
        "page": page,
        "state": state,
        "states": [
            (value, label, counts.get(value, 0), WAREHOUSE_ORDER_TABLE[value].meaning)
            for value, label in WarehouseOrderState.choices
        ],
        "errors": counts.get(WarehouseOrderState.ERROR, 0),
        # The push column: a pushing warehouse's, or one that pushed before.
        "pushes": bool(connection.push_url) or connection.pushes.exists(),
    }
    return render(request, "dashboard/warehouse_orders.html", context)


@publisher_required
@require_POST
def warehouse_orders_recheck(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """Transform again the descriptions of the orders stopped in error for theirs."""
    connection = _connection_or_404(request, connection_id)
    moved = warehouse_orders_recheck_for_publisher(
        publisher_id=request.publisher.id, connection_id=connection.id
    )
    messages.success(
        request,
        f"{moved} order{'' if moved == 1 else 's'} in error now "
        f"{'has a carrier code and is' if moved == 1 else 'have a carrier code and are'} open.",
    )
    return HttpResponseRedirect(reverse("dashboard:warehouse_orders", args=[connection.id]))


@publisher_required
@require_POST
def warehouse_password(request: PublisherRequest, connection_id: int) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    created = warehouse_reset_password(connection_id=connection.id)
    return _list_page(request, created=created, reset=True)


def _components(components: tuple[Component, ...]) -> str:
    return " + ".join(f"{c.quantity} x {c.warehouse_sku}" for c in components)


def _listings_page(
    request: PublisherRequest,
    connection: WarehouseConnection,
    *,
    form: ListingsUploadForm | None = None,
    upload: Upload | None = None,
    errors: ListingsInvalid | None = None,
    status: int = 200,
) -> HttpResponse:
    listings = listings_for(connection)
    rows = [
        (sku, _components(components), len(components) > 1 or components[0].quantity > 1)
        for sku, components in listings.items()
    ]
    page = Paginator(rows, LISTINGS_PAGE_SIZE).get_page(request.GET.get("page"))
    preview = upload.preview if upload else None
    context: dict[str, Any] = {
        "section": "integrations",
        "connection": connection,
        "page": page,
        "count": len(rows),
        "form": form or ListingsUploadForm(),
        "upload": upload.upload if upload else None,
        "preview": preview,
        "preview_rows": (
            [("added", c.channel_sku, "", _components(c.after)) for c in preview.added]
            + [
                ("changed", c.channel_sku, _components(c.before), _components(c.after))
                for c in preview.changed
            ]
            + [("removed", c.channel_sku, _components(c.before), "") for c in preview.removed]
            if preview
            else []
        ),
        "errors": errors,
    }
    return render(request, "dashboard/warehouse_listings.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def warehouse_listings(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """GET: the connection's listings. POST `action=preview` with a file: its errors, or
    what importing it would change; POST `action=confirm` with `upload`: import it."""
    connection = _connection_or_404(request, connection_id)
    if request.method != "POST":
        return _listings_page(request, connection)
    if request.POST.get("action") == "confirm":
        try:
            upload_id = int(request.POST.get("upload", ""))
        except ValueError:
            upload_id = 0
        try:
            preview = listings_confirm(connection_id=connection.id, upload_id=upload_id)
        except (ListingsChanged, ListingsInvalid) as exc:
            messages.error(request, f"Nothing was imported: {exc.message}")
            return HttpResponseRedirect(
                reverse("dashboard:warehouse_listings", args=[connection.id])
            )
        messages.success(
            request,
            f"Listings imported: {len(preview.added)} added, {len(preview.changed)} changed, "
            f"{len(preview.removed)} removed, {preview.unchanged} unchanged."
            + _routed_text(request, connection),
        )
        return HttpResponseRedirect(reverse("dashboard:warehouse_listings", args=[connection.id]))
    form = ListingsUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _listings_page(request, connection, form=form, status=400)
    data = form.cleaned_data["file"].read(MAX_FILE_BYTES + 1)
    upload = listings_upload(
        connection_id=connection.id, data=data, replace_all=form.cleaned_data["replace_all"]
    )
    if not upload.parsed.ok:
        errors = ListingsInvalid(
            f"The file has {len(upload.parsed.errors) + upload.parsed.more_errors} error(s): "
            "nothing was imported. Fix them and upload it again.",
            upload.parsed.errors,
            upload.parsed.more_errors,
        )
        return _listings_page(request, connection, form=form, errors=errors, status=400)
    return _listings_page(request, connection, form=form, upload=upload)


@publisher_required
@require_GET
def warehouse_listings_csv(request: PublisherRequest, connection_id: int) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    response = HttpResponse(listings_csv(connection), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="listings-warehouse-{connection.id}.csv"'
    )
    response["Cache-Control"] = "no-store, private"
    return response


@publisher_required
@require_POST
def warehouse_shipment_postback_retry(
    request: PublisherRequest, connection_id: int, shipment_id: int
) -> HttpResponse:
    """Send a warehouse package's tracking to the cart again after its post-back gave up.
    Another publisher's warehouse or package is a 404."""
    connection = _connection_or_404(request, connection_id)
    postback = CartPostback.objects.filter(
        warehouse_shipment_id=shipment_id,
        warehouse_shipment__order__connection=connection,
        state=PostbackState.GAVE_UP,
    ).first()
    if postback is not None and postback_retry(postback_id=postback.id):
        messages.success(
            request, f"Sending the package's tracking to {postback.get_cart_display()} again."
        )
    else:
        messages.error(request, "There is nothing to send again for this package.")
    return HttpResponseRedirect(reverse("dashboard:warehouse_orders", args=[connection.id]))
