"""Stripe takes money back from a credited card payment — a refund, a dispute — and pressrun
takes it from the balance, exactly once whatever the order and number of Stripe's events;
a dispute's reinstated funds are given back through the one release rule. The emulator
plays Stripe: its events are signed and delivered through the webhook."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.orders.models import OrderStatus
from pressrun.payments.models import Checkout, EventOutcome, StripeDispute, StripeEvent
from tests.billing.test_release_rule import place
from tests.dashboard.conftest import sign_in
from tests.dashboard.pages import text
from tests.payments.stripe_emulator import Emulator, event_envelope
from tests.payments.test_add_credit import _race, deliver, pay, start

pytestmark = pytest.mark.django_db

REVERSALS = (LedgerKind.PAYMENT_REFUND, LedgerKind.PAYMENT_DISPUTE, LedgerKind.DISPUTE_REINSTATED)


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def cd(publisher: Any, make_project: Callable[..., Any]) -> Any:
    """A project whose one-unit order costs $9.00."""
    return make_project(publisher, price=Decimal("4.50"), packaging="jewel-case")


def paid(browser: Client, stripe: Emulator, amount: str) -> tuple[Checkout, str]:
    """A card payment of `amount`, credited by its webhook; returns the checkout and the
    Stripe payment id."""
    checkout, page_url = start(browser, amount)
    _success_url, event = pay(stripe, page_url)
    assert deliver(event).json()["outcome"] == "credited"
    checkout.refresh_from_db()
    return checkout, checkout.stripe_payment_intent


def held(stripe: Emulator, event_type: str) -> list[dict[str, Any]]:
    """The emulator's held events of a type, oldest first."""
    return [e for e in stripe.events.values() if e["type"] == event_type]


def balance(publisher: Any) -> Decimal:
    publisher.refresh_from_db()
    return Decimal(publisher.balance)


def reversals(publisher: Any) -> list[tuple[str, Decimal, str]]:
    """The publisher's refund and dispute ledger lines, oldest first."""
    return [
        (entry.kind, entry.amount, entry.description)
        for entry in LedgerEntry.objects.filter(publisher=publisher, kind__in=REVERSALS).order_by(
            "id"
        )
    ]


def notices() -> list[tuple[str, str]]:
    return [
        (email.key, email.subject)
        for email in OutgoingEmail.objects.filter(kind=EmailKind.PAYMENT_REVERSAL).order_by("id")
    ]


def status_of(event: dict[str, Any]) -> int:
    return int(deliver(event).status_code)


def outcome(event: dict[str, Any]) -> str:
    response = deliver(event)
    assert response.status_code == 200, response.content
    return str(response.json()["outcome"])


# --- refunds ---------------------------------------------------------------------------------


