"""Publishers add credit by card: Billing → Stripe Checkout (the emulator, over HTTP, through
the real `stripe` library) → the signed webhook or the return page credits the payment once,
releases HOLD orders and queues the receipt."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.orders.models import Order, OrderStatus
from pressrun.payments.models import Checkout, CheckoutStatus, EventOutcome, StripeEvent
from tests.dashboard.conftest import sign_in
from tests.dashboard.pages import text
from tests.payments.stripe_emulator import Emulator, event_envelope, signature_header

pytestmark = pytest.mark.django_db
WEBHOOK = "/payments/stripe/webhook"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def holds(publisher: Any, make_project: Callable[..., Any]) -> list[Order]:
    """Two HOLD orders, $9.00 and $13.50 (4.50 x n + standard+tracking)."""
    from tests.billing.test_release_rule import place

    cd = make_project(publisher, price=Decimal("4.50"), packaging="jewel-case")
    orders = [place(publisher, [(cd, 1)]), place(publisher, [(cd, 2)])]
    assert [(o.status, o.total_cost) for o in orders] == [
        (OrderStatus.HOLD, Decimal("9.00")),
        (OrderStatus.HOLD, Decimal("14.25")),
    ]
    return orders


def start(browser: Client, amount: str) -> tuple[Checkout, str]:
    """Add credit: POST the form; returns our checkout and Stripe's page URL."""
    response = browser.post("/billing/add-credit", {"amount": amount})
    assert response.status_code == 303, text(response)[-600:]
    checkout = Checkout.objects.latest("id")
    return checkout, response["Location"]


def session_id_of(page_url: str) -> str:
    return urlsplit(page_url).path.rsplit("/", 1)[1]


def deliver(event: dict[str, Any], *, secret: str | None = None, **headers: str) -> Any:
    """POST an event to the webhook through the test client, signed as Stripe signs it."""
    payload = json.dumps(event, indent=2).encode()
    signature = signature_header(payload, secret or _secret())
    headers.setdefault("Stripe-Signature", signature)
    return Client().post(WEBHOOK, payload, content_type="application/json", headers=headers)


def _secret() -> str:
    from django.conf import settings

    return str(settings.STRIPE_WEBHOOK_SECRET)


def pay(stripe: Emulator, page_url: str) -> tuple[str, dict[str, Any]]:
    """The customer pays on Stripe's page; returns the success URL and the (held) event."""
    session_id = session_id_of(page_url)
    success_url = stripe.pay(session_id)
    [event] = [e for e in stripe.events.values() if e["data"]["object"]["id"] == session_id]
    return success_url, event


def payments(publisher: Any) -> list[tuple[Decimal, str]]:
    return [
        (entry.amount, entry.description)
        for entry in LedgerEntry.objects.filter(publisher=publisher, kind=LedgerKind.PAYMENT)
    ]


# --- the Billing page --------------------------------------------------------------------------


def test_without_stripe_keys_billing_shows_the_operators_instructions(
    browser: Client, publisher: Any, holds: list[Order], settings: Any
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENT_INSTRUCTIONS = "Send a check to Pressrun, 1 Main St.\nQuote your ID."
    response = browser.get("/billing")
    page = response.content.decode()
    assert "Send a check to Pressrun, 1 Main St.<br>Quote your ID." in page
    assert "/billing/add-credit" not in page  # no button that cannot work
    assert "form-action 'self';" in response["Content-Security-Policy"]
    response = browser.post("/billing/add-credit", {"amount": "20"})
    assert response.status_code == 302
    assert "Online payment is not set up" in text(browser.get(response["Location"]))
    assert not Checkout.objects.exists()


def test_billing_offers_exactly_what_releases_every_hold_order(
    browser: Client, holds: list[Order], stripe: Emulator
) -> None:
    response = browser.get("/billing")
    page = response.content.decode()
    assert '<input type="hidden" name="amount" value="23.25">' in page
    assert "Pay $23.25" in text(response)
    assert "Exactly what releases every HOLD order." in text(response)
    assert "From $5.00 to $10,000.00, in US dollars." in text(response)
    policy = response["Content-Security-Policy"]
    assert f"form-action 'self' {stripe.base_url};" in policy


def test_a_shortfall_below_the_minimum_offers_the_minimum(
    browser: Client, publisher: Any, holds: list[Order], stripe: Emulator
) -> None:
    from pressrun.billing.services import ledger_credit

    ledger_credit(publisher_id=publisher.id, amount=Decimal("21.00"), description="", actor="t")
    page = text(browser.get("/billing"))  # $14.25 still on HOLD, $12.00 balance: $2.25 short
    assert "Pay $5.00" in page
    assert "The smallest payment ($5.00); it releases every HOLD order ($2.25 needed)." in page


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("4.99", "Enter at least $5.00."),
        ("10000.01", "Enter at most $10,000.00."),
        ("1e3", "'1e3' is not an amount"),
        ("19,95", "'19,95' is not an amount"),
        ("0.001", "'0.001' is not an amount"),
        ("", "This field is required."),
    ],
)
def test_amounts_outside_the_limits_are_refused_and_nothing_is_asked_of_stripe(
    browser: Client, stripe: Emulator, amount: str, message: str
) -> None:
    response = browser.post("/billing/add-credit", {"amount": amount})
    assert response.status_code == 400
    assert message in text(response)
    assert 'id="id_amount_error"' in response.content.decode()
    assert not Checkout.objects.exists()
    assert stripe.requests == []


