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
from pressrun.carts.models import UnmatchedProduct
from pressrun.carts.services import unmatched_map_to_project
from pressrun.core.errors import DomainError
from pressrun.core.money import format_money
from pressrun.core.selectors import public_base_url
from pressrun.dashboard import selectors
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.forms import MapUnmatchedForm
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
        "deliveries": selectors.recent_deliveries(publisher=publisher),
        "unmatched": [
            (
                product,
                MapUnmatchedForm(
                    projects=projects, shown_projects=project_list, prefix=f"map-{product.id}"
                ),
            )
            for product in unmatched
        ],
        "has_projects": bool(project_list),
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
