"""A local stand-in for Stripe (API, hosted Checkout page, webhooks), for tests.

It speaks Stripe's wire format, so pressrun's real `stripe` library talks to it unchanged:

- `POST /v1/checkout/sessions` — form-encoded with Stripe's nested keys
  (`line_items[0][price_data][unit_amount]=…`), `Authorization: Bearer sk_…`; answers a
  `checkout.session` object (`cs_test_…`, `url`, `amount_total`, `payment_status: unpaid`,
  `status: open`, …).
- `GET /v1/checkout/sessions/{id}` — the session as it is now.
- Errors as Stripe sends them: `{"error": {"type", "message", "param", "code"}}` with 400
  (a missing parameter), 401 (a wrong key) or 404 (`resource_missing`).
- The hosted page `GET /c/pay/{id}` (what the session's `url` points at), and what the
  customer's browser does there: `POST /c/pay/{id}` with `action=pay` marks the session
  complete and paid (a `pi_…` payment), sends the signed `checkout.session.completed`
  event to the webhook URL (a real event envelope, `Stripe-Signature: t=…,v1=…`, HMAC-SHA256
  of `t.body` with the webhook secret), then redirects 303 to `success_url` with
  `{CHECKOUT_SESSION_ID}` filled in; `action=cancel` redirects to `cancel_url`.
- `POST /v1/refunds` (`payment_intent`, optional `amount` in cents: the rest when left out)
  — a `refund` object; the charge's cumulative `amount_refunded` grows and a signed
  `charge.refunded` event carries the charge (`payment_intent`, `amount_refunded`,
  `refunded`, `refunds`). More than is left is Stripe's 400 `charge_already_refunded`.
- Disputes, which in Stripe only a card holder's bank opens, so here only through the
  control endpoints below: a chargeback sends `charge.dispute.created` and
  `charge.dispute.funds_withdrawn` (the dispute object: `charge`, `payment_intent`,
  `amount`, `currency`, `status: needs_response`, `balance_transactions` with the
  withdrawal); an inquiry sends only `charge.dispute.created` with `warning_needs_response`
  and withdraws nothing. Closing it won adds the reinstatement to `balance_transactions`
  and sends `charge.dispute.funds_reinstated` and `charge.dispute.closed` (`won`); lost
  sends `charge.dispute.closed` (`lost`).
- For tests, not in Stripe: `GET /_emulator/events` (every event and each delivery's HTTP
  status), `POST /_emulator/events/{id}/deliver` (send it again, freshly signed, like
  `stripe events resend`), `POST /_emulator/hold-webhooks` with `hold=1|0` (keep events
  back until delivered by hand, to race the return page), `POST /_emulator/sessions/{id}` with
  `amount_total=…` (tamper: make Stripe's record differ from what was asked),
  `POST /_emulator/disputes` with `payment_intent`, optional `amount` and `inquiry=1` (open
  a dispute), `POST /_emulator/disputes/{id}/close` with `outcome=won|lost`.

Run it in a thread (`running()`) or as its own process (`python -m
tests.payments.stripe_emulator --webhook-url … --webhook-secret … --secret-key …`, which
prints `listening on http://127.0.0.1:PORT` once it serves; `start_process()` does that).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

SECRET_KEY = "sk_test_emulator_51Pressrun0000000000000000"
WEBHOOK_SECRET = "whsec_emulator_0123456789abcdef0123456789abcdef"
API_VERSION = "2026-10-28.endive"
_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_stripe_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) → nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node: Any = root
        for part, following in zip(parts, [*parts[1:], None], strict=True):
            container: Any = [] if following is not None and following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if following is None:
                    node[index] = value
                else:
                    node[index] = node[index] if node[index] is not None else container
                    node = node[index]
            elif following is None:
                node[part] = value
            else:
                node = node.setdefault(part, container)
    return root


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """`t=…,v1=…` the way Stripe signs a webhook (written here from Stripe's documented
    scheme, not taken from the library under test)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_envelope(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


class StripeApiError(Exception):
    def __init__(self, status: int, message: str, *, param: str = "", code: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": "invalid_request_error", "message": self.message}
        if self.param:
            error["param"] = self.param
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        return {"error": error}


@dataclass
class Delivery:
    status: int  # the webhook's HTTP status; 0 when it could not be reached
    body: str


@dataclass
class Emulator:
    secret_key: str = SECRET_KEY
    webhook_secret: str = WEBHOOK_SECRET
    webhook_url: str = ""
    base_url: str = ""
    hold_webhooks: bool = False
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by payment intent
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, list[Delivery]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the API ---------------------------------------------------------------------------
    def _authenticate(self, authorization: str) -> None:
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(key, self.secret_key):
            shown = f"{key[:8]}{'*' * 12}{key[-4:]}" if key else ""
            raise StripeApiError(401, f"Invalid API Key provided: {shown}")

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("mode", "success_url"):
            if not params.get(name):
                raise StripeApiError(
                    400, f"Missing required param: {name}.", param=name, code="parameter_missing"
                )
        items = params.get("line_items") or []
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise StripeApiError(
                400,
                "Missing required param: line_items.",
                param="line_items",
                code="parameter_missing",
            )
        total, currency = 0, ""
        for position, item in enumerate(items):
            price = item.get("price_data") or {}
            try:
                unit, quantity = int(price["unit_amount"]), int(item.get("quantity", "1"))
                currency = str(price["currency"]).lower()
                str(price["product_data"]["name"])
            except (KeyError, TypeError, ValueError) as exc:
                raise StripeApiError(
                    400,
                    f"Invalid line_items[{position}][price_data]: {exc}",
                    param=f"line_items[{position}][price_data]",
                    code="parameter_invalid_integer",
                ) from exc
            if unit < 50 and currency == "usd":
                raise StripeApiError(
                    400,
                    "The Checkout Session's total amount due must add up to at least $0.50 usd",
                    param=f"line_items[{position}][price_data][unit_amount]",
                    code="amount_too_small",
                )
            total += unit * quantity
        session_id = f"cs_test_{secrets.token_urlsafe(40).replace('-', 'a').replace('_', 'b')}"
        now = int(time.time())
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": params["mode"],
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"{self.base_url}/c/pay/{session_id}",
        }
        with self.lock:
            self.sessions[session_id] = session
        return session

    def get_session(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            session = self.sessions.get(session_id)
        if session is None:
            raise StripeApiError(
                404,
                f"No such checkout.session: '{session_id}'",
                param="session",
                code="resource_missing",
            )
        return session

    # --- the customer's browser on the hosted page --------------------------------------
    def pay(self, session_id: str) -> str:
        """Mark the session paid, send `checkout.session.completed`; the redirect target."""
        session = self.get_session(session_id)
        with self.lock:
            if session["status"] != "open":
                raise StripeApiError(400, "This Checkout Session is no longer active.")
            intent = _new_id("pi")
            session.update(
                status="complete",
                payment_status="paid",
                payment_intent=intent,
                url=None,
                customer_details={"email": session.get("customer_email"), "name": "Pat Payer"},
            )
            self.charges[intent] = _charge(intent, session["amount_total"], session["currency"])
            event = event_envelope("checkout.session.completed", dict(session))
            self.events[event["id"]] = event
            hold = self.hold_webhooks
        if not hold:
            self.deliver(event["id"])
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)

    def add_event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = event_envelope(event_type, obj)
        with self.lock:
            self.events[event["id"]] = event
        return event

    def _send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Deliver new events at once unless webhooks are held; returns them."""
        with self.lock:
            hold = self.hold_webhooks
        if not hold:
            for event in events:
                self.deliver(event["id"])
        return events

    def _charge_of(self, payment_intent: str) -> dict[str, Any]:
        charge = self.charges.get(payment_intent)
        if charge is None:
            raise StripeApiError(
                404,
                f"No such payment_intent: '{payment_intent}'",
                param="payment_intent",
                code="resource_missing",
            )
        return charge

    def refund(self, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        """Refund `amount` cents of the payment (the rest when None), as `POST /v1/refunds`:
        returns the refund; the `charge.refunded` event is sent (or held)."""
        with self.lock:
            charge = self._charge_of(payment_intent)
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else amount
            if left <= 0:
                raise StripeApiError(
                    400,
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            if not 0 < amount <= left:
                raise StripeApiError(
                    400,
                    f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount "
                    f"on charge (${left / 100:.2f})",
                    param="amount",
                    code="amount_too_large",
                )
            refund = {
                "id": _new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": _new_id("txn"),
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "metadata": {},
                "payment_intent": payment_intent,
                "reason": None,
                "status": "succeeded",
            }
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            refunds = charge["refunds"]
            refunds["data"].insert(0, refund)
            refunds["total_count"] = len(refunds["data"])
            event = event_envelope("charge.refunded", json.loads(json.dumps(charge)))
            self.events[event["id"]] = event
        self._send([event])
        return refund

    def open_dispute(
        self, payment_intent: str, amount: int | None = None, *, inquiry: bool = False
    ) -> dict[str, Any]:
        """The card holder's bank disputes `amount` cents (all when None): a chargeback
        withdraws it at once (`created` and `funds_withdrawn`), an inquiry withdraws nothing
        (`created` only). Returns the dispute."""
        with self.lock:
            charge = self._charge_of(payment_intent)
            amount = charge["amount"] if amount is None else amount
            now = int(time.time())
            dispute: dict[str, Any] = {
                "id": _new_id("du"),
                "object": "dispute",
                "amount": amount,
                "balance_transactions": [],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "evidence_details": {"due_by": now + 7 * 24 * 3600, "has_evidence": False},
                "is_charge_refundable": inquiry,
                "livemode": False,
                "metadata": {},
                "payment_intent": payment_intent,
                "reason": "fraudulent",
                "status": "warning_needs_response" if inquiry else "needs_response",
            }
            if not inquiry:
                dispute["balance_transactions"].append(
                    _balance_transaction(-amount, charge["currency"], "withdrawal", dispute)
                )
            charge["disputed"] = True
            self.disputes[dispute["id"]] = dispute
            types = ["charge.dispute.created"]
            if not inquiry:
                types.append("charge.dispute.funds_withdrawn")
            events = [event_envelope(kind, json.loads(json.dumps(dispute))) for kind in types]
            for event in events:
                self.events[event["id"]] = event
        self._send(events)
        return dispute

    def close_dispute(self, dispute_id: str, *, won: bool) -> list[dict[str, Any]]:
        """The bank decides: won reinstates the funds (`funds_reinstated`, then `closed`),
        lost keeps them withdrawn (`closed`). Returns the events."""
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise StripeApiError(
                    404, f"No such dispute: '{dispute_id}'", code="resource_missing"
                )
            types = []
            if won:
                dispute["status"] = "won"
                dispute["balance_transactions"].append(
                    _balance_transaction(
                        dispute["amount"], dispute["currency"], "reinstatement", dispute
                    )
                )
                types = ["charge.dispute.funds_reinstated", "charge.dispute.closed"]
            else:
                dispute["status"] = "lost"
                types = ["charge.dispute.closed"]
            events = [event_envelope(kind, json.loads(json.dumps(dispute))) for kind in types]
            for event in events:
                self.events[event["id"]] = event
        return self._send(events)

    def deliver(self, event_id: str) -> Delivery:
        """POST the event to the webhook URL, signed now, as Stripe does."""
        with self.lock:
            event = self.events[event_id]
        payload = json.dumps(event, indent=2).encode()
        request = urllib.request.Request(
            self.webhook_url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": signature_header(payload, self.webhook_secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                delivery = Delivery(response.status, response.read().decode(errors="replace"))
        except urllib.error.HTTPError as exc:
            delivery = Delivery(exc.code, exc.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError) as exc:
            delivery = Delivery(0, str(exc))
        with self.lock:
            self.deliveries.setdefault(event_id, []).append(delivery)
        return delivery


def _charge(payment_intent: str, amount: int, currency: str) -> dict[str, Any]:
    """The charge a paid Checkout Session's payment made (the fields pressrun and a reader
    of the events would look at)."""
    return {
        "id": _new_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "balance_transaction": _new_id("txn"),
        "captured": True,
        "created": int(time.time()),
        "currency": currency,
        "disputed": False,
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0},
        "status": "succeeded",
    }


def _balance_transaction(
    amount: int, currency: str, what: str, dispute: dict[str, Any]
) -> dict[str, Any]:
    """A dispute's balance transaction: the withdrawal (negative) or reinstatement."""
    return {
        "id": _new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "created": int(time.time()),
        "currency": currency,
        "description": f"Chargeback {what} for {dispute['charge']}",
        "fee": 1500 if amount < 0 else 0,
        "net": amount - 1500 if amount < 0 else amount,
        "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
        "source": dispute["id"],
        "status": "pending",
        "type": "adjustment",
    }