def test_add_credit_creates_a_checkout_session_and_sends_the_publisher_to_it(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, page_url = start(browser, "$120.50")
    assert page_url == f"{stripe.base_url}/c/pay/{checkout.stripe_session_id}"
    assert (checkout.publisher_id, checkout.amount, checkout.status, checkout.currency) == (
        publisher.id,
        Decimal("120.50"),
        CheckoutStatus.OPEN,
        "usd",
    )
    [(method, path, params)] = stripe.requests
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "usd",
                "unit_amount": "12050",
                "product_data": {"name": f"pressrun credit for publisher {publisher.id}"},
            },
        }
    ]
    assert params["client_reference_id"] == str(checkout.id)
    assert params["metadata"] == {
        "pressrun_checkout": str(checkout.id),
        "pressrun_publisher": str(publisher.id),
    }
    assert params["success_url"] == (
        f"http://testserver/billing/checkout/{checkout.id}/paid?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert params["cancel_url"] == f"http://testserver/billing/checkout/{checkout.id}/canceled"
    assert params["customer_email"] == "owner@example.com"


def test_stripe_out_of_reach_charges_nothing_and_says_so(
    browser: Client, stripe: Emulator, settings: Any
) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = browser.post("/billing/add-credit", {"amount": "50"})
    assert response.status_code == 503
    assert "The card payment service could not be reached" in text(response)
    assert "Nothing was charged" in text(response)
    checkout = Checkout.objects.get()
    assert checkout.status == CheckoutStatus.FAILED
    assert not LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT).exists()


# --- the webhook -----------------------------------------------------------------------------


def test_the_signed_webhook_credits_releases_and_queues_the_receipt_at_once(
    browser: Client, publisher: Any, holds: list[Order], stripe: Emulator
) -> None:
    checkout, page_url = start(browser, "23.25")
    _success_url, event = pay(stripe, page_url)
    payment_id = stripe.sessions[checkout.stripe_session_id]["payment_intent"]
    assert re.fullmatch(r"pi_[0-9a-f]{24}", payment_id)

    response = deliver(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "credited"}
    assert payments(publisher) == [
        (Decimal("23.25"), f"Card payment, Stripe {payment_id}"),
    ]
    assert {o.id: o.status for o in Order.objects.all()} == {
        holds[0].id: OrderStatus.PROCESSING,
        holds[1].id: OrderStatus.PROCESSING,
    }
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("0.00")
    checkout.refresh_from_db()
    assert (checkout.status, checkout.stripe_payment_intent) == (CheckoutStatus.PAID, payment_id)
    assert checkout.ledger_entry is not None
    assert checkout.ledger_entry.amount == Decimal("23.25")
    assert checkout.paid_at is not None
    stored = StripeEvent.objects.get()
    assert (stored.event_id, stored.type, stored.outcome, stored.checkout_id) == (
        event["id"],
        "checkout.session.completed",
        EventOutcome.CREDITED,
        checkout.id,
    )
    receipt = OutgoingEmail.objects.get(kind=EmailKind.PAYMENT_RECEIPT)
    assert (receipt.to, receipt.key, receipt.status) == (
        "owner@example.com",
        f"payment-receipt:checkout:{checkout.id}",
        "sent",
    )
    assert receipt.subject == "Receipt: $23.25 added to your balance"
    assert f"Payment reference: {payment_id}" in receipt.text
    assert "Balance now: $0.00" in receipt.text
    assert f"  Order {holds[0].id}, Ann Buyer: $9.00" in receipt.text
    ledger = text(browser.get("/billing"))
    assert f"Payment Card payment, Stripe {payment_id} $23.25" in ledger


