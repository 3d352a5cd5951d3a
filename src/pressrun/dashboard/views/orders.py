"""Orders: the list with filters and search, its CSV export, an order's detail, changing or
deleting a HOLD or test order, and a manual order placed through intake."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pressrun.carts.models import CartPostback
from pressrun.carts.postback import postback_retry, postback_summary
from pressrun.core.errors import PageNotFound
from pressrun.core.money import format_money, to_money
from pressrun.dashboard import selectors as dashboard_selectors
from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.order_forms import (
    REFUSAL_FIELDS,
    ManualOrderForm,
    OrderFilterForm,
    OrderModifyForm,
)
from pressrun.fulfillment.selectors import effective_state
from pressrun.notifications.selectors import emails_for_order
from pressrun.orders import changes
from pressrun.orders import selectors as order_selectors
from pressrun.orders.models import FulfillmentState, Order, OrderStatus, Source
from pressrun.orders.requests import OrderRequest
from pressrun.orders.services import OrderRefused, order_place
from pressrun.orders.tracking import tracking_link

ORDERS_PAGE_SIZE = 25
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_ACTOR_MAX_LENGTH = 100  # OrderEvent.actor and OrderDeletion.actor


def _actor(request: PublisherRequest) -> str:
    return f"dashboard ({request.publisher.email})"[:_ACTOR_MAX_LENGTH]


def _order_or_404(request: PublisherRequest, order_id: int) -> Order:
    """The publisher's order with its lines, history and deliveries; another publisher's
    order is a 404 like one that does not exist."""
    order = order_selectors.order_for_publisher(
        publisher_id=request.publisher.id, order_id=order_id
    )
    if order is None:
        raise _order_not_found(request, order_id)
    return order


def _order_not_found(request: PublisherRequest, order_id: int) -> PageNotFound:
    """What the not-found page says of a missing order: deleted (when and by whom), or
    none such in this account (another publisher's order included)."""
    deleted = order_selectors.order_deletion_for_publisher(
        publisher_id=request.publisher.id, order_number=order_id
    )
    if deleted is not None:
        return PageNotFound(
            f"Order {order_id} was deleted on {deleted.deleted_at:%Y-%m-%d %H:%M} UTC by "
            f"{deleted.actor or 'its publisher'}: it will not be made or shipped, and its "
            "invoice can be used again."
        )
    return PageNotFound(f"There is no order {order_id} in your account.")


def _filter_query(form: OrderFilterForm) -> str:
    """The list's filters as a query string, for pagination and export links."""
    names = [name for name in form.fields if form.data.get(name)]
    return urlencode({name: form.data[name] for name in names})


@publisher_required
@require_GET
def order_list(request: PublisherRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    orders = order_selectors.orders_filtered(
        publisher_id=request.publisher.id, filters=form.filters()
    )
    page = Paginator(orders, ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    query = _filter_query(form)
    context = {
        "section": "orders",
        "form": form,
        "orders": page,
        "query": query,
        "export_url": reverse("dashboard:orders_export") + (f"?{query}" if query else ""),
    }
    return render(
        request, "dashboard/orders/list.html", context, status=200 if form.is_valid() else 400
    )


def _csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a quote."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


class _Echo:
    """A file whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[tuple[str, ...]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(order_selectors.ORDER_EXPORT_COLUMNS)
    for row in rows:
        yield writer.writerow([_csv_cell(value) for value in row])


@publisher_required  # type: ignore[arg-type]  # it passes any response through
@require_GET
def order_export(request: PublisherRequest) -> HttpResponse | StreamingHttpResponse:
    """The orders the list shows with the same filters, every page, as CSV."""
    form = OrderFilterForm(request.GET)
    if not form.is_valid():
        messages.error(
            request,
            "Fix the filters before exporting: "
            + " ".join(str(error) for errors in form.errors.values() for error in errors),
        )
        return HttpResponseRedirect(reverse("dashboard:orders") + f"?{_filter_query(form)}")
    rows = order_selectors.order_export_rows(
        publisher_id=request.publisher.id, filters=form.filters()
    )
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    return response


def _detail_context(request: PublisherRequest, order: Order) -> dict[str, Any]:
    modifiable = order.status in changes.PUBLISHER_MODIFIABLE
    deletable = order.status in changes.PUBLISHER_DELETABLE
    postback = CartPostback.objects.filter(order=order).first()
    return {
        "section": "orders",
        "order": order,
        "physical_waiting": effective_state(order) == FulfillmentState.WAITING,
        "line_rows": [
            (line, to_money(line.unit_price * line.quantity)) for line in order.lines.all()
        ],
        "events": list(order.events.all()),
        "deliveries": list(order.inbound_deliveries.all()),
        "emails": list(
            emails_for_order(publisher=request.publisher, order_id=order.id).defer("text", "html")
        ),
        "tracking": tracking_link(tracking_id=order.tracking_id, carrier=order.carrier),
        "postback": postback,
        "postback_summary": postback_summary(postback) if postback else "",
        "modifiable": modifiable,
        "deletable": deletable,
        "refusal": changes.publisher_refusal(
            order, "modified" if deletable else "changed or deleted"
        ),
        "delete_question": f"Delete order {order.id}"
        + (f" (invoice {order.invoice})" if order.invoice else "")
        + f" for {order.name}? This cannot be undone.",
    }


@publisher_required
@require_GET
def order_detail(request: PublisherRequest, order_id: int) -> HttpResponse:
    order = _order_or_404(request, order_id)
    return render(request, "dashboard/orders/detail.html", _detail_context(request, order))


@publisher_required
@require_http_methods(["GET", "POST"])
def order_modify(request: PublisherRequest, order_id: int) -> HttpResponse:
    """Change a HOLD order's address, quantities and mail method; it is re-priced. A test,
    paid, made or shipped order is refused with the reason (409) and left as it is."""
    order = _order_or_404(request, order_id)
    lines = list(order.lines.all())
    if order.status not in changes.PUBLISHER_MODIFIABLE:
        context = _detail_context(request, order)
        return render(request, "dashboard/orders/modify.html", context, status=409)
    form = OrderModifyForm(
        request.POST if request.method == "POST" else None, order=order, lines=lines
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            old_total = order.total_cost
            try:
                changed = changes.order_modify(
                    publisher=request.publisher,
                    order_id=order.id,
                    recipient=form.recipient(),
                    quantities=form.quantities(),
                    mail_method=form.cleaned_data["mail_method"],
                    actor=_actor(request),
                )
            except Order.DoesNotExist as exc:  # deleted meanwhile
                raise _order_not_found(request, order.id) from exc
            except changes.OrderChangeRefused as exc:
                form.add_error(None, exc.message)
            else:
                paid = (
                    " Your balance covers it, so it is paid and in production."
                    if changed.status == OrderStatus.PROCESSING
                    else ""
                )
                if changed.total_cost != old_total:
                    messages.success(
                        request,
                        f"Order {order.id} is changed. It now costs "
                        f"{format_money(changed.total_cost)} (was {format_money(old_total)})."
                        + paid,
                    )
                else:
                    messages.success(request, f"Order {order.id} is saved.{paid}")
                return HttpResponseRedirect(reverse("dashboard:order_detail", args=[order.id]))
    context = _detail_context(request, order)
    context["form"] = form
    return render(request, "dashboard/orders/modify.html", context, status=status)


@publisher_required
@require_POST
def order_postback_retry(request: PublisherRequest, order_id: int) -> HttpResponse:
    """Send the order's tracking to its cart again after the post-back gave up (a token
    saved or fixed since). Another publisher's order is a 404."""
    order = _order_or_404(request, order_id)
    postback = CartPostback.objects.filter(order=order).first()
    if postback is not None and postback_retry(postback_id=postback.id):
        messages.success(request, f"Sending the tracking to {postback.get_cart_display()} again.")
    else:
        messages.error(request, "There is nothing to send again for this order.")
    return HttpResponseRedirect(reverse("dashboard:order_detail", args=[order.id]))


@publisher_required
@require_POST
def order_delete(request: PublisherRequest, order_id: int) -> HttpResponse:
    """Delete a HOLD or test order (asked for on the detail page first). Another
    publisher's order is a 404 like one that does not exist (the service looks it up among
    this publisher's)."""
    try:
        deleted = changes.order_delete(
            publisher=request.publisher, order_id=order_id, actor=_actor(request)
        )
    except Order.DoesNotExist as exc:
        raise _order_not_found(request, order_id) from exc
    except changes.OrderChangeRefused as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("dashboard:order_detail", args=[order_id]))
    invoice = f" (invoice {deleted.invoice})" if deleted.invoice else ""
    messages.success(
        request, f"Order {deleted.order_number}{invoice} for {deleted.name} is deleted."
    )
    return HttpResponseRedirect(reverse("dashboard:orders"))


@publisher_required
@require_http_methods(["GET", "POST"])
def order_new(request: PublisherRequest) -> HttpResponse:
    """A manual order, placed through intake exactly like a gateway order (source
    "Dashboard"): same checks, duplicate rules, prices and HOLD / PROCESSING / TEST."""
    publisher = request.publisher
    projects = dashboard_selectors.active_projects(publisher=publisher)
    form = ManualOrderForm(
        request.POST if request.method == "POST" else None,
        projects=projects,
        initial={"mail_method": publisher.default_mail_method},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        price = data["customer_price"]
        order_request = OrderRequest(
            publisher_id=publisher.id,
            lines=form.lines(),
            recipient=form.recipient(),
            mode=data["mode"],
            source=Source.DASHBOARD,
            invoice=data["invoice"],
            mail_method=data["mail_method"],
            special_text=data["special_text"],
            customer_price=price if price else None,
            use_price_on_customs_form=data["use_price_on_customs_form"],
            send_notification_email=data["send_notification_email"],
            actor=_actor(request),
        )
        try:
            order = order_place(request=order_request, publisher=publisher)
        except OrderRefused as exc:
            form.add_error(REFUSAL_FIELDS.get(exc.reason), exc.message)
        else:
            messages.success(
                request,
                f"Order {order.id} is placed: {order.status}, {format_money(order.total_cost)}.",
            )
            return HttpResponseRedirect(reverse("dashboard:order_detail", args=[order.id]))
    context = {"section": "orders", "form": form, "has_projects": projects.exists()}
    return render(
        request, "dashboard/orders/new.html", context, status=400 if form.is_bound else 200
    )