def _page(session: dict[str, Any]) -> str:
    amount = f"${session['amount_total'] / 100:,.2f}"
    sid = html.escape(session["id"])
    return (
        "<!doctype html><title>Stripe Checkout (emulator)</title>"
        f"<h1>Pay {amount} {html.escape(session['currency'].upper())}</h1>"
        f'<form method="post" action="/c/pay/{sid}"><button name="action" value="pay">Pay'
        f'</button> <button name="action" value="cancel">Back</button></form>'
    )


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _send(self, status: int, body: Any, *, location: str = "") -> None:
        if location:
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        is_html = isinstance(body, str)
        data = body.encode() if is_html else json.dumps(body).encode()
        self.send_response(status)
        content_type = "text/html; charset=utf-8" if is_html else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if not is_html:
            self.send_header("Request-Id", _new_id("req"))
            self.send_header("Stripe-Version", API_VERSION)
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def _route(self, method: str) -> None:
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        body = self._form() if method == "POST" else urlsplit(self.path).query
        try:
            if path.startswith("/v1/"):
                emulator._authenticate(self.headers.get("Authorization", ""))
                params = parse_stripe_form(body)
                with emulator.lock:
                    emulator.requests.append((method, path, params))
                if method == "POST" and path == "/v1/checkout/sessions":
                    self._send(200, emulator.create_session(params))
                    return
                match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path)
                if method == "GET" and match:
                    self._send(200, emulator.get_session(match[1]))
                    return
                if method == "POST" and path == "/v1/refunds":
                    amount = str(params.get("amount") or "")
                    if amount and not amount.isdigit():
                        raise StripeApiError(
                            400,
                            "Invalid integer: " + amount,
                            param="amount",
                            code="parameter_invalid_integer",
                        )
                    refund = emulator.refund(
                        str(params.get("payment_intent") or ""), int(amount) if amount else None
                    )
                    self._send(200, refund)
                    return
                raise StripeApiError(404, f"Unrecognized request URL ({method}: {path}).")
            match = re.fullmatch(r"/c/pay/([^/]+)", path)
            if match and method == "GET":
                self._send(200, _page(emulator.get_session(match[1])))
                return
            if match and method == "POST":
                action = dict(parse_qsl(body)).get("action", "pay")
                if action == "cancel":
                    target = str(emulator.get_session(match[1])["cancel_url"])
                else:
                    target = emulator.pay(match[1])
                self._send(303, None, location=target)
                return
            self._control(method, path, body)
        except StripeApiError as exc:
            self._send(exc.status, exc.body())

    def _control(self, method: str, path: str, body: str) -> None:
        emulator = self.server.emulator
        form = dict(parse_qsl(body))
        if method == "GET" and path == "/_emulator/events":
            with emulator.lock:
                listing = [
                    {
                        "event": event,
                        "deliveries": [d.status for d in emulator.deliveries.get(event_id, [])],
                    }
                    for event_id, event in emulator.events.items()
                ]
            self._send(200, {"data": listing})
            return
        match = re.fullmatch(r"/_emulator/events/([^/]+)/deliver", path)
        if method == "POST" and match:
            delivery = emulator.deliver(match[1])
            self._send(200, {"status": delivery.status, "body": delivery.body})
            return
        if method == "POST" and path == "/_emulator/hold-webhooks":
            with emulator.lock:
                emulator.hold_webhooks = form.get("hold") == "1"
            self._send(200, {"hold": emulator.hold_webhooks})
            return
        if method == "POST" and path == "/_emulator/disputes":
            amount = form.get("amount")
            dispute = emulator.open_dispute(
                form.get("payment_intent", ""),
                int(amount) if amount else None,
                inquiry=form.get("inquiry") == "1",
            )
            self._send(200, dispute)
            return
        match = re.fullmatch(r"/_emulator/disputes/([^/]+)/close", path)
        if method == "POST" and match:
            events = emulator.close_dispute(match[1], won=form.get("outcome") == "won")
            self._send(200, {"events": [event["id"] for event in events]})
            return
        match = re.fullmatch(r"/_emulator/sessions/([^/]+)", path)
        if method == "POST" and match:
            session = emulator.get_session(match[1])
            with emulator.lock:
                session["amount_total"] = int(form["amount_total"])
            self._send(200, session)
            return
        raise StripeApiError(404, f"Unrecognized request URL ({method}: {path}).")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: Emulator


