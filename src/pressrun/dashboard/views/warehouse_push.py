"""Integrations → Warehouses → a connection's push protocol (for a WMS with an API,
docs/warehouses.md): the URL pressrun POSTs each order to, the signing secret (shown once
when made or replaced), the addresses the warehouse posts its confirmations and stock
levels to, and "Send again" for an order's refused or given-up push.

Every connection and push is looked up among the signed-in publisher's own: another
publisher's is a 404 whatever the method.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.core.sealed import hint
from pressrun.core.selectors import public_base_url
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.forms import WarehousePushForm
from pressrun.warehouses.models import WarehouseConnection, WarehousePush
from pressrun.warehouses.push import (
    PushRefused,
    PushSettingsInvalid,
    warehouse_push_again,
    warehouse_push_configure,
    warehouse_push_secret,
    warehouse_push_secret_rotate,
)
from pressrun.warehouses.selectors import warehouse_order_number


def _connection_or_404(request: PublisherRequest, connection_id: int) -> WarehouseConnection:
    return owned_or_404(WarehouseConnection.objects.all(), request.publisher, id=connection_id)


def _page(
    request: PublisherRequest,
    connection: WarehouseConnection,
    *,
    form: WarehousePushForm | None = None,
    new_secret: str = "",
    status: int = 200,
) -> HttpResponse:
    base = public_base_url().rstrip("/")
    context = {
        "section": "integrations",
        "connection": connection,
        "form": form or WarehousePushForm(initial={"url": connection.push_url}),
        "new_secret": new_secret,
        "secret_hint": hint(warehouse_push_secret(connection)),
        "has_secret": bool(connection.push_secret_sealed),
        "shipments_url": base + reverse("push_shipments", args=[connection.id]),
        "inventory_url": base + reverse("push_inventory", args=[connection.id]),
    }
    return render(request, "dashboard/warehouse_push.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def warehouse_push(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """GET: the push settings. POST: save the URL (empty: the warehouse pulls); the first
    URL makes the secret, shown in this answer only (a POST's answer is never stored)."""
    connection = _connection_or_404(request, connection_id)
    if request.method != "POST":
        return _page(request, connection)
    form = WarehousePushForm(request.POST)
    if form.is_valid():
        try:
            connection, new_secret = warehouse_push_configure(
                connection_id=connection.id, url=form.cleaned_data["url"]
            )
        except PushSettingsInvalid as exc:
            form.add_error("url", exc.message)
        else:
            if not new_secret:
                messages.success(
                    request,
                    f"{connection.name} now "
                    + (
                        "receives its orders by push."
                        if connection.push_url
                        else "pulls its orders."
                    ),
                )
            return _page(request, connection, new_secret=new_secret)
    return _page(request, connection, form=form, status=400)


@publisher_required
@require_POST
def warehouse_push_secret_new(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """Replace the signing secret; the new one is shown in this answer only."""
    connection = _connection_or_404(request, connection_id)
    new_secret = warehouse_push_secret_rotate(connection_id=connection.id)
    connection.refresh_from_db()
    return _page(request, connection, new_secret=new_secret)


@publisher_required
@require_POST
def warehouse_push_send_again(
    request: PublisherRequest, connection_id: int, push_id: int
) -> HttpResponse:
    """Send a refused or given-up push again (same order, same idempotency key)."""
    connection = _connection_or_404(request, connection_id)
    try:
        push = warehouse_push_again(publisher_id=request.publisher.id, push_id=push_id)
    except WarehousePush.DoesNotExist:
        raise Http404 from None
    except PushRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{warehouse_order_number(push.order_id)} is being sent to the warehouse again.",
        )
    return HttpResponseRedirect(reverse("dashboard:warehouse_orders", args=[connection.id]))
