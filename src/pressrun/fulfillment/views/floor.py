"""The floor's pages: the queue of ready orders by group, creating a batch, the batches, a
batch with its orders, marking packed, and the batch's PDF. Thin: parse, call
`fulfillment.batches`, render or redirect with a message."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pressrun.core.operator_pages import operator_required
from pressrun.fulfillment.batches import (
    MAX_BATCH_SIZE,
    BatchRefused,
    BatchResult,
    batch_create,
    batch_mark_packed,
)
from pressrun.fulfillment.floor import FLOOR_GROUPS, GROUPS_BY_KEY, floor_queue
from pressrun.fulfillment.models import Batch, BatchState
from pressrun.fulfillment.packing import batch_orders, batch_pdf, pick_list
from pressrun.fulfillment.views.common import found_or_404

BATCHES_PER_PAGE = 50
MAX_ID_DIGITS = 18


class BatchCreateForm(forms.Form):
    group = forms.ChoiceField(choices=[(group.key, group.label) for group in FLOOR_GROUPS])
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BATCH_SIZE,
        label="Only the first",
        help_text="Blank: every ready order of the group.",
    )


class PackForm(forms.Form):
    order = forms.IntegerField(required=False, min_value=1)


def report(request: HttpRequest, result: BatchResult, done: str) -> None:
    """One success message for what moved, one warning per skipped order."""
    if result.moved:
        messages.success(request, done)
    for skip in result.skipped:
        messages.warning(request, f"Skipped order {skip.order_id}: {skip.why}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@operator_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    groups = floor_queue()
    return render(
        request,
        "fulfillment/floor/queue.html",
        {
            "section": "floor",
            "groups": groups,
            "total": sum(group.count for group in groups),
            "limit_max": MAX_BATCH_SIZE,
        },
    )


@operator_required
@require_POST
def create_batch(request: HttpRequest) -> HttpResponse:
    form = BatchCreateForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{field}: {' '.join(str(error) for error in found)}"
            for field, found in form.errors.items()
        )
        messages.error(request, f"No batch created: {errors}")
        return HttpResponseRedirect(reverse("floor:queue"))
    picked = request.POST.getlist("order")
    if not all(value.isdigit() and len(value) <= MAX_ID_DIGITS for value in picked):
        messages.error(request, "No batch created: the ticked orders are not order numbers.")
        return HttpResponseRedirect(reverse("floor:queue"))
    try:
        result = batch_create(
            group=form.cleaned_data["group"],
            user=request.user,
            limit=form.cleaned_data["limit"],
            order_ids=[int(value) for value in picked] if picked else None,
        )
    except BatchRefused as exc:
        messages.error(request, f"No batch created: {exc}")
        return HttpResponseRedirect(reverse("floor:queue"))
    assert result.batch is not None
    report(
        request,
        result,
        f"Batch {result.batch.id}: {_plural(len(result.moved), 'order')} in production.",
    )
    return HttpResponseRedirect(reverse("floor:batch", args=[result.batch.id]))


@operator_required
@require_GET
def batches(request: HttpRequest) -> HttpResponse:
    shown = Batch.objects.annotate(
        orders=Count("memberships", filter=Q(memberships__removed_at__isnull=True))
    ).order_by("-id")
    state = request.GET.get("state", "")
    if state in BatchState.values:
        shown = shown.filter(state=state)
    else:
        state = ""
    rows = list(shown[:BATCHES_PER_PAGE])
    return render(
        request,
        "fulfillment/floor/batches.html",
        {
            "section": "batches",
            "batches": [(batch, GROUPS_BY_KEY[batch.group].label) for batch in rows],
            "states": BatchState.choices,
            "state": state,
        },
    )


@operator_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = found_or_404(Batch.objects.all(), batch_id, "batch")
    orders = batch_orders(batch)
    removed = (
        batch.memberships.filter(removed_at__isnull=False)
        .select_related("order")
        .order_by("removed_at", "id")
    )
    return render(
        request,
        "fulfillment/floor/batch.html",
        {
            "section": "batches",
            "batch": batch,
            "group": GROUPS_BY_KEY[batch.group].label,
            "orders": orders,
            "pick_list": pick_list(orders),
            "removed": removed,
            "to_pack": sum(1 for order in orders if order.fulfillment_state == "in_production"),
        },
    )


@operator_required
@require_POST
def batch_packed(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = found_or_404(Batch.objects.all(), batch_id, "batch")
    back = HttpResponseRedirect(reverse("floor:batch", args=[batch.id]))
    form = PackForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was marked packed: the order number is not valid.")
        return back
    order_id = form.cleaned_data["order"]
    try:
        result = batch_mark_packed(
            batch_id=batch.id, user=request.user, order_ids=None if order_id is None else [order_id]
        )
    except BatchRefused as exc:
        messages.error(request, f"Nothing was marked packed: {exc}")
        return back
    if order_id is not None:
        done = f"Order {order_id} is packed."
    else:
        done = f"Batch {batch.id}: {_plural(len(result.moved), 'order')} marked packed."
    report(request, result, done)
    if not result.moved and not result.skipped:
        messages.info(request, "Already packed: nothing to do.")
    return back


@operator_required
@require_GET
def batch_document(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = found_or_404(Batch.objects.all(), batch_id, "batch")
    response = HttpResponse(batch_pdf(batch), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="batch-{batch.id}.pdf"'
    return response
