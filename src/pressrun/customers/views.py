"""The customer's page behind the link in the order notification: see the order, correct
the address until postage is printed. No login: the link's token is the credential."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from pressrun.customers.forms import AddressForm
from pressrun.customers.selectors import (
    address_hidden_since,
    customer_status,
    deleted_order_by_customer_token,
    order_by_customer_token,
)
from pressrun.fulfillment.address.services import address_correct
from pressrun.orders.address import country_name
from pressrun.orders.changes import OrderChangeRefused, customer_address_window
from pressrun.orders.models import Order, OrderStatus
from pressrun.orders.selectors import order_lines_with_projects
from pressrun.orders.services import OrderRefused
from pressrun.orders.tracking import tracking_link


def _page(
    request: HttpRequest, order: Order, form: AddressForm | None, *, saved: bool = False
) -> HttpResponse:
    window = customer_address_window(order)
    publisher = order.publisher
    hidden_since = address_hidden_since(order)
    context: dict[str, object] = {
        "order": order,
        "status": customer_status(order),
        "window": window,
        "saved": saved,
        "company": publisher.company or "the seller",
        "contact_email": publisher.customer_contact,
        "details_hidden": hidden_since is not None,
        "visible_days": settings.CUSTOMER_ADDRESS_VISIBLE_DAYS,
    }
    if hidden_since is None:
        # Only while the details are shown: nothing of them reaches the template after.
        context |= {
            "lines": order_lines_with_projects(order.id),
            "form": (form or AddressForm.for_order(order)) if window.is_open else None,
            "country": country_name(order.country),
            "tracking": (
                tracking_link(tracking_id=order.tracking_id, carrier=order.carrier)
                if order.status == OrderStatus.SHIPPED
                else None
            ),
        }
    response = render(request, "customers/order.html", context)
    # The token is in the address: keep it out of other sites' logs and search engines.
    # "same-origin", not "no-referrer": under no-referrer Chromium sends `Origin: null` with
    # the page's own form, and the CSRF check rightly refuses that.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _link_not_working(request: HttpRequest, token: str) -> HttpResponse:
    """The page for a link that names no order: 410 with who to contact when its order was
    cancelled (deleted by the publisher), else 404 (mistyped or cut short)."""
    deleted = deleted_order_by_customer_token(token)
    context: dict[str, object] = {"deleted": deleted}
    if deleted is not None:
        context["company"] = deleted.publisher.company or "the seller"
        context["contact_email"] = deleted.publisher.customer_contact
    response = render(
        request, "customers/link_not_working.html", context, status=404 if deleted is None else 410
    )
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def order_page(request: HttpRequest, token: str) -> HttpResponse:
    order = order_by_customer_token(token)
    if order is None:
        return _link_not_working(request, token)
    if request.method != "POST":
        return _page(request, order, None, saved=request.GET.get("saved") == "1")
    if not customer_address_window(order).is_open:
        return _page(request, order, None)
    form = AddressForm(request.POST)
    if not form.is_valid():
        return _page(request, order, form)
    try:
        address_correct(order_id=order.id, recipient=form.recipient(), actor="customer")
    except Order.DoesNotExist:  # the publisher deleted it since the page was shown
        return _link_not_working(request, token)
    except OrderChangeRefused as exc:
        cause = exc.__cause__
        form.add_refusal(cause.reason if isinstance(cause, OrderRefused) else None, exc.message)
        # The window may have closed (or the order shipped) since the page was shown.
        order.refresh_from_db()
        return _page(request, order, form)
    return HttpResponseRedirect(reverse("customers:order", kwargs={"token": token}) + "?saved=1")
