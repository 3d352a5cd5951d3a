"""The operators' "Address errors" page (`/operator/address-errors/`): every order stopped
for an address problem, a form to report a problem on any open order (and the same report
from the address section of the operator's order page), and a page to correct an order's
address. The pages only offer and forward: `address_problem_report` and
`address_correct` decide."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.core.errors import PageNotFound
from pressrun.core.operator_pages import operator_actor, operator_required
from pressrun.fulfillment.address.forms import AddressCorrectionForm, ReportProblemForm
from pressrun.fulfillment.address.selectors import address_error_orders
from pressrun.fulfillment.address.services import address_correct, address_problem_report
from pressrun.fulfillment.services import FulfillmentRefused
from pressrun.fulfillment.views.common import found_or_404
from pressrun.orders.address import country_name
from pressrun.orders.changes import OrderChangeRefused, in_address_error
from pressrun.orders.models import Order

SECTION = "address_errors"
LISTED = 200


def _list(request: HttpRequest, form: ReportProblemForm | None, status: int = 200) -> HttpResponse:
    orders = address_error_orders()
    context = {
        "section": SECTION,
        "orders": [(order, country_name(order.country)) for order in orders[:LISTED]],
        "count": orders.count(),
        "form": form or ReportProblemForm(),
    }
    return render(request, "fulfillment/address/errors.html", context, status=status)


@operator_required
@require_http_methods(["GET", "HEAD"])
def error_list(request: HttpRequest) -> HttpResponse:
    return _list(request, None)


@operator_required
@require_POST
def report(request: HttpRequest) -> HttpResponse:
    form = ReportProblemForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    order_id = form.cleaned_data["order_id"]
    try:
        result = address_problem_report(
            order_id=order_id,
            description=form.cleaned_data["description"],
            actor=operator_actor(request.user),
        )
    except Order.DoesNotExist:
        form.add_error("order_id", f"There is no order {order_id}.")
        return _list(request, form, status=400)
    except FulfillmentRefused as exc:
        form.add_error(None, exc.message)
        return _list(request, form, status=400)
    if result.changed:
        messages.success(
            request,
            f"Order {order_id} is stopped for its address (ERROR / 10); its customer is "
            "emailed the link to correct it.",
        )
    else:
        messages.info(request, f"Order {order_id} was already stopped for this problem.")
    return HttpResponseRedirect(reverse("address_errors:list"))


@operator_required
@require_POST
def order_report(request: HttpRequest, order_id: int) -> HttpResponse:
    """The order page's report: the same service as `report`, for the order in the URL, and
    back to the order page with what happened (a refusal writes nothing)."""
    order = found_or_404(Order.objects.all(), order_id, "order")
    back = HttpResponseRedirect(reverse("floor:order", args=[order.id]))
    form = ReportProblemForm({"order_id": order.id, "description": request.POST.get("description")})
    if not form.is_valid():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        messages.error(request, "Not reported: " + " ".join(problems))
        return back
    try:
        result = address_problem_report(
            order_id=order.id,
            description=form.cleaned_data["description"],
            actor=operator_actor(request.user),
        )
    except Order.DoesNotExist as exc:
        raise PageNotFound(f"Order {order_id} is gone.") from exc
    except FulfillmentRefused as exc:
        messages.error(request, f"Not reported: {exc.message}")
        return back
    if result.changed:
        messages.success(
            request,
            f"Order {order.id} is stopped for its address (ERROR / 10); its customer is "
            "emailed the link to correct it.",
        )
    else:
        messages.info(request, f"Order {order.id} was already stopped for this problem.")
    return back


def _after_correction(request: HttpRequest, order_id: int) -> str:
    """Where a correction returns: the order's page when it came from there, else the list."""
    if request.GET.get("back") == "order":
        return reverse("floor:order", args=[order_id])
    return reverse("address_errors:list")


@operator_required
@require_http_methods(["GET", "HEAD", "POST"])
def correct(request: HttpRequest, order_id: int) -> HttpResponse:
    order = Order.objects.select_related("publisher").filter(id=order_id).first()
    if order is None or not in_address_error(order):
        raise PageNotFound(f"Order {order_id} is not stopped for an address problem.")
    form = AddressCorrectionForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            address_correct(
                order_id=order.id,
                recipient=form.recipient(),
                actor=operator_actor(request.user),
                by="operator",
            )
        except Order.DoesNotExist as exc:
            raise PageNotFound(f"Order {order_id} is gone.") from exc
        except OrderChangeRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"Order {order.id}'s address is corrected; it goes back to ready."
            )
            return HttpResponseRedirect(_after_correction(request, order.id))
    context = {
        "section": SECTION,
        "back_to_order": request.GET.get("back") == "order",
        "order": order,
        "country": country_name(order.country),
        "form": form or AddressCorrectionForm.for_order(order),
    }
    return render(
        request,
        "fulfillment/address/correct.html",
        context,
        status=400 if form is not None else 200,
    )
