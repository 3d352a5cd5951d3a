"""Money end to end, over HTTP, with the real server and worker and Stripe played by the
emulator in its own process: a publisher adds credit through Stripe Checkout, the signed
webhook arrives, HOLD orders are released, the receipt is emailed; a replayed webhook and a
forged one record nothing; the return page racing the webhook credits once; a refund in
Stripe is taken from the balance once; nprice is read strictly."""

from __future__ import annotations

import html
import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.live import Account, LiveService
from tests.payments.stripe_emulator import EmulatorProcess, event_envelope, signature_header

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT = 60
WAIT_SECONDS = 60.0
SEPARATOR = b"\n" + b"-" * 79 + b"\n"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

STATE = """
import json
from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.orders.models import Order
from pressrun.payments.models import Checkout, StripeEvent
p = Publisher.objects.get(id={publisher_id})
print(json.dumps({{
    "balance": str(p.balance),
    "payments": [[str(e.amount), e.description]
                 for e in LedgerEntry.objects.filter(publisher=p, kind="payment").order_by("id")],
    "orders": {{str(o.id): o.status for o in Order.objects.filter(publisher=p)}},
    "checkouts": [[c.id, c.status, c.stripe_payment_intent, str(c.amount)]
                  for c in Checkout.objects.filter(publisher=p).order_by("id")],
    "events": [[e.event_id, e.type, e.outcome]
               for e in StripeEvent.objects.filter(checkout__publisher=p).order_by("id")],
}}))
"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """The publisher's browser: cookies, CSRF tokens; follows redirects unless told not to."""

    def __init__(self, service: LiveService, account: Account) -> None:
        self.service = service
        jar = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(jar)
        self.stay = urllib.request.build_opener(jar, _NoRedirect())
        page = self.open(service.url("/sign-in"))[2]
        self.open(
            service.url("/sign-in"),
            {"email": account.email, "password": account.password},
            csrf_from=page,
        )

    def open(
        self,
        url: str,
        form: dict[str, str] | None = None,
        *,
        csrf_from: str = "",
        follow: bool = True,
    ) -> tuple[int, str, str]:
        """(status, final URL or Location, body)."""
        data = None
        if form is not None:
            if csrf_from:
                token = CSRF.search(csrf_from)
                assert token, csrf_from[:1000]
                form = {"csrfmiddlewaretoken": html.unescape(token.group(1)), **form}
            data = urlencode(form).encode()
        opener = self.opener if follow else self.stay
        try:
            with opener.open(urllib.request.Request(url, data=data), timeout=HTTP_TIMEOUT) as r:
                return r.status, r.geturl(), html.unescape(r.read().decode())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", ""), exc.read().decode(errors="replace")


def state(service: LiveService, account: Account) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(service.shell(STATE.format(publisher_id=account.id)))
    return result


