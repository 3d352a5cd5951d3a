"""Billing: balance, the ledger, and which HOLD orders a payment would release."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pressrun.billing import selectors as billing_selectors
from pressrun.core.money import ZERO
from pressrun.dashboard import selectors
from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.forms import PaymentPreviewForm

LEDGER_PAGE_SIZE = 25


@publisher_required
@require_GET
def billing(request: PublisherRequest) -> HttpResponse:
    publisher = request.publisher
    holds = billing_selectors.hold_summary(publisher=publisher)
    preview_form = PaymentPreviewForm(request.GET if "payment" in request.GET else None)
    released = None
    if preview_form.is_bound and preview_form.is_valid():
        released = billing_selectors.holds_released_by(
            summary=holds, payment=preview_form.cleaned_data["payment"]
        )
    context = {
        "section": "billing",
        "holds": holds,
        "preview_form": preview_form,
        "released": released,
        "released_total": sum((order.total_cost for order in released or []), start=ZERO),
    }
    if getattr(request, "htmx", False) and "payment" in request.GET:
        return render(request, "dashboard/includes/release_preview.html", context)
    paginator = Paginator(selectors.ledger_entries(publisher=publisher), LEDGER_PAGE_SIZE)
    context["ledger"] = paginator.get_page(request.GET.get("page"))
    context["totals"] = selectors.ledger_totals(publisher=publisher)
    return render(request, "dashboard/billing.html", context)
