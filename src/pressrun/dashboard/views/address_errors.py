"""The publisher corrects the address of an order stopped for an address problem (ERROR /
10): the order goes back to ready, recorded as fixed by the publisher, and the new address is
checked again (`pressrun.fulfillment.address.services.address_correct` decides)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.views.orders import _actor, _order_not_found, _order_or_404
from pressrun.fulfillment.address.forms import AddressCorrectionForm
from pressrun.fulfillment.address.services import address_correct
from pressrun.orders.changes import OrderChangeRefused, in_address_error
from pressrun.orders.models import Order


@publisher_required
@require_http_methods(["GET", "POST"])
def order_address_fix(request: PublisherRequest, order_id: int) -> HttpResponse:
    order = _order_or_404(request, order_id)
    if not in_address_error(order):
        context = {"section": "orders", "order": order, "not_stopped": True}
        return render(request, "dashboard/orders/address_fix.html", context, status=409)
    form = AddressCorrectionForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            address_correct(
                order_id=order.id,
                recipient=form.recipient(),
                actor=_actor(request),
                by="publisher",
                publisher=request.publisher,
            )
        except Order.DoesNotExist as exc:
            raise _order_not_found(request, order.id) from exc
        except OrderChangeRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"The address of order {order.id} is corrected: it goes back into production.",
            )
            return HttpResponseRedirect(reverse("dashboard:order_detail", args=[order.id]))
    context = {
        "section": "orders",
        "order": order,
        "form": form or AddressCorrectionForm.for_order(order),
    }
    return render(
        request,
        "dashboard/orders/address_fix.html",
        context,
        status=400 if form is not None else 200,
    )
