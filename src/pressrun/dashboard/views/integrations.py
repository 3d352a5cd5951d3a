"""Integrations: the URLs to paste into each cart and the gateway, the last deliveries, a
test order, and mapping unmatched cart products to projects."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pressrun.carts import selectors as cart_selectors
from pressrun.carts.models import InboundDelivery, UnmatchedProduct
from pressrun.carts.services import (
    DeliveryNotFound,
    UnmatchedProductNotFound,
    WarehouseNotFound,
    delivery_dismiss,
    delivery_replay_by_publisher,
    unmatched_add_listing,
    unmatched_ignore,
    unmatched_map_to_project,
    unmatched_unignore,
)
from pressrun.core.errors import DomainError, PageNotFound
from pressrun.core.money import format_money
from pressrun.core.selectors import public_base_url
from pressrun.dashboard import selectors
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.forms import AddListingForm, MapUnmatchedForm
from pressrun.orders.models import Mode, Source
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import OrderRefused, order_place

# Where the test order "ships": a well-formed address that no box is ever sent to (test
# orders are never produced).
TEST_RECIPIENT = RecipientRequest(
    name="Test Customer",
    address="100 Main Street",
    city="Springfield",
    state="IL",
    postal_code="62701",
    country="US",
)


@publisher_required
@require_GET
def integrations(request: PublisherRequest) -> HttpResponse:
    publisher = request.publisher
    projects = selectors.active_projects(publisher=publisher)
    project_list = list(projects)
    unmatched = list(cart_selectors.unmatched_products_open(publisher)[:50])
    warehouses = selectors.warehouse_connections(publisher=publisher)
    base = public_base_url()
    context = {
        "section": "integrations",
        "gateway_order_url": base + reverse("gateway:order"),
        "gateway_status_url": base + reverse("gateway:status"),
        "shopify_url": cart_selectors.shopify_webhook_url(publisher),
        "shopify_test_url": cart_selectors.shopify_webhook_url(publisher, test=True),
        "shopify_needs_token": cart_selectors.shopify_url_needs_token(publisher),
        "shopify_signed_url": cart_selectors.shopify_webhook_url(publisher, with_token=False),
        "samcart_url": cart_selectors.samcart_notify_url(publisher),
        "samcart_test_url": cart_selectors.samcart_notify_url(publisher, test=True),
        "oneshoppingcart_url": cart_selectors.oneshoppingcart_notify_url(
            publisher, error_email=publisher.error_recipient
        ),
        "oneshoppingcart_test_url": cart_selectors.oneshoppingcart_notify_url(
            publisher, test=True, error_email=publisher.error_recipient
        ),
        "deliveries": [
            (delivery, cart_selectors.delivery_replayable_by_publisher(delivery))
            for delivery in selectors.recent_deliveries(publisher=publisher)
        ],
        "ignored": list(cart_selectors.unmatched_products_ignored(publisher)[:50]),
        "unmatched": [
            (
                product,
                MapUnmatchedForm(
                    projects=projects, shown_projects=project_list, prefix=f"map-{product.id}"
                ),
                AddListingForm(connections=warehouses, prefix=f"listing-{product.id}")
                if warehouses
                else None,
            )
            for product in unmatched
        ],
        "has_projects": bool(project_list),
        "warehouses": warehouses,
    }
    return render(request, "dashboard/integrations.html", context)


@publisher_required
@require_POST
def test_order(request: PublisherRequest) -> HttpResponse:
    """Place a test order through intake, exactly as the gateway would; it is never billed
    or produced."""
    publisher = request.publisher
    project = selectors.active_projects(publisher=publisher).first()
    if project is None:
        messages.error(request, "Create a project first: a test order needs one to order.")
        return HttpResponseRedirect(reverse("dashboard:integrations") + "#gateway")
    order_request = OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id=project.id, quantity=1),),
        recipient=TEST_RECIPIENT,
        mode=Mode.TEST,
        source=Source.DASHBOARD,
        invoice=f"TEST-{secrets.token_hex(4).upper()}",
        send_notification_email=False,
        actor=f"dashboard test order ({publisher.email})"[:100],
    )
    try:
        order = order_place(request=order_request, publisher=publisher)
    except OrderRefused as exc:
        messages.error(request, f"The test order was refused: {exc.message}")
    else:
        messages.success(
            request,
            f"Test order {order.id} placed (invoice {order.invoice}, 1 x project {project.id}): "
            f"status TEST, it would cost {format_money(order.total_cost)}. Test orders are "
            "never billed or produced.",
        )
    return HttpResponseRedirect(reverse("dashboard:integrations") + "#gateway")


@publisher_required
@require_POST
def unmatched_map(request: PublisherRequest, unmatched_id: int) -> HttpResponse:
    """Map a cart product to a project (added to its eCommerce ID String) and re-process the
    kept deliveries that carried it."""
    publisher = request.publisher
    product = owned_or_404(
        UnmatchedProduct.objects.filter(resolved_at__isnull=True), publisher, id=unmatched_id
    )
    form = MapUnmatchedForm(
        request.POST,
        projects=selectors.active_projects(publisher=publisher),
        prefix=f"map-{product.id}",
    )
    if not form.is_valid():
        messages.error(
            request,
            f"Choose one of your projects for {product.get_cart_display()} product "
            f"'{product.product_ref}'.",
        )
        return HttpResponseRedirect(reverse("dashboard:integrations") + "#unmatched")
    project = form.cleaned_data["project"]
    try:
        reprocessed = unmatched_map_to_project(
            publisher=publisher, unmatched_product_id=product.id, project_id=project.id
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("dashboard:integrations") + "#unmatched")
    messages.success(
        request,
        f"{product.get_cart_display()} product '{product.product_ref}' now orders project "
        f"{project.id} ({project.title}). {reprocessed} kept "
        f"deliver{'y' if reprocessed == 1 else 'ies'} queued to be processed again.",
    )
    return HttpResponseRedirect(reverse("dashboard:integrations") + "#unmatched")


@publisher_required
@require_POST
def unmatched_listing(request: PublisherRequest, unmatched_id: int) -> HttpResponse:
    """ "Add a listing": list the cart product at one of the publisher's warehouses and route
    the lines waiting on it (only those: never a second order)."""
    publisher = request.publisher
    product = owned_or_404(
        UnmatchedProduct.objects.filter(resolved_at__isnull=True), publisher, id=unmatched_id
    )
    form = AddListingForm(request.POST, prefix=f"listing-{product.id}")
    back = HttpResponseRedirect(reverse("dashboard:integrations") + "#unmatched")
    if not form.is_valid():
        messages.error(
            request,
            "Choose one of your warehouses, and a warehouse SKU of at most 100 characters, for "
            f"{product.get_cart_display()} product '{product.product_ref}'.",
        )
        return back
    try:
        routed = unmatched_add_listing(
            publisher=publisher,
            unmatched_product_id=product.id,
            connection_id=form.cleaned_data["connection"],
            warehouse_sku=form.cleaned_data["warehouse_sku"],
        )
    except WarehouseNotFound as exc:
        raise PageNotFound(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return back
    messages.success(
        request,
        f"{product.get_cart_display()} product '{product.product_ref}' is listed at your "
        f"warehouse. {routed} kept deliver{'y' if routed == 1 else 'ies'} routed or queued to "
        "be processed again.",
    )
    return back


@publisher_required
@require_GET
def delivery_detail(request: PublisherRequest, delivery_id: int) -> HttpResponse:
    """One delivery: its outcome, the orders it made (pressrun's and the warehouses'), and
    each line of its cart order with where it went, the lines not routed with their reason."""
    delivery = owned_or_404(
        InboundDelivery.objects.defer("body", "headers"), request.publisher, id=delivery_id
    )
    context = {
        "section": "integrations",
        "delivery": delivery,
        "orders": list(delivery.orders.order_by("id")),
        "warehouse_orders": selectors.delivery_warehouse_orders(delivery=delivery),
        "lines": selectors.delivery_lines(delivery=delivery),
        "replayable": cart_selectors.delivery_replayable_by_publisher(delivery),
    }
    return render(request, "dashboard/delivery.html", context)


def _actor(request: PublisherRequest) -> str:
    return f"dashboard ({request.publisher.email})"[:100]


def _back(request: PublisherRequest, default: str) -> HttpResponseRedirect:
    """Back to the page the form was on (home or integrations), else `default`."""
    target = request.POST.get("back", "")
    if target == "home":
        return HttpResponseRedirect(reverse("dashboard:home") + "#problems-detail")
    return HttpResponseRedirect(reverse("dashboard:integrations") + default)


@publisher_required
@require_POST
def delivery_dismiss_view(request: PublisherRequest, delivery_id: int) -> HttpResponse:
    """Dismiss a failed delivery: out of "Needs attention", still in the log."""
    try:
        delivery = delivery_dismiss(
            publisher=request.publisher, delivery_id=delivery_id, actor=_actor(request)
        )
    except DeliveryNotFound as exc:
        raise PageNotFound(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Delivery {delivery.id} is dismissed: it no longer needs attention and stays in "
            "the delivery log.",
        )
    return _back(request, "#deliveries")


@publisher_required
@require_POST
def delivery_replay_view(request: PublisherRequest, delivery_id: int) -> HttpResponse:
    """Process a failed or unmatched delivery again (the same processing as the first time;
    a delivery that already made an order never makes a second one)."""
    mine = InboundDelivery.objects.filter(id=delivery_id, publisher=request.publisher).first()
    lines_left = mine is not None and cart_selectors.delivery_lines_left(mine)
    try:
        delivery_replay_by_publisher(publisher=request.publisher, delivery_id=delivery_id)
    except DeliveryNotFound as exc:
        raise PageNotFound(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"The lines left of delivery {delivery_id} were routed: its page shows where each "
            "line went."
            if lines_left
            else f"Delivery {delivery_id} is queued to be processed again; its outcome appears "
            "in the delivery log in a moment.",
        )
    return _back(request, "#deliveries")


@publisher_required
@require_POST
def unmatched_ignore_view(request: PublisherRequest, unmatched_id: int) -> HttpResponse:
    """ "Not a disc: never ask again" for a cart product."""
    try:
        product = unmatched_ignore(
            publisher=request.publisher, unmatched_product_id=unmatched_id, actor=_actor(request)
        )
    except UnmatchedProductNotFound as exc:
        raise PageNotFound(exc.message) from exc
    messages.success(
        request,
        f"{product.get_cart_display()} product '{product.product_ref}' is ignored: it is not "
        "listed as needing a project any more. “Ask again” under Ignored cart products undoes it.",
    )
    return _back(request, "#unmatched")


@publisher_required
@require_POST
def unmatched_unignore_view(request: PublisherRequest, unmatched_id: int) -> HttpResponse:
    """Undo "never ask again": the product is listed again until it is mapped or ignored."""
    try:
        product = unmatched_unignore(publisher=request.publisher, unmatched_product_id=unmatched_id)
    except UnmatchedProductNotFound as exc:
        raise PageNotFound(exc.message) from exc
    messages.success(
        request,
        f"{product.get_cart_display()} product '{product.product_ref}' is listed again.",
    )
    return _back(request, "#unmatched")