def test_a_replayed_event_or_a_second_event_for_the_session_records_nothing_more(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    _checkout, page_url = start(browser, "40")
    _success_url, event = pay(stripe, page_url)
    assert deliver(event).json()["outcome"] == "credited"
    for _ in range(2):  # the same event again (Stripe retries, `stripe events resend`)
        assert deliver(event).status_code == 200
    other = stripe.add_event("checkout.session.completed", event["data"]["object"])
    assert deliver(other).json()["outcome"] == "already_credited"
    assert len(payments(publisher)) == 1
    assert StripeEvent.objects.count() == 2
    assert OutgoingEmail.objects.filter(kind=EmailKind.PAYMENT_RECEIPT).count() == 1
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("40.00")


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "no_header", "garbled_header", "body_changed", "too_old", "not_json"],
)
def test_a_request_not_signed_by_stripe_is_refused_and_nothing_is_written(
    browser: Client, publisher: Any, stripe: Emulator, tamper: str
) -> None:
    _checkout, page_url = start(browser, "40")
    _success_url, event = pay(stripe, page_url)
    payload = json.dumps(event).encode()
    signature = signature_header(payload, stripe.webhook_secret)
    if tamper == "wrong_secret":
        signature = signature_header(payload, "whsec_someone_else")
    elif tamper == "garbled_header":
        signature = "v1=abc,t=notanumber"
    elif tamper == "body_changed":
        payload = payload.replace(b'"livemode": false', b'"livemode": true ')
    elif tamper == "too_old":
        signature = signature_header(payload, stripe.webhook_secret, timestamp=1_600_000_000)
    elif tamper == "not_json":
        payload = b"\xff\xfe not json"
        signature = signature_header(payload, stripe.webhook_secret)
    headers = {} if tamper == "no_header" else {"Stripe-Signature": signature}
    response = Client().post(WEBHOOK, payload, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert "error" in response.json()
    assert not StripeEvent.objects.exists()
    assert payments(publisher) == []


def test_other_event_types_are_stored_and_ignored(stripe: Emulator) -> None:
    event = stripe.add_event("payment_intent.created", {"id": "pi_1", "object": "payment_intent"})
    response = deliver(event)
    assert response.json() == {"received": True, "outcome": "ignored"}
    stored = StripeEvent.objects.get()
    assert (stored.type, stored.outcome, stored.checkout_id) == (
        "payment_intent.created",
        "ignored",
        None,
    )
    assert not LedgerEntry.objects.exists()


def test_a_paid_session_that_is_not_ours_credits_nothing(stripe: Emulator) -> None:
    session = {"id": "cs_test_elsewhere", "object": "checkout.session", "payment_status": "paid"}
    response = deliver(event_envelope("checkout.session.completed", session))
    assert response.json()["outcome"] == "unknown_session"
    assert not LedgerEntry.objects.exists()


def test_a_session_paid_for_another_amount_is_not_credited(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, page_url = start(browser, "40")
    stripe.sessions[checkout.stripe_session_id]["amount_total"] = 400  # $4.00 charged
    _success_url, event = pay(stripe, page_url)
    assert deliver(event).json()["outcome"] == "mismatch"
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.MISMATCH
    assert checkout.note == "Paid but not credited: amount_total 400, not 4000 ($40.00)."
    assert payments(publisher) == []


def test_the_webhook_answers_503_while_payments_are_not_configured(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = Client().post(WEBHOOK, b"{}", content_type="application/json")
    assert response.status_code == 503
    assert not StripeEvent.objects.exists()


def test_the_webhook_takes_only_post(stripe: Emulator) -> None:
    assert Client().get(WEBHOOK).status_code == 405


# --- the return and cancel pages -------------------------------------------------------------


def test_the_return_page_credits_only_what_stripe_says_is_paid(
    browser: Client, publisher: Any, holds: list[Order], stripe: Emulator
) -> None:
    checkout, page_url = start(browser, "23.25")
    return_path = f"/billing/checkout/{checkout.id}/paid?session_id={checkout.stripe_session_id}"
    # Not paid yet: the URL alone credits nothing.
    page = text(browser.get(return_path, follow=True))
    assert "Stripe has not confirmed your payment of $23.25 yet." in page
    assert payments(publisher) == []

    success_url, event = pay(stripe, page_url)  # the webhook is held back
    assert urlsplit(success_url).path == f"/billing/checkout/{checkout.id}/paid"
    response = browser.get(success_url.removeprefix("http://testserver"), follow=True)
    assert "Thank you: your payment of $23.25 is added to your balance." in text(response)
    assert f"Released from HOLD: {holds[0].id}, {holds[1].id}." in text(response)
    payment_id = stripe.sessions[checkout.stripe_session_id]["payment_intent"]
    assert payments(publisher) == [(Decimal("23.25"), f"Card payment, Stripe {payment_id}")]
    # The webhook that follows finds it credited.
    assert deliver(event).json()["outcome"] == "already_credited"
    assert len(payments(publisher)) == 1
    assert OutgoingEmail.objects.filter(kind=EmailKind.PAYMENT_RECEIPT).count() == 1


def test_a_forged_return_url_cannot_credit_another_session(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    first, _page = start(browser, "10")
    _second, second_page = start(browser, "20")
    pay(stripe, second_page)  # only the second is paid
    browser.get(f"/billing/checkout/{first.id}/paid?session_id={session_id_of(second_page)}")
    first.refresh_from_db()
    assert first.status == CheckoutStatus.OPEN
    assert [amount for amount, _ in payments(publisher)] == []


def test_one_publisher_cannot_see_or_complete_anothers_checkout(
    browser: Client, publisher: Any, stripe: Emulator, make_publisher: Callable[..., Any]
) -> None:
    checkout, page_url = start(browser, "30")
    pay(stripe, page_url)
    intruder = Client()
    sign_in(intruder, make_publisher(email="intruder@example.com"))
    assert intruder.get(f"/billing/checkout/{checkout.id}/paid").status_code == 404
    assert intruder.get(f"/billing/checkout/{checkout.id}/canceled").status_code == 404
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.OPEN
    assert not LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT).exists()
    assert Client().get(f"/billing/checkout/{checkout.id}/paid").status_code == 302  # sign in


def test_canceling_returns_to_billing_and_charges_nothing(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, _page_url = start(browser, "30")
    response = browser.get(f"/billing/checkout/{checkout.id}/canceled", follow=True)
    assert response.redirect_chain[-1][0] == "/billing#add-credit"
    assert "Payment of $30.00 canceled: nothing was charged." in text(response)
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.CANCELED
    assert payments(publisher) == []


def test_a_canceled_checkout_paid_after_all_is_still_credited(
    browser: Client, publisher: Any, stripe: Emulator
) -> None:
    checkout, page_url = start(browser, "30")
    browser.get(f"/billing/checkout/{checkout.id}/canceled")
    _success, event = pay(stripe, page_url)  # the publisher went back to Stripe's tab
    assert deliver(event).json()["outcome"] == "credited"
    assert [amount for amount, _ in payments(publisher)] == [Decimal("30.00")]


# --- the race (PostgreSQL) -------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
@pytest.mark.django_db(transaction=True)
def test_the_return_page_racing_the_webhook_credits_once(
    make_publisher: Callable[..., Any], stripe: Emulator
) -> None:
    publisher = make_publisher(email="racer@example.com")
    for _attempt in range(6):
        browser = Client()
        sign_in(browser, publisher)
        checkout, page_url = start(browser, "25")
        success_url, event = pay(stripe, page_url)
        results = _race(
            webhook=lambda event=event: deliver(event).status_code,
            return_page=lambda browser=browser, url=success_url: (
                browser.get(url.removeprefix("http://testserver")).status_code
            ),
            replay=lambda event=event: deliver(event).status_code,
        )
        assert results == {"webhook": 200, "return_page": 302, "replay": 200}
        payment_id = stripe.sessions[checkout.stripe_session_id]["payment_intent"]
        assert payments(publisher)[0] == (Decimal("25.00"), f"Card payment, Stripe {payment_id}")
        receipts = OutgoingEmail.objects.filter(key=f"payment-receipt:checkout:{checkout.id}")
        assert receipts.count() == 1
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("150.00")
    assert len(payments(publisher)) == 6


def _race(**jobs: Callable[[], int]) -> dict[str, int]:
    """Run the jobs at the same moment in threads (each with its own connection)."""
    barrier = threading.Barrier(len(jobs))
    results: dict[str, int] = {}

    def run(name: str, job: Callable[[], int]) -> None:
        barrier.wait()
        try:
            results[name] = job()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
