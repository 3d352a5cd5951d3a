"""Billing: balance, the ledger, which HOLD orders a payment would release, and adding
credit by card (Stripe Checkout, through the payments services)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pressrun.billing import selectors as billing_selectors
from pressrun.core.money import ZERO, format_money
from pressrun.dashboard import selectors
from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.forms import AddCreditForm, PaymentPreviewForm
from pressrun.dashboard.security import policy_with_form_redirects_to
from pressrun.payments import client as stripe_client
from pressrun.payments import selectors as payment_selectors
from pressrun.payments import services as payments
from pressrun.payments.models import Checkout

LEDGER_PAGE_SIZE = 25


def _billing_page(
    request: PublisherRequest, *, add_credit_form: AddCreditForm | None = None, status: int = 200
) -> HttpResponse:
    publisher = request.publisher
    holds = billing_selectors.hold_summary(publisher=publisher)
    preview_form = PaymentPreviewForm(request.GET if "payment" in request.GET else None)
    released = None
    if preview_form.is_bound and preview_form.is_valid():
        released = billing_selectors.holds_released_by(
            summary=holds, payment=preview_form.cleaned_data["payment"]
        )
    offer = payment_selectors.add_credit_offer(holds=holds)
    context = {
        "section": "billing",
        "holds": holds,
        "preview_form": preview_form,
        "released": released,
        "released_total": sum((order.total_cost for order in released or []), start=ZERO),
        "offer": offer,
        "add_credit_form": add_credit_form or AddCreditForm(offer=offer),
    }
    if getattr(request, "htmx", False) and "payment" in request.GET:
        return render(request, "dashboard/includes/release_preview.html", context)
    paginator = Paginator(selectors.ledger_entries(publisher=publisher), LEDGER_PAGE_SIZE)
    context["ledger"] = paginator.get_page(request.GET.get("page"))
    context["totals"] = selectors.ledger_totals(publisher=publisher)
    response = render(request, "dashboard/billing.html", context, status=status)
    if offer.online:
        # "Add credit" answers with a redirect to Stripe's payment page; a browser follows a
        # form's redirect only to an origin the page's form-action allows.
        response["Content-Security-Policy"] = policy_with_form_redirects_to(
            settings.STRIPE_CHECKOUT_ORIGIN
        )
    return response


@publisher_required
@require_GET
def billing(request: PublisherRequest) -> HttpResponse:
    return _billing_page(request)


@publisher_required
@require_POST
def add_credit(request: PublisherRequest) -> HttpResponse:
    """Start a card payment: a Stripe Checkout Session for the amount, then 303 to its page.
    An amount out of limits is shown on the Billing page (400); Stripe being unreachable
    too (503), with nothing charged."""
    holds = billing_selectors.hold_summary(publisher=request.publisher)
    offer = payment_selectors.add_credit_offer(holds=holds)
    form = AddCreditForm(request.POST, offer=offer)
    if not offer.online:
        messages.error(request, "Online payment is not set up; see how to pay below.")
        return HttpResponseRedirect(reverse("dashboard:billing") + "#add-credit")
    if not form.is_valid():
        return _billing_page(request, add_credit_form=form, status=400)

    def return_urls(checkout_id: int) -> payments.ReturnUrls:
        def absolute(name: str) -> str:
            return request.build_absolute_uri(reverse(name, args=[checkout_id]))

        return payments.ReturnUrls(
            # Stripe fills in {CHECKOUT_SESSION_ID}; the page never trusts it (see below).
            success=absolute("dashboard:checkout_return") + "?session_id={CHECKOUT_SESSION_ID}",
            cancel=absolute("dashboard:checkout_cancel"),
        )

    try:
        _checkout, payment_page = payments.checkout_start(
            publisher=request.publisher,
            amount=form.cleaned_data["amount"],
            return_urls=return_urls,
        )
    except payments.CheckoutRefused as exc:
        form.add_error("amount", exc.message)
        return _billing_page(request, add_credit_form=form, status=400)
    except stripe_client.StripeUnavailable as exc:
        form.add_error(None, exc.message)
        return _billing_page(request, add_credit_form=form, status=503)
    return HttpResponseRedirect(payment_page, status=303)


def _message_for(request: PublisherRequest, done: payments.Fulfilment) -> None:
    checkout = done.checkout
    assert checkout is not None
    amount = format_money(checkout.amount)
    if done.outcome in ("credited", "already_credited") and checkout.status == "paid":
        released = ", ".join(str(order.id) for order in done.released)
        messages.success(
            request,
            f"Thank you: your payment of {amount} is added to your balance."
            + (f" Released from HOLD: {released}." if released else "")
            + " A receipt is on its way by email.",
        )
    elif checkout.status == "mismatch":
        messages.error(
            request,
            f"Your payment of {amount} could not be matched to this request; we have been "
            "told and will credit it by hand. Nothing more is needed from you.",
        )
    else:
        messages.info(
            request,
            f"Stripe has not confirmed your payment of {amount} yet. Your balance is updated "
            "as soon as it does; refresh this page in a minute.",
        )


@publisher_required
@require_GET
def checkout_return(request: PublisherRequest, checkout_id: int) -> HttpResponse:
    """Where Stripe sends the publisher after paying. The session id in the URL is not
    trusted: the checkout is looked up among this publisher's, and its own session is
    read from Stripe's API before anything is credited."""
    try:
        done = payments.checkout_confirm_return(
            publisher=request.publisher, checkout_id=checkout_id
        )
    except Checkout.DoesNotExist as exc:
        raise Http404("No such payment.") from exc
    except stripe_client.StripeUnavailable:
        checkout = Checkout.objects.get(id=checkout_id, publisher=request.publisher)
        done = payments.Fulfilment("not_paid", checkout)
    _message_for(request, done)
    return HttpResponseRedirect(reverse("dashboard:billing"))


@publisher_required
@require_GET
def checkout_cancel(request: PublisherRequest, checkout_id: int) -> HttpResponse:
    """Where Stripe sends the publisher who went back without paying."""
    try:
        checkout = payments.checkout_cancel(publisher=request.publisher, checkout_id=checkout_id)
    except Checkout.DoesNotExist as exc:
        raise Http404("No such payment.") from exc
    if checkout.status == "paid":
        messages.success(request, f"Your payment of {format_money(checkout.amount)} is credited.")
    else:
        messages.info(
            request,
            f"Payment of {format_money(checkout.amount)} canceled: nothing was charged.",
        )
    return HttpResponseRedirect(reverse("dashboard:billing") + "#add-credit")