def test_a_full_refund_takes_the_payment_back_and_tells_the_publisher(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, payment = paid(browser, stripe, "40")
    # Through Stripe's API, as an operator's refund in the dashboard would be.
    request = urllib.request.Request(
        f"{stripe.base_url}/v1/refunds",
        data=f"payment_intent={payment}".encode(),
        headers={"Authorization": f"Bearer {stripe.secret_key}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        refund = json.loads(response.read())
    assert (refund["object"], refund["amount"], refund["payment_intent"]) == (
        "refund",
        4000,
        payment,
    )
    [event] = held(stripe, "charge.refunded")
    charge = event["data"]["object"]
    assert (charge["object"], charge["amount_refunded"], charge["refunded"]) == (
        "charge",
        4000,
        True,
    )

    assert outcome(event) == "refunded"

    assert balance(publisher) == Decimal("0.00")
    assert reversals(publisher) == [
        (LedgerKind.PAYMENT_REFUND, Decimal("-40.00"), f"Card refund, Stripe {payment}")
    ]
    checkout.refresh_from_db()
    assert (checkout.refunded, checkout.taken_back) == (Decimal("40.00"), Decimal("40.00"))
    stored = StripeEvent.objects.get(event_id=event["id"])
    assert (stored.type, stored.outcome, stored.checkout_id) == (
        "charge.refunded",
        EventOutcome.REFUNDED,
        checkout.id,
    )
    assert stored.ledger_entry is not None
    assert stored.ledger_entry.amount == Decimal("-40.00")
    notice = OutgoingEmail.objects.get(kind=EmailKind.PAYMENT_REVERSAL)
    assert (notice.to, notice.key, notice.subject, notice.status) == (
        "owner@example.com",
        f"payment-reversal:checkout:{checkout.id}:refunded:4000",
        "Card refund: $40.00 taken from your balance",
        "sent",
    )
    assert f"The card payment {payment} was refunded in Stripe" in notice.text
    assert "Taken: -$40.00" in notice.text
    assert "Balance now: $0.00" in notice.text
    assert "below zero" not in notice.text
    page = text(browser.get("/billing"))
    assert f"Card refund Card refund, Stripe {payment} -$40.00" in page
    assert "Card refunds and disputes: -$40.00" in page


def test_a_refund_of_money_already_spent_takes_the_balance_below_zero_and_new_orders_hold(
    browser: Client, publisher: Any, stripe: Emulator, cd: Any
) -> None:
    _checkout, payment = paid(browser, stripe, "20")
    spent = place(publisher, [(cd, 1)])
    assert (spent.status, balance(publisher)) == (OrderStatus.PROCESSING, Decimal("11.00"))

    stripe.refund(payment)
    assert outcome(held(stripe, "charge.refunded")[0]) == "refunded"

    assert balance(publisher) == Decimal("-9.00")
    spent.refresh_from_db()
    assert spent.status == OrderStatus.PROCESSING  # a refund never cancels or stops an order
    notice = OutgoingEmail.objects.get(kind=EmailKind.PAYMENT_REVERSAL)
    assert "Balance now: -$9.00" in notice.text
    assert "Your balance is below zero. New orders wait on HOLD" in notice.text
    page = text(browser.get("/billing"))
    assert "Pay $9.00 Exactly what brings the balance back to zero." in page
    # Intake: a balance below zero covers no order, so the next one waits on HOLD.
    later = place(publisher, [(cd, 1)])
    assert (later.status, balance(publisher)) == (OrderStatus.HOLD, Decimal("-9.00"))
    page = text(browser.get("/billing"))
    assert "Below zero: new orders wait on HOLD" in page
    assert "A payment of $18.00 releases every one." in page  # the debt and the order
    assert (
        "Pay $18.00 Exactly what releases every HOLD order and covers the balance below zero."
        in page
    )


def test_two_partial_refunds_then_the_rest_each_take_their_part(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, payment = paid(browser, stripe, "100")
    for cents, left in ((3000, "70.00"), (2000, "50.00"), (None, "0.00")):
        stripe.refund(payment, cents)
        assert outcome(held(stripe, "charge.refunded")[-1]) == "refunded"
        assert balance(publisher) == Decimal(left)
    line = f"Card refund, Stripe {payment}"
    assert reversals(publisher) == [
        (LedgerKind.PAYMENT_REFUND, Decimal("-30.00"), line),
        (LedgerKind.PAYMENT_REFUND, Decimal("-20.00"), line),
        (LedgerKind.PAYMENT_REFUND, Decimal("-50.00"), line),
    ]
    checkout.refresh_from_db()
    assert (checkout.refunded, checkout.taken_back) == (Decimal("100.00"), Decimal("100.00"))
    assert [key for key, _ in notices()] == [
        f"payment-reversal:checkout:{checkout.id}:refunded:{cents}" for cents in (3000, 5000, 10000)
    ]


def test_a_replayed_or_repeated_refund_event_takes_nothing_more(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    _checkout, payment = paid(browser, stripe, "40")
    stripe.refund(payment, 1500)
    [event] = held(stripe, "charge.refunded")
    assert outcome(event) == "refunded"
    for _ in range(2):  # Stripe retrying, `stripe events resend`: the same event id
        assert outcome(event) == "refunded"  # the stored event's outcome, nothing done
    # Another event with the same cumulative figure (a second delivery path).
    repeat = stripe.add_event("charge.refunded", event["data"]["object"])
    assert outcome(repeat) == "no_change"
    assert balance(publisher) == Decimal("25.00")
    assert len(reversals(publisher)) == 1
    assert len(notices()) == 1
    assert StripeEvent.objects.filter(type="charge.refunded").count() == 2
    assert StripeEvent.objects.get(event_id=repeat["id"]).ledger_entry is None


def test_refund_events_arriving_out_of_order_take_the_cumulative_amount_once(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, payment = paid(browser, stripe, "100")
    stripe.refund(payment, 3000)
    stripe.refund(payment, 2000)
    first, second = held(stripe, "charge.refunded")  # amount_refunded 3000, then 5000

    assert outcome(second) == "refunded"  # takes all $50.00 refunded so far
    assert outcome(first) == "no_change"  # older and smaller: nothing left to take
    assert balance(publisher) == Decimal("50.00")
    stripe.refund(payment)
    assert outcome(held(stripe, "charge.refunded")[-1]) == "refunded"

    assert balance(publisher) == Decimal("0.00")
    assert [amount for _, amount, _ in reversals(publisher)] == [
        Decimal("-50.00"),
        Decimal("-50.00"),
    ]
    checkout.refresh_from_db()
    assert (checkout.refunded, checkout.taken_back) == (Decimal("100.00"), Decimal("100.00"))


def _refund_event(payment: str, *, amount_refunded: Any = 1000, currency: str = "usd") -> Any:
    charge = {
        "id": "ch_test_elsewhere",
        "object": "charge",
        "amount": 4000,
        "amount_refunded": amount_refunded,
        "currency": currency,
        "payment_intent": payment,
        "refunded": False,
    }
    return event_envelope("charge.refunded", charge)


def test_a_refund_of_a_payment_pressrun_did_not_credit_changes_nothing(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, payment = paid(browser, stripe, "40")
    before = (
        list(LedgerEntry.objects.values_list("id", flat=True)),
        list(OutgoingEmail.objects.values_list("id", flat=True)),
    )
    cases = [
        (_refund_event("pi_from_another_system"), "unknown_payment", None),
        (_refund_event(""), "unknown_payment", None),
        (_refund_event(payment, currency="eur"), "other_currency", checkout.id),
        (_refund_event(payment, amount_refunded="1000"), "unreadable", checkout.id),
        (_refund_event(payment, amount_refunded=-5), "unreadable", checkout.id),
    ]
    for event, expected, checkout_id in cases:
        assert outcome(event) == expected
        stored = StripeEvent.objects.get(event_id=event["id"])
        assert (stored.outcome, stored.checkout_id, stored.ledger_entry) == (
            expected,
            checkout_id,
            None,
        )
        assert stored.note
    assert StripeEvent.objects.get(event_id=cases[0][0]["id"]).note == (
        "No credited checkout has payment_intent 'pi_from_another_system'."
    )
    assert balance(publisher) == Decimal("40.00")
    after = (
        list(LedgerEntry.objects.values_list("id", flat=True)),
        list(OutgoingEmail.objects.values_list("id", flat=True)),
    )
    assert after == before
    checkout.refresh_from_db()
    assert (checkout.refunded, checkout.taken_back) == (Decimal("0.00"), Decimal("0.00"))
    assert not StripeDispute.objects.exists()


def test_a_dispute_of_a_payment_pressrun_did_not_credit_changes_nothing(
    stripe: Emulator, publisher: Any
) -> None:
    dispute = {
        "id": "du_elsewhere",
        "object": "dispute",
        "amount": 4000,
        "currency": "usd",
        "charge": "ch_elsewhere",
        "payment_intent": "pi_elsewhere",
        "status": "needs_response",
    }
    assert outcome(event_envelope("charge.dispute.created", dispute)) == "unknown_payment"
    assert not LedgerEntry.objects.filter(kind__in=REVERSALS).exists()
    assert not StripeDispute.objects.exists()
    assert not OutgoingEmail.objects.filter(kind=EmailKind.PAYMENT_REVERSAL).exists()


# --- disputes --------------------------------------------------------------------------------


@pytest.mark.parametrize("closed_first", [False, True])
def test_a_dispute_takes_the_amount_once_and_a_won_dispute_gives_it_back_releasing_holds(
    browser: Client, publisher: Any, stripe: Emulator, cd: Any, closed_first: bool
) -> None:
    checkout, payment = paid(browser, stripe, "30")
    spent = place(publisher, [(cd, 1)])
    assert balance(publisher) == Decimal("21.00")

    dispute = stripe.open_dispute(payment)
    created, withdrawn = held(stripe, "charge.dispute.created") + held(
        stripe, "charge.dispute.funds_withdrawn"
    )
    assert created["data"]["object"]["payment_intent"] == payment
    assert outcome(created) == "dispute_debited"
    assert outcome(withdrawn) == "no_change"  # the same withdrawal, reported twice
    assert balance(publisher) == Decimal("-9.00")
    waiting = place(publisher, [(cd, 1)])
    assert waiting.status == OrderStatus.HOLD
    spent.refresh_from_db()
    assert spent.status == OrderStatus.PROCESSING

    reinstated, closed = stripe.close_dispute(dispute["id"], won=True)
    assert (reinstated["type"], closed["type"]) == (
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    )
    first, second = (closed, reinstated) if closed_first else (reinstated, closed)
    assert outcome(first) == "dispute_returned"
    assert outcome(second) == "no_change"

    # $30.00 back: -$9.00 + $30.00 pays the $9.00 order on HOLD, by the one release rule.
    assert balance(publisher) == Decimal("12.00")
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.PROCESSING
    dispute_id = dispute["id"]
    assert reversals(publisher) == [
        (
            LedgerKind.PAYMENT_DISPUTE,
            Decimal("-30.00"),
            f"Card dispute {dispute_id}, Stripe {payment}",
        ),
        (
            LedgerKind.DISPUTE_REINSTATED,
            Decimal("30.00"),
            f"Card dispute {dispute_id}: funds reinstated, Stripe {payment}",
        ),
    ]
    row = StripeDispute.objects.get()
    assert (row.dispute_id, row.checkout_id, row.amount, row.status) == (
        dispute_id,
        checkout.id,
        Decimal("30.00"),
        "won",
    )
    assert (row.withdrawn, row.reinstated, row.taken, row.given_back) == (
        Decimal("30.00"),
        Decimal("30.00"),
        Decimal("30.00"),
        Decimal("30.00"),
    )
    checkout.refresh_from_db()
    assert (checkout.refunded, checkout.taken_back) == (Decimal("0.00"), Decimal("0.00"))
    assert notices() == [
        (
            f"payment-reversal:dispute:{dispute_id}:withdrawn",
            "Card payment disputed: $30.00 taken from your balance",
        ),
        (
            f"payment-reversal:dispute:{dispute_id}:reinstated",
            "Disputed payment: $30.00 returned to your balance",
        ),
    ]
    returned = OutgoingEmail.objects.get(key=f"payment-reversal:dispute:{dispute_id}:reinstated")
    assert "Added: $30.00" in returned.text
    assert f"  Order {waiting.id}, Ann Buyer: $9.00" in returned.text


def test_a_lost_dispute_changes_nothing_more(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    _checkout, payment = paid(browser, stripe, "30")
    dispute = stripe.open_dispute(payment, 1250)
    for event in held(stripe, "charge.dispute.created") + held(
        stripe, "charge.dispute.funds_withdrawn"
    ):
        deliver(event)
    assert balance(publisher) == Decimal("17.50")

    [closed] = stripe.close_dispute(dispute["id"], won=False)
    assert closed["data"]["object"]["status"] == "lost"
    assert outcome(closed) == "no_change"

    assert balance(publisher) == Decimal("17.50")
    assert [amount for _, amount, _ in reversals(publisher)] == [Decimal("-12.50")]
    assert StripeDispute.objects.get().status == "lost"
    assert len(notices()) == 1


def test_an_inquiry_takes_nothing_until_stripe_withdraws_the_funds(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    _checkout, payment = paid(browser, stripe, "30")
    dispute = stripe.open_dispute(payment, inquiry=True)
    [created] = held(stripe, "charge.dispute.created")
    assert created["data"]["object"]["status"] == "warning_needs_response"
    assert outcome(created) == "no_change"
    assert balance(publisher) == Decimal("30.00")
    row = StripeDispute.objects.get()
    assert (row.withdrawn, row.taken) == (None, Decimal("0.00"))

    # The inquiry becomes a chargeback: Stripe withdraws the funds and says so.
    escalated = dict(dispute, status="needs_response")
    assert outcome(event_envelope("charge.dispute.funds_withdrawn", escalated)) == (
        "dispute_debited"
    )
    assert balance(publisher) == Decimal("0.00")


def test_refunds_and_disputes_together_never_take_more_than_was_credited(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    """A bank may dispute the whole payment after a partial refund (Stripe withdraws it all;
    won, it returns it all; lost, only the refunded part)."""
    checkout, payment = paid(browser, stripe, "100")
    stripe.refund(payment, 3000)
    deliver(held(stripe, "charge.refunded")[0])
    dispute = stripe.open_dispute(payment)  # the full $100.00
    assert outcome(held(stripe, "charge.dispute.created")[0]) == "dispute_debited"
    assert balance(publisher) == Decimal("0.00")  # $70.00 taken: $100.00 in all
    # Lost, "partially won": Stripe reinstates the $30.00 it also refunded.
    partial = dict(dispute, status="lost")
    partial["balance_transactions"] = [
        *dispute["balance_transactions"],
        {"object": "balance_transaction", "amount": 3000, "currency": "usd"},
    ]
    assert outcome(event_envelope("charge.dispute.funds_reinstated", partial)) == "no_change"

    assert balance(publisher) == Decimal("0.00")
    assert [amount for _, amount, _ in reversals(publisher)] == [
        Decimal("-30.00"),
        Decimal("-70.00"),
    ]
    checkout.refresh_from_db()
    assert checkout.taken_back == Decimal("100.00")
    row = StripeDispute.objects.get()
    assert (row.withdrawn, row.reinstated, row.taken, row.given_back) == (
        Decimal("100.00"),
        Decimal("30.00"),
        Decimal("70.00"),
        Decimal("0.00"),
    )


def test_a_dispute_won_after_a_partial_refund_gives_back_what_it_took(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    _checkout, payment = paid(browser, stripe, "100")
    stripe.refund(payment, 3000)
    deliver(held(stripe, "charge.refunded")[0])
    dispute = stripe.open_dispute(payment)
    deliver(held(stripe, "charge.dispute.created")[0])
    for event in stripe.close_dispute(dispute["id"], won=True):
        deliver(event)
    # Stripe has $70.00 of the payment after all (the refund stays refunded).
    assert balance(publisher) == Decimal("70.00")
    assert [amount for _, amount, _ in reversals(publisher)] == [
        Decimal("-30.00"),
        Decimal("-70.00"),
        Decimal("70.00"),
    ]


# --- the race (PostgreSQL) -------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
@pytest.mark.django_db(transaction=True)
def test_refund_and_dispute_events_delivered_at_once_move_the_balance_exactly(
    make_publisher: Callable[..., Any], stripe: Emulator
) -> None:
    publisher = make_publisher(email="racer@example.com")
    browser = Client()
    sign_in(browser, publisher)
    for attempt in range(4):
        checkout, payment = paid(browser, stripe, "100")
        stripe.refund(payment, 3000)
        stripe.refund(payment, 2000)
        first, second = held(stripe, "charge.refunded")[-2:]
        # Two deliveries of one event and two partial refunds' events, all at once.
        results = _race(
            first=partial(status_of, first),
            first_again=partial(status_of, first),
            second=partial(status_of, second),
        )
        assert results == {"first": 200, "first_again": 200, "second": 200}
        taken = LedgerEntry.objects.filter(
            publisher=publisher, kind=LedgerKind.PAYMENT_REFUND, description__endswith=payment
        )
        assert sum(entry.amount for entry in taken) == Decimal("-50.00")
        checkout.refresh_from_db()
        assert (checkout.refunded, checkout.taken_back) == (Decimal("50.00"), Decimal("50.00"))
        assert balance(publisher) == Decimal("50.00") * (attempt + 1)
        # A dispute's two events at once take its amount once.
        stripe.open_dispute(payment, 2500)
        created = held(stripe, "charge.dispute.created")[-1]
        withdrawn = held(stripe, "charge.dispute.funds_withdrawn")[-1]
        results = _race(
            created=partial(status_of, created),
            withdrawn=partial(status_of, withdrawn),
        )
        assert results == {"created": 200, "withdrawn": 200}
        assert balance(publisher) == Decimal("50.00") * (attempt + 1) - Decimal("25.00")
        checkout.refresh_from_db()
        assert checkout.taken_back == Decimal("75.00")
        # Leave the next round a balance of whole $50.00 steps.
        stripe.close_dispute(
            held(stripe, "charge.dispute.created")[-1]["data"]["object"]["id"], won=True
        )
        deliver(held(stripe, "charge.dispute.funds_reinstated")[-1])
        assert balance(publisher) == Decimal("50.00") * (attempt + 1)
    assert OutgoingEmail.objects.filter(kind=EmailKind.PAYMENT_REVERSAL).count() == len(
        LedgerEntry.objects.filter(publisher=publisher, kind__in=REVERSALS)
    )
