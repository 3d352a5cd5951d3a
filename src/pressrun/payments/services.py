"""Online payments: start a Stripe Checkout, receive Stripe's events, credit a paid checkout
exactly once.

Stripe's recommended fulfilment: the signed `checkout.session.completed` webhook is the
source that always arrives; the publisher's return page may get there first, and then
fulfils through the same function after asking Stripe's API for the session (never from
the return URL alone). `checkout_fulfil` is that function: it credits our own `Checkout`
row's amount to its publisher only when Stripe says the session was paid exactly that much
in that currency, and a conditional status change makes the second caller (a racing return
page, a replayed or repeated event) a no-op. The payment, the HOLD orders it releases and the
receipt email are one transaction.

Locks: the checkout's row (claimed by the conditional UPDATE), then the publisher's row,
then the HOLD orders' rows oldest first (billing.ledger_credit → order_release_holds). No
code locks a publisher and then a checkout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.services import ledger_credit
from pressrun.core.errors import DomainError
from pressrun.core.money import format_money, is_whole_cents
from pressrun.notifications.services import notify_payment_received
from pressrun.orders.models import Order
from pressrun.payments import client
from pressrun.payments.models import Checkout, CheckoutStatus, EventOutcome, StripeEvent

logger = logging.getLogger(__name__)

CURRENCY = "usd"
# Events whose session, when paid, is credited. `async_payment_succeeded` is how Stripe
# reports a delayed payment method (a bank debit) that completed after the session did.
FULFILLING_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
CREDITABLE = (CheckoutStatus.OPEN, CheckoutStatus.CANCELED)


class CheckoutRefused(DomainError):
    """The publisher asked for a payment we do not take (an amount out of limits, online
    payment not set up); nothing was written."""


def amount_limits() -> tuple[Decimal, Decimal]:
    return settings.PAYMENT_MINIMUM, settings.PAYMENT_MAXIMUM


@dataclass(frozen=True)
class ReturnUrls:
    """Where Stripe's page sends the publisher back: after paying, or without paying."""

    success: str
    cancel: str


def checkout_start(
    *, publisher: Publisher, amount: Decimal, return_urls: Callable[[int], ReturnUrls]
) -> tuple[Checkout, str]:
    """Record a checkout for `amount` and create its Stripe Checkout Session; returns the
    checkout (OPEN, with the session's id) and the URL of Stripe's payment page.

    `return_urls(checkout_id)` gives the pages Stripe sends the publisher back to (known once
    the checkout has its id). Raises CheckoutRefused (nothing
    written) for an amount outside the limits or when payments are not configured, and
    client.StripeUnavailable when Stripe refuses or does not answer (the checkout is kept as
    FAILED with the reason, for the operator). Stripe is called outside any transaction.
    """
    if not client.is_configured():
        raise CheckoutRefused("Online payment is not set up on this installation.")
    low, high = amount_limits()
    if not is_whole_cents(amount) or not low <= amount <= high:
        raise CheckoutRefused(f"Enter an amount from {format_money(low)} to {format_money(high)}.")
    checkout = Checkout.objects.create(
        publisher=publisher, amount=amount, currency=CURRENCY, created_at=timezone.now()
    )
    urls = return_urls(checkout.id)
    try:
        session = client.checkout_session_create(
            checkout_id=checkout.id,
            publisher_id=publisher.id,
            email=publisher.email,
            amount=amount,
            currency=CURRENCY,
            description=f"pressrun credit for publisher {publisher.id}",
            success_url=urls.success,
            cancel_url=urls.cancel,
        )
    except client.StripeUnavailable as exc:
        Checkout.objects.filter(id=checkout.id).update(
            status=CheckoutStatus.FAILED, note=exc.message[:500]
        )
        raise
    session_id, url = session.get("id"), session.get("url")
    if not isinstance(session_id, str) or not isinstance(url, str):
        note = "Stripe's reply had no session id or payment page URL."
        Checkout.objects.filter(id=checkout.id).update(status=CheckoutStatus.FAILED, note=note)
        raise client.StripeUnavailable(note + " Nothing was charged; try again later.")
    Checkout.objects.filter(id=checkout.id).update(
        status=CheckoutStatus.OPEN, stripe_session_id=session_id
    )
    checkout.refresh_from_db()
    return checkout, url