def page_text(body: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def place_hold_orders(service: LiveService, account: Account, quantities: list[int]) -> None:
    for quantity in quantities:
        fields = {
            "source": "cdfulfill",
            "ordermethod": "url",
            "CoLoginEmail": account.email,
            "CoLoginPassword": account.password,
            "productid": str(account.project_ids[0]),
            "quantity": str(quantity),
            "Invoice": service.unique(),
            "name": "Ann Buyer",
            "addr": "1 Main St",
            "city": "Austin",
            "st": "TX",
            "zip": "78701",
        }
        request = urllib.request.Request(
            service.url("/gateway/order"), data=urlencode(fields).encode()
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            reply = response.read().decode()
        assert "Status: HOLD" in reply, reply


def wait_for_receipt(service: LiveService, recipient: str) -> EmailMessage:
    deadline = time.monotonic() + WAIT_SECONDS
    mail_dir = service.data_dir / "mail"
    while time.monotonic() < deadline:
        found = [
            raw
            for path in (sorted(mail_dir.glob("*.log")) if mail_dir.is_dir() else [])
            for raw in path.read_bytes().split(SEPARATOR)
            if f"To: {recipient}".encode() in raw and b"Subject: Receipt:" in raw
        ]
        if found:
            assert len(found) == 1, found
            message = message_from_bytes(found[0].lstrip(b"\n"), policy=policy.default)
            assert isinstance(message, EmailMessage)
            return message
        time.sleep(0.2)
    pytest.fail(f"no receipt to {recipient} within {WAIT_SECONDS:.0f} s\n{service.logs()}")


def stripe_of(service: LiveService) -> EmulatorProcess:
    assert service.stripe is not None
    return service.stripe


def events_for(stripe: EmulatorProcess, session_id: str) -> list[dict[str, Any]]:
    listing = stripe.call("GET", "/_emulator/events")["data"]
    return [e for e in listing if e["event"]["data"]["object"]["id"] == session_id]


def post_webhook(service: LiveService, payload: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    request = urllib.request.Request(
        service.url("/payments/stripe/webhook"), data=payload, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def start_checkout(browser: Browser, amount: str) -> tuple[str, str]:
    """Billing → Add credit; returns (Stripe's page URL, its HTML)."""
    service = browser.service
    billing = browser.open(service.url("/billing"))[2]
    status, url, body = browser.open(
        service.url("/billing/add-credit"), {"amount": amount}, csrf_from=billing
    )
    assert status == 200, body[:2000]
    return url, body


def session_of(page_url: str) -> str:
    """The Checkout Session's id, the last part of its page's path."""
    return urlsplit(page_url).path.rsplit("/", 1)[1]


def test_a_publisher_adds_credit_through_stripe_checkout(live_service: LiveService) -> None:
    service, stripe = live_service, stripe_of(live_service)
    account = service.create_publisher()
    place_hold_orders(service, account, [1, 3])  # $6.00 (letter) and $4.50 x 3 + $6.00 = $19.50
    browser = Browser(service, account)

    billing = page_text(browser.open(service.url("/billing"))[2])
    assert "A payment of $25.50 releases every one." in billing
    assert "Pay $25.50 Exactly what releases every HOLD order." in billing

    page_url, page = start_checkout(browser, "25.50")
    session_id = session_of(page_url)
    assert page_url == f"{stripe.base_url}/c/pay/{session_id}"
    assert "Pay $25.50 USD" in page_text(page)

    # The customer pays: the emulator sends the signed webhook, then redirects back.
    status, final_url, body = browser.open(page_url, {"action": "pay"})
    assert (status, urlsplit(final_url).path) == (200, "/billing")
    assert "Thank you: your payment of $25.50 is added to your balance." in page_text(body)

    [event] = events_for(stripe, session_id)
    assert event["deliveries"] == [200]
    payment_id = event["event"]["data"]["object"]["payment_intent"]
    after = state(service, account)
    assert after["balance"] == "0.00"
    assert after["payments"] == [["25.50", f"Card payment, Stripe {payment_id}"]]
    assert set(after["orders"].values()) == {"PROCESSING"}
    [checkout] = after["checkouts"]
    assert checkout[1:] == ["paid", payment_id, "25.50"]
    assert after["events"] == [[event["event"]["id"], "checkout.session.completed", "credited"]]
    assert f"Card payment, Stripe {payment_id} $25.50" in page_text(
        browser.open(service.url("/billing"))[2]
    )

    receipt = wait_for_receipt(service, account.email)
    assert receipt["Subject"] == "Receipt: $25.50 added to your balance"
    body_text = receipt.get_body(preferencelist=("plain",))
    assert body_text is not None
    content = body_text.get_content()
    assert f"Payment reference: {payment_id}" in content
    assert "Balance now: $0.00" in content

    # Stripe sends the same event again (a retry, `stripe events resend`): nothing more.
    again = stripe.call("POST", f"/_emulator/events/{event['event']['id']}/deliver", {})
    assert again["status"] == 200
    assert state(service, account)["payments"] == after["payments"]


def test_forged_webhooks_are_refused_and_record_nothing(live_service: LiveService) -> None:
    service, stripe = live_service, stripe_of(live_service)
    account = service.create_publisher()
    browser = Browser(service, account)
    page_url, _page = start_checkout(browser, "40")
    session_id = session_of(page_url)
    assert events_for(stripe, session_id) == []  # nothing paid yet
    paid = {
        "id": session_id,
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": 4000,
        "currency": "usd",
        "mode": "payment",
        "client_reference_id": str(state(service, account)["checkouts"][0][0]),
        "payment_intent": "pi_forged",
    }
    payload = json.dumps(event_envelope("checkout.session.completed", paid)).encode()
    assert post_webhook(service, payload, None) == 400
    assert post_webhook(service, payload, signature_header(payload, "whsec_guess")) == 400
    assert post_webhook(service, payload, "t=1,v1=00") == 400
    after = state(service, account)
    assert (after["payments"], after["events"]) == ([], [])
    assert after["checkouts"][0][1] == "open"


def test_the_return_page_racing_the_webhook_credits_once(live_service: LiveService) -> None:
    service, stripe = live_service, stripe_of(live_service)
    account = service.create_publisher()
    browser = Browser(service, account)
    stripe.call("POST", "/_emulator/hold-webhooks", {"hold": "1"})
    try:
        for _attempt in range(3):
            page_url, _page = start_checkout(browser, "30")
            session_id = session_of(page_url)
            status, success_url, _body = browser.open(page_url, {"action": "pay"}, follow=False)
            assert status == 303
            assert "/paid?session_id=" + session_id in success_url
            [event] = events_for(stripe, session_id)
            results = _at_once(
                back=lambda url=success_url: browser.open(url)[0],
                webhook=lambda event_id=event["event"]["id"]: stripe.call(
                    "POST", f"/_emulator/events/{event_id}/deliver", {}
                )["status"],
            )
            assert results == {"back": 200, "webhook": 200}
    finally:
        stripe.call("POST", "/_emulator/hold-webhooks", {"hold": "0"})
    after = state(service, account)
    assert [amount for amount, _ in after["payments"]] == ["30.00"] * 3
    assert after["balance"] == "90.00"
    assert [c[1] for c in after["checkouts"]] == ["paid"] * 3


def test_a_refund_in_stripe_is_taken_from_the_balance_once(live_service: LiveService) -> None:
    service, stripe = live_service, stripe_of(live_service)
    account = service.create_publisher()
    browser = Browser(service, account)
    page_url, _page = start_checkout(browser, "40")
    session_id = session_of(page_url)
    assert browser.open(page_url, {"action": "pay"})[0] == 200
    [paid] = events_for(stripe, session_id)
    payment_id = paid["event"]["data"]["object"]["payment_intent"]

    # The emulator sends the signed `charge.refunded` before it answers.
    refund = stripe.refund(payment_id, 1500)
    assert (refund["amount"], refund["status"]) == (1500, "succeeded")
    listing = stripe.call("GET", "/_emulator/events")["data"]
    [refunded] = [
        e
        for e in listing
        if e["event"]["type"] == "charge.refunded"
        and e["event"]["data"]["object"]["payment_intent"] == payment_id
    ]
    assert refunded["deliveries"] == [200]
    after = state(service, account)
    assert after["balance"] == "25.00"
    assert after["events"][-1] == [refunded["event"]["id"], "charge.refunded", "refunded"]
    billing = page_text(browser.open(service.url("/billing"))[2])
    assert f"Card refund Card refund, Stripe {payment_id} -$15.00" in billing

    again = stripe.call("POST", f"/_emulator/events/{refunded['event']['id']}/deliver", {})
    assert again["status"] == 200
    assert state(service, account)["balance"] == "25.00"


def _at_once(**jobs: Any) -> dict[str, Any]:
    barrier = threading.Barrier(len(jobs))
    results: dict[str, Any] = {}

    def run(name: str, job: Any) -> None:
        barrier.wait()
        results[name] = job()

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT)
    return results


def test_nprice_is_read_strictly_over_http(live_service: LiveService) -> None:
    service = live_service
    account = service.create_publisher(balance="100.00")
    for nprice, expected in [("19,95", None), ("1e3", None), ("$19.95", "19.95")]:
        invoice = service.unique()
        fields = {
            "source": "cdfulfill",
            "ordermethod": "url",
            "CoLoginEmail": account.email,
            "CoLoginPassword": account.password,
            "productid": str(account.project_ids[0]),
            "Invoice": invoice,
            "nprice": nprice,
            "name": "Ann Buyer",
            "addr": "1 Main St",
            "city": "Austin",
            "st": "TX",
            "zip": "78701",
        }
        request = urllib.request.Request(
            service.url("/gateway/order"), data=urlencode(fields).encode()
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            reply = response.read().decode()
        stored = service.shell(
            "from pressrun.orders.models import Order; "
            f"print([str(o.customer_price) for o in Order.objects.filter(invoice={invoice!r})])"
        )
        if expected is None:
            assert reply.startswith("[ERRORMSGBEGIN]ERRCODE#000042 [FAILURE] nprice is not valid.")
            assert f"nprice is '{nprice}'" in reply
            assert stored == "[]"
        else:
            assert reply.startswith("[SUCCESS]"), reply
            assert stored == f"['{expected}']"
