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

What Stripe later takes back from a credited payment — a refund, a dispute's withdrawal —
is taken from the balance, and a dispute's reinstated funds are given back, by
`payment_refund_receive` and `payment_dispute_receive`: each records Stripe's figures on our
rows and moves the balance by the difference between what they say is gone (never more than
was credited) and what was already taken (`Checkout.taken_back`), so replays, repeats and
events arriving out of order move nothing twice. They never cancel or release orders but
through the one release rule of a credit.

Locks: the checkout's row (claimed by the conditional UPDATE, or locked by a refund or
dispute), then the publisher's row, then the HOLD orders' rows oldest first
(billing.ledger_credit → order_release_holds). No code locks a publisher and then a checkout.
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
from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.billing.services import ledger_card_reversal, ledger_credit
from pressrun.core.errors import DomainError
from pressrun.core.money import ZERO, format_money, is_whole_cents, to_money
from pressrun.notifications.services import notify_payment_received, notify_payment_reversed
from pressrun.orders.models import Order
from pressrun.payments import client
from pressrun.payments.models import (
    Checkout,
    CheckoutStatus,
    EventOutcome,
    StripeDispute,
    StripeEvent,
)

logger = logging.getLogger(__name__)

CURRENCY = "usd"
# Events whose session, when paid, is credited. `async_payment_succeeded` is how Stripe
# reports a delayed payment method (a bank debit) that completed after the session did.
FULFILLING_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
CREDITABLE = (CheckoutStatus.OPEN, CheckoutStatus.CANCELED)
# Stripe taking money back from a payment, or returning it (docs/payments.md, "Refunds and
# disputes"). `funds_withdrawn` is how Stripe reports an inquiry that became a chargeback.
REFUND_EVENT = "charge.refunded"
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }
)


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


@dataclass(frozen=True)
class Reversal:
    """What a refund or dispute event did: its outcome (REFUNDED, DISPUTE_DEBITED,
    DISPUTE_RETURNED, NO_CHANGE; UNKNOWN_PAYMENT, OTHER_CURRENCY or UNREADABLE with nothing
    written), the checkout, and the ledger line and balance when the balance moved."""

    outcome: str
    checkout: Checkout | None
    note: str = ""
    entry: LedgerEntry | None = None
    balance: Decimal | None = None