@dataclass(frozen=True)
class Fulfilment:
    """What `checkout_fulfil` did: CREDITED (this call credited it), ALREADY_CREDITED,
    NOT_PAID, UNKNOWN_SESSION or MISMATCH; `released` are the HOLD orders it released."""

    outcome: str
    checkout: Checkout | None
    note: str = ""
    balance: Decimal | None = None
    released: tuple[Order, ...] = ()


def _payment_reference(session: Mapping[str, Any]) -> str:
    """The Stripe payment's id (`pi_…`; the field may be expanded to an object)."""
    intent = session.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    return intent if isinstance(intent, str) and intent else ""


def _mismatch(session: Mapping[str, Any], checkout: Checkout) -> str:
    """Why the paid session does not match our checkout ("" when it does)."""
    if str(session.get("client_reference_id") or "") != str(checkout.id):
        return f"client_reference_id {session.get('client_reference_id')!r} is not {checkout.id}"
    if session.get("mode") != "payment":
        return f"mode {session.get('mode')!r}, not 'payment'"
    if session.get("currency") != checkout.currency:
        return f"currency {session.get('currency')!r}, not {checkout.currency!r}"
    if session.get("amount_total") != client.cents(checkout.amount):
        return (
            f"amount_total {session.get('amount_total')!r}, not {client.cents(checkout.amount)} "
            f"({format_money(checkout.amount)})"
        )
    return ""


def checkout_fulfil(*, session: Mapping[str, Any], actor: str) -> Fulfilment:
    """Credit the checkout that `session` (a Stripe Checkout Session, from a verified event
    or from Stripe's API) paid — once, however many times and from wherever it is called.

    Credits our row's amount to our row's publisher only when the session is ours, paid,
    and exactly our amount and currency; a paid session that does not match is marked
    MISMATCH for an operator and credits nothing. Runs in one transaction (joining the
    caller's): the ledger PAYMENT line (its description names the Stripe payment id), the
    HOLD orders released, the checkout marked PAID and the receipt email queued.
    """
    session_id = session.get("id")
    checkout = (
        Checkout.objects.select_related("publisher").filter(stripe_session_id=session_id).first()
        if isinstance(session_id, str) and session_id
        else None
    )
    if checkout is None:
        return Fulfilment(EventOutcome.UNKNOWN_SESSION, None, f"No checkout has {session_id!r}.")
    if session.get("payment_status") != "paid":
        note = f"payment_status {session.get('payment_status')!r}"
        return Fulfilment(EventOutcome.NOT_PAID, checkout, note)
    reference = _payment_reference(session)
    with transaction.atomic():
        mismatch = _mismatch(session, checkout)
        if mismatch:
            marked = Checkout.objects.filter(id=checkout.id, status__in=CREDITABLE).update(
                status=CheckoutStatus.MISMATCH, note=f"Paid but not credited: {mismatch}."[:500]
            )
            if marked:
                logger.error(
                    "Stripe session %s does not match checkout %s: %s",
                    session_id,
                    checkout.id,
                    mismatch,
                )
            return Fulfilment(EventOutcome.MISMATCH, checkout, mismatch)
        now = timezone.now()
        # The claim: of two racing callers, the second finds the row PAID and stops here
        # (on PostgreSQL it waits for the first to commit, then re-reads the row).
        claimed = Checkout.objects.filter(id=checkout.id, status__in=CREDITABLE).update(
            status=CheckoutStatus.PAID, paid_at=now, stripe_payment_intent=reference
        )
        if not claimed:
            checkout.refresh_from_db()
            return Fulfilment(EventOutcome.ALREADY_CREDITED, checkout)
        result = ledger_credit(
            publisher_id=checkout.publisher_id,
            amount=checkout.amount,
            description=f"Card payment, Stripe {reference or session_id}",
            actor=actor,
        )
        Checkout.objects.filter(id=checkout.id).update(ledger_entry=result.entry)
        notify_payment_received(
            key=f"checkout:{checkout.id}",
            publisher=checkout.publisher,
            amount=checkout.amount,
            payment_reference=reference or str(session_id),
            paid_at=now,
            balance=result.balance,
            released=result.released,
        )
    checkout.refresh_from_db()
    return Fulfilment(
        EventOutcome.CREDITED,
        checkout,
        balance=result.balance,
        released=tuple(result.released),
    )


