"""Integrations → Warehouses → a connection's stock: the levels the warehouse reported, what
each channel SKU comes to (a bundle: the complete sets its components allow), what was last
sent to Shopify and when, and the publisher's stock sync setting: the shop and the location
stock is set at, picked from the shop's locations as Shopify lists them (no location: off).

The connection is looked up among the signed-in publisher's own: another publisher's is a
404 whatever the method.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from pressrun.carts.shopify.client import Location
from pressrun.carts.stock_sync import (
    StockSyncInvalid,
    stock_items,
    stock_sync_configure,
    stock_sync_locations,
    stock_sync_of,
    stock_sync_queue,
    stock_sync_shop_guess,
)
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.warehouses.models import WarehouseConnection
from pressrun.warehouses.selectors import warehouse_stock_levels


def _page(
    request: PublisherRequest,
    connection: WarehouseConnection,
    *,
    shop_domain: str = "",
    locations: list[Location] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    sync = stock_sync_of(publisher_id=request.publisher.id)
    context = {
        "section": "integrations",
        "connection": connection,
        "sync": sync,
        "shop_domain": shop_domain
        or (sync.shop_domain if sync else "")
        or stock_sync_shop_guess(publisher_id=request.publisher.id),
        "locations": locations,
        "error": error,
        "interval_minutes": max(settings.STOCK_SYNC_SECONDS // 60, 1),
        "items": stock_items(connection_id=connection.id),
        "levels": warehouse_stock_levels(connection),
    }
    return render(request, "dashboard/warehouse_stock.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def warehouse_stock(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """GET: the page. POST `action`: "locations" reads the shop's locations to pick from;
    "save" saves the shop and location (an empty location turns the sync off); "sync"
    queues a full sync now."""
    connection = owned_or_404(
        WarehouseConnection.objects.all(), request.publisher, id=connection_id
    )
    if request.method != "POST":
        return _page(request, connection)
    action = request.POST.get("action", "")
    shop_domain = request.POST.get("shop_domain", "").strip()[:255]
    here = reverse("dashboard:warehouse_stock", args=[connection.id])
    if action == "sync":
        sync = stock_sync_of(publisher_id=request.publisher.id)
        if sync is None or not sync.is_on:
            messages.error(request, "Stock sync is off: pick a Shopify location first.")
        else:
            stock_sync_queue(publisher_id=request.publisher.id, changed_only=False)
            messages.success(request, "Stock is being sent to Shopify.")
        return HttpResponseRedirect(here)
    try:
        if action == "locations":
            locations = stock_sync_locations(publisher=request.publisher, shop_domain=shop_domain)
            return _page(request, connection, shop_domain=shop_domain, locations=locations)
        if action == "save":
            sync = stock_sync_configure(
                publisher=request.publisher,
                shop_domain=shop_domain,
                location_id=request.POST.get("location_id", "").strip()[:100],
            )
            messages.success(
                request,
                f"Stock is set at {sync.location_name} in {sync.shop_domain}."
                if sync.is_on
                else "Stock sync is off.",
            )
            return HttpResponseRedirect(here)
    except StockSyncInvalid as exc:
        return _page(request, connection, shop_domain=shop_domain, error=exc.message, status=400)
    return _page(request, connection, error="Unknown action.", status=400)