def _money_from_cents(value: object) -> Decimal | None:
    """Stripe's amount in cents as dollars; None unless a whole number of cents, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return to_money(Decimal(value) / 100)


def _credited_checkout(payment_reference: str) -> Checkout | None:
    """The checkout pressrun credited for this Stripe payment (`pi_…`), if any."""
    if not payment_reference:
        return None
    return (
        Checkout.objects.select_related("publisher")
        .filter(stripe_payment_intent=payment_reference, status=CheckoutStatus.PAID)
        .first()
    )


def _not_ours(stripe_object: Mapping[str, Any]) -> Reversal | Checkout:
    """The credited checkout of a charge or dispute, or the Reversal that says why it has
    none (nothing is written for it)."""
    reference = _payment_reference(stripe_object)
    checkout = _credited_checkout(reference)
    if checkout is None:
        return Reversal(
            EventOutcome.UNKNOWN_PAYMENT,
            None,
            f"No credited checkout has payment_intent {reference or None!r}.",
        )
    if stripe_object.get("currency") != checkout.currency:
        note = f"currency {stripe_object.get('currency')!r}, not {checkout.currency!r}"
        return Reversal(EventOutcome.OTHER_CURRENCY, checkout, note)
    return checkout


def _gone(checkout: Checkout) -> Decimal:
    """What Stripe's figures say is gone from this payment — refunded, plus withdrawn and
    not reinstated by its disputes — never more than was credited, never below zero."""
    disputed = sum(
        (
            (dispute.withdrawn or ZERO) - (dispute.reinstated or ZERO)
            for dispute in StripeDispute.objects.filter(checkout=checkout)
        ),
        ZERO,
    )
    return min(max(checkout.refunded + disputed, ZERO), checkout.amount)


def _settle(*, checkout: Checkout, dispute: StripeDispute | None, actor: str) -> Reversal:
    """Move the balance to match what is gone from the payment, once: call inside the
    transaction holding the checkout's row lock, with the checkout's (and the dispute's) new
    figures saved. The ledger line (a refund's when `dispute` is None, else the dispute's),
    `taken_back`, the dispute's share and the publisher's notice are written together."""
    gone = _gone(checkout)
    delta = gone - checkout.taken_back
    # A refund only ever adds to what is gone; only a dispute's reinstatement gives back.
    if not delta or (delta < 0 and dispute is None):
        return Reversal(EventOutcome.NO_CHANGE, checkout)
    Checkout.objects.filter(id=checkout.id).update(taken_back=gone)
    payment = checkout.stripe_payment_intent
    if dispute is None:
        kind = LedgerKind.PAYMENT_REFUND
        description = f"Card refund, Stripe {payment}"
        key = f"checkout:{checkout.id}:refunded:{client.cents(checkout.refunded)}"
    elif delta > 0:
        kind = LedgerKind.PAYMENT_DISPUTE
        description = f"Card dispute {dispute.dispute_id}, Stripe {payment}"
        key = f"dispute:{dispute.dispute_id}:withdrawn"
    else:
        kind = LedgerKind.DISPUTE_REINSTATED
        description = f"Card dispute {dispute.dispute_id}: funds reinstated, Stripe {payment}"
        key = f"dispute:{dispute.dispute_id}:reinstated"
    result = ledger_card_reversal(
        publisher_id=checkout.publisher_id,
        kind=kind,
        amount=abs(delta),
        description=description,
        actor=actor,
    )
    if dispute is not None:
        if delta > 0:
            dispute.taken += delta
        else:
            dispute.given_back -= delta
        dispute.save(update_fields=["taken", "given_back"])
    reversal = {
        LedgerKind.PAYMENT_REFUND: "refund",
        LedgerKind.PAYMENT_DISPUTE: "dispute",
        LedgerKind.DISPUTE_REINSTATED: "dispute_returned",
    }[kind]
    notify_payment_reversed(
        key=key,
        publisher=checkout.publisher,
        reversal=reversal,
        amount=abs(delta),
        payment_reference=checkout.stripe_payment_intent,
        at=result.entry.created_at,
        balance=result.balance,
        released=result.released,
    )
    outcome = {
        LedgerKind.PAYMENT_REFUND: EventOutcome.REFUNDED,
        LedgerKind.PAYMENT_DISPUTE: EventOutcome.DISPUTE_DEBITED,
        LedgerKind.DISPUTE_REINSTATED: EventOutcome.DISPUTE_RETURNED,
    }[kind]
    return Reversal(outcome, checkout, entry=result.entry, balance=result.balance)


def _checkout_locked(checkout_id: int) -> Checkout:
    """The checkout's row, locked until the end of the transaction (before the publisher's,
    as `checkout_fulfil` takes them): every refund and dispute of one payment waits for the
    one before it, so each reads the figures the last one left."""
    return Checkout.objects.select_for_update().select_related("publisher").get(id=checkout_id)


def payment_refund_receive(*, charge: Mapping[str, Any], actor: str) -> Reversal:
    """Take from the balance what Stripe refunded of a credited payment and was not taken
    yet: `charge` is a `charge.refunded` event's charge, whose `amount_refunded` is the
    cumulative refund in cents. A smaller figure than one seen before (an older event that
    arrived late) and a replay take nothing. One transaction (joining the caller's): the
    checkout's row lock, its figures, the ledger PAYMENT_REFUND line (balance may go below
    zero) and the publisher's notice."""
    found = _not_ours(charge)
    if isinstance(found, Reversal):
        return found
    refunded = _money_from_cents(charge.get("amount_refunded"))
    if refunded is None:
        note = f"amount_refunded {charge.get('amount_refunded')!r}"
        return Reversal(EventOutcome.UNREADABLE, found, note)
    with transaction.atomic():
        checkout = _checkout_locked(found.id)
        if refunded > checkout.refunded:
            checkout.refunded = refunded
            Checkout.objects.filter(id=checkout.id).update(refunded=refunded)
        return _settle(checkout=checkout, dispute=None, actor=actor)


def _reinstated(dispute: Mapping[str, Any], currency: str) -> Decimal | None:
    """What Stripe reinstated for a dispute, from its balance transactions (the positive
    ones in the payment's currency); None when they do not say."""
    transactions = dispute.get("balance_transactions")
    if not isinstance(transactions, list):
        return None
    amounts = [
        _money_from_cents(item.get("amount"))
        for item in transactions
        if isinstance(item, Mapping)
        and item.get("currency") == currency
        and isinstance(item.get("amount"), int)
        and item["amount"] > 0
    ]
    known = [amount for amount in amounts if amount is not None]
    return sum(known, ZERO) if known else None