def stripe_event_receive(*, payload: bytes, signature: str) -> StripeEvent:
    """Verify a webhook request, store its event once, and act on it, in one transaction.

    Raises client.WebhookInvalid (nothing written) for a request that is not a correctly
    signed Stripe event. A repeated event id returns the stored event and does nothing
    more. A paid `checkout.session.completed` (or `async_payment_succeeded`) is credited by
    `checkout_fulfil`; every other type is stored as IGNORED.
    """
    event = client.webhook_event(payload=payload, signature=signature)
    event_id = event["id"]
    data = event.get("data")
    session = data.get("object") if isinstance(data, Mapping) else None
    created = event.get("created")
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = StripeEvent.objects.create(
                    event_id=event_id[:255],
                    type=str(event["type"])[:100],
                    livemode=bool(event.get("livemode")),
                    api_version=str(event.get("api_version") or "")[:50],
                    created=(
                        datetime.fromtimestamp(created, tz=UTC)
                        if isinstance(created, int)
                        else timezone.now()
                    ),
                    received_at=timezone.now(),
                    payload=payload.decode(),
                    outcome=EventOutcome.IGNORED,
                )
        except IntegrityError:
            return StripeEvent.objects.get(event_id=event_id[:255])
        if stored.type in FULFILLING_EVENTS and isinstance(session, Mapping):
            if session.get("object") != "checkout.session":
                stored.note = "data.object is not a checkout.session"
            else:
                done = checkout_fulfil(session=session, actor="stripe")
                stored.outcome, stored.checkout, stored.note = (
                    done.outcome,
                    done.checkout,
                    done.note,
                )
            stored.save(update_fields=["outcome", "checkout", "note"])
    return stored


def checkout_confirm_return(*, publisher: Publisher, checkout_id: int) -> Fulfilment:
    """The publisher is back from Stripe's page: ask Stripe's API about this checkout's
    session and credit it if it is paid (the same idempotent fulfilment as the webhook).
    Raises Checkout.DoesNotExist for another publisher's checkout, and
    client.StripeUnavailable when Stripe cannot be asked (the webhook still credits it)."""
    checkout = Checkout.objects.get(id=checkout_id, publisher=publisher)
    if checkout.status not in CREDITABLE or not checkout.stripe_session_id:
        return Fulfilment(EventOutcome.ALREADY_CREDITED, checkout)
    session = client.checkout_session_retrieve(checkout.stripe_session_id)
    if session.get("id") != checkout.stripe_session_id:
        return Fulfilment(EventOutcome.MISMATCH, checkout, "Stripe returned another session.")
    return checkout_fulfil(session=session, actor=f"dashboard ({publisher.email})")


def checkout_cancel(*, publisher: Publisher, checkout_id: int) -> Checkout:
    """The publisher left Stripe's page without paying: an OPEN checkout becomes CANCELED
    (if it is paid later after all, it is still credited). Raises Checkout.DoesNotExist for
    another publisher's checkout."""
    checkout = Checkout.objects.get(id=checkout_id, publisher=publisher)
    Checkout.objects.filter(id=checkout.id, status=CheckoutStatus.OPEN).update(
        status=CheckoutStatus.CANCELED
    )
    checkout.refresh_from_db()
    return checkout
