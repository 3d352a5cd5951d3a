"""The operator's order page: the order, its history, and the actions each part of the floor
offers from its state (`fulfillment.order_page` sections; the floor's own is `floor_actions`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pressrun.core.operator_pages import operator_required
from pressrun.fulfillment.batches import (
    BatchRefused,
    batch_add,
    batch_create,
    order_mark_packed,
    order_pull_out,
)
from pressrun.fulfillment.customs import customs_declaration
from pressrun.fulfillment.floor import GROUPS_BY_KEY, floor_group_of
from pressrun.fulfillment.models import Batch, BatchOrder, BatchState
from pressrun.fulfillment.order_page import order_page_sections
from pressrun.fulfillment.selectors import effective_state, window_has_ended
from pressrun.fulfillment.services import FulfillmentRefused
from pressrun.fulfillment.views.common import found_or_404
from pressrun.orders.models import FulfillmentState, Mode, Order

S = FulfillmentState
NEW_BATCH = "new"


def _order(order_id: int) -> Order:
    return found_or_404(
        Order.objects.select_related("publisher").prefetch_related("lines__project"),
        order_id,
        "order",
    )


def _back(order_id: int) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("floor:order", args=[order_id]))


def open_batches_for(order: Order) -> list[Batch]:
    """The batches a ready order may join: of its group, in production or packed."""
    return list(
        Batch.objects.filter(
            group=floor_group_of(order), state__in=[BatchState.IN_PRODUCTION, BatchState.PACKED]
        ).order_by("-id")[:20]
    )


def floor_actions(request: HttpRequest, order: Order) -> dict[str, Any] | None:
    """The floor's section of the order page: to a batch (ready), packed (in production),
    pull out (in production or packed). None when the floor has nothing to offer."""
    if order.mode != Mode.PROD:
        return None
    state = effective_state(order)
    member = (
        BatchOrder.objects.filter(order=order, removed_at__isnull=True)
        .select_related("batch")
        .first()
    )
    context: dict[str, Any] = {"order": order, "state": state, "member": member}
    if state == S.READY:
        context["batches"] = open_batches_for(order)
        context["group"] = GROUPS_BY_KEY[floor_group_of(order)].label
    elif state not in (S.IN_PRODUCTION, S.PACKED):
        return None
    return context


@operator_required
@require_GET
def order_page(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(order_id)
    state = effective_state(order)
    memberships = (
        BatchOrder.objects.filter(order=order).select_related("batch").order_by("added_at", "id")
    )
    return render(
        request,
        "fulfillment/floor/order.html",
        {
            "section": "floor",
            "order": order,
            "state": state,
            "window_open": state == S.WAITING and not window_has_ended(order),
            "lines": list(order.lines.all()),
            "events": order.events.order_by("at", "id"),
            "memberships": memberships,
            "customs": customs_declaration(order) if order.mode == Mode.PROD else None,
            "sections": order_page_sections(request, order),
        },
    )


class ToBatchForm(forms.Form):
    batch = forms.CharField(max_length=20)


@operator_required
@require_POST
def order_to_batch(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(order_id)
    form = ToBatchForm(request.POST)
    choice = form.cleaned_data["batch"] if form.is_valid() else ""
    try:
        if choice == NEW_BATCH:
            result = batch_create(
                group=floor_group_of(order), user=request.user, order_ids=[order.id]
            )
        elif choice.isdigit() and len(choice) < 19:
            result = batch_add(batch_id=int(choice), order_ids=[order.id], user=request.user)
        else:
            raise BatchRefused("Choose a batch.")
    except BatchRefused as exc:
        messages.error(request, f"Order {order.id} was not put in a batch: {exc}")
        return _back(order.id)
    assert result.batch is not None
    messages.success(request, f"Order {order.id} is in production in batch {result.batch.id}.")
    return _back(order.id)


@operator_required
@require_POST
def order_packed(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(order_id)
    try:
        result = order_mark_packed(order_id=order.id, user=request.user)
    except FulfillmentRefused as exc:
        messages.error(request, f"Not marked packed: {exc}")
        return _back(order.id)
    messages.success(request, f"Order {order.id} is packed." if result.moved else "Already packed.")
    return _back(order.id)


@operator_required
@require_POST
def order_pull(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(order_id)
    try:
        result = order_pull_out(order_id=order.id, user=request.user)
    except FulfillmentRefused as exc:
        messages.error(request, f"Not pulled out: {exc}")
        return _back(order.id)
    where = f" of batch {result.batch.id}" if result.batch else ""
    messages.success(request, f"Order {order.id} is pulled out{where}: ready to be made again.")
    if request.POST.get("back") == "batch" and result.batch is not None:
        # Pulled out from the batch's page: back to it.
        return HttpResponseRedirect(reverse("floor:batch", args=[result.batch.id]))
    return _back(order.id)