@contextmanager
def running(emulator: Emulator | None = None) -> Iterator[Emulator]:
    """Serve `emulator` in a thread of this process on a free local port."""
    emulator = emulator or Emulator()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.emulator = emulator
    emulator.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield emulator
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class EmulatorProcess:
    """The emulator as its own process (for the end-to-end tests); talk to it over HTTP."""

    process: subprocess.Popen[str]
    base_url: str
    secret_key: str
    webhook_secret: str

    def call(self, method: str, path: str, form: dict[str, str] | None = None) -> Any:
        data = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def refund(self, payment_intent: str, amount: int | None = None) -> Any:
        """`POST /v1/refunds` with the secret key, as Stripe's dashboard or API would."""
        form = {"payment_intent": payment_intent}
        if amount is not None:
            form["amount"] = str(amount)
        request = urllib.request.Request(
            self.base_url + "/v1/refunds",
            data=urlencode(form).encode(),
            headers={"Authorization": f"Bearer {self.secret_key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_process(*, webhook_url: str) -> EmulatorProcess:
    """Start `python -m tests.payments.stripe_emulator` and wait until it serves."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.payments.stripe_emulator",
            "--webhook-url",
            webhook_url,
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the first line says where it listens
    match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
    if match is None:
        process.kill()
        raise RuntimeError(f"the Stripe emulator did not start: {line!r}")
    return EmulatorProcess(process, match[1], SECRET_KEY, WEBHOOK_SECRET)


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Stripe emulator for tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--secret-key", default=SECRET_KEY)
    parser.add_argument("--webhook-secret", default=WEBHOOK_SECRET)
    args = parser.parse_args()
    emulator = Emulator(
        secret_key=args.secret_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url,
    )
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.emulator = emulator
    emulator.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"listening on {emulator.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
