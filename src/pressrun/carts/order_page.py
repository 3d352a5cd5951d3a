"""The cart post-back section of the operator's order page (`/operator/floor/orders/<id>`,
`fulfillment.order_page`): where sending the order's tracking back to its cart stands (the
same summary the publisher reads), with "Send again" for a post-back that gave up.
Registered in CartsConfig.ready(); the button's view is `postback_send_again`
(`/operator/carts/orders/<id>/postback`, operator_urls.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from pressrun.carts.models import CartPostback, PostbackState
from pressrun.carts.postback import postback_retry, postback_summary
from pressrun.core.errors import PageNotFound
from pressrun.core.operator_pages import operator_required
from pressrun.orders.models import Order


def postback_section(request: HttpRequest, order: Order) -> dict[str, Any] | None:
    """The section's context; None for an order with no post-back (not shipped yet, from no
    cart, a test order)."""
    postback = CartPostback.objects.filter(order=order).first()
    if postback is None:
        return None
    return {
        "order": order,
        "postback": postback,
        "summary": postback_summary(postback),
        "can_send_again": postback.state == PostbackState.GAVE_UP,
    }


@operator_required
@require_POST
def postback_send_again(request: HttpRequest, order_id: int) -> HttpResponse:
    """Start the order's given-up post-back over (`postback_retry`), back to the order page."""
    postback = CartPostback.objects.filter(order_id=order_id).first()
    if postback is None:
        raise PageNotFound(f"Order {order_id} has no post-back to a cart.")
    if postback_retry(postback_id=postback.id):
        messages.success(request, f"Sending the tracking to {postback.get_cart_display()} again.")
    else:
        messages.error(
            request, "Nothing was sent again: only a post-back that gave up can be sent again."
        )
    return HttpResponseRedirect(reverse("floor:order", args=[order_id]))