def payment_dispute_receive(*, dispute: Mapping[str, Any], event_type: str, actor: str) -> Reversal:
    """Record what a `charge.dispute.*` event says Stripe did with a credited payment's
    money, and move the balance to match, once per dispute: `created` (unless an inquiry,
    `warning_…`, for which Stripe withdraws nothing) and `funds_withdrawn` take the disputed
    amount; `funds_reinstated` (what its balance transactions say was returned, else all)
    and `closed` as `won` give it back; `closed` otherwise (lost) changes nothing. Out of
    order is fine: whichever arrives first records the withdrawal. One transaction (joining
    the caller's), under the checkout's row lock."""
    found = _not_ours(dispute)
    if isinstance(found, Reversal):
        return found
    dispute_id = dispute.get("id")
    amount = _money_from_cents(dispute.get("amount"))
    if not isinstance(dispute_id, str) or not dispute_id or amount is None:
        note = f"id {dispute_id!r}, amount {dispute.get('amount')!r}"
        return Reversal(EventOutcome.UNREADABLE, found, note)
    status = str(dispute.get("status") or "")[:30]
    withdrawn: Decimal | None = None
    reinstated: Decimal | None = None
    # An inquiry (`warning_…`) is created without any withdrawal; should it become a
    # chargeback, `funds_withdrawn` says so.
    if event_type == "charge.dispute.funds_withdrawn" or (
        event_type == "charge.dispute.created" and not status.startswith("warning_")
    ):
        withdrawn = amount
    elif event_type == "charge.dispute.funds_reinstated":
        withdrawn = amount  # it was, to be reinstated (its own event may be yet to come)
        reinstated = _reinstated(dispute, found.currency)
        reinstated = amount if reinstated is None else min(reinstated, amount)
    elif event_type == "charge.dispute.closed" and status == "won":
        withdrawn = reinstated = amount
    with transaction.atomic():
        checkout = _checkout_locked(found.id)
        now = timezone.now()
        row, _created = StripeDispute.objects.get_or_create(
            dispute_id=dispute_id[:255],
            defaults={
                "checkout": checkout,
                "amount": amount,
                "created_at": now,
                "updated_at": now,
            },
        )
        if row.checkout_id != checkout.id:
            note = f"dispute {dispute_id} is recorded for checkout {row.checkout_id}"
            return Reversal(EventOutcome.UNKNOWN_PAYMENT, found, note)
        row.status, row.updated_at = status or row.status, now
        if row.withdrawn is None and withdrawn is not None:
            row.withdrawn = withdrawn
        if row.reinstated is None and reinstated is not None:
            row.reinstated = reinstated
        row.save()
        return _settle(checkout=checkout, dispute=row, actor=actor)


def stripe_event_receive(*, payload: bytes, signature: str) -> StripeEvent:
    """Verify a webhook request, store its event once, and act on it, in one transaction.

    Raises client.WebhookInvalid (nothing written) for a request that is not a correctly
    signed Stripe event. A repeated event id returns the stored event and does nothing
    more. A paid `checkout.session.completed` (or `async_payment_succeeded`) is credited by
    `checkout_fulfil`; `charge.refunded` and the `charge.dispute.*` events that move money
    go to `payment_refund_receive` / `payment_dispute_receive`; every other type is stored
    as IGNORED.
    """
    event = client.webhook_event(payload=payload, signature=signature)
    event_id = event["id"]
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
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
        if stored.type in FULFILLING_EVENTS and isinstance(obj, Mapping):
            if obj.get("object") != "checkout.session":
                stored.note = "data.object is not a checkout.session"
            else:
                done = checkout_fulfil(session=obj, actor="stripe")
                stored.outcome, stored.checkout, stored.note = (
                    done.outcome,
                    done.checkout,
                    done.note,
                )
            stored.save(update_fields=["outcome", "checkout", "note"])
        elif stored.type in (REFUND_EVENT, *DISPUTE_EVENTS) and isinstance(obj, Mapping):
            expected = "charge" if stored.type == REFUND_EVENT else "dispute"
            if obj.get("object") != expected:
                stored.note = f"data.object is not a {expected}"
            else:
                reversal = (
                    payment_refund_receive(charge=obj, actor="stripe")
                    if stored.type == REFUND_EVENT
                    else payment_dispute_receive(
                        dispute=obj, event_type=stored.type, actor="stripe"
                    )
                )
                stored.outcome, stored.checkout, stored.note, stored.ledger_entry = (
                    reversal.outcome,
                    reversal.checkout,
                    reversal.note[:500],
                    reversal.entry,
                )
            stored.save(update_fields=["outcome", "checkout", "note", "ledger_entry"])
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
