"""Stripe: the only code that talks to Stripe's API or reads its webhooks.

Everything goes through the `stripe` library (`StripeClient`, pointed at
`PRESSRUN_STRIPE_API_BASE`, so the tests run it against a local emulator that speaks
Stripe's wire format). Results are plain dicts in Stripe's own shape; failures are
`StripeUnavailable` (Stripe refused or could not be reached) or `WebhookInvalid`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings

from pressrun.core.errors import DomainError

# Stripe's own timeout is 80 s; a publisher waits on this call, so fail sooner.
TIMEOUT_SECONDS = 15
NETWORK_RETRIES = 2  # the library retries safely: it sends an idempotency key with POSTs


class StripeUnavailable(DomainError):
    """Stripe refused the request or did not answer; the message is for the publisher."""


class WebhookInvalid(DomainError):
    """A webhook request that is not a correctly signed Stripe event."""


def is_configured() -> bool:
    """Online payment needs both the API key and the webhook signing secret: without the
    secret no payment could ever be confirmed by Stripe's webhook."""
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def cents(amount: Decimal) -> int:
    """Dollars to Stripe's smallest currency unit."""
    return int((amount * 100).to_integral_exact())


def _unavailable(exc: stripe.StripeError) -> StripeUnavailable:
    return StripeUnavailable(
        "The card payment service could not be reached or refused the request "
        f"({type(exc).__name__}: {exc.user_message or str(exc)[:200]}). Nothing was charged; "
        "try again in a few minutes."
    )


def checkout_session_create(
    *,
    checkout_id: int,
    publisher_id: int,
    email: str,
    amount: Decimal,
    currency: str,
    description: str,
    success_url: str,
    cancel_url: str,
) -> dict[str, Any]:
    """Create a Checkout Session (mode=payment) collecting `amount` for one line; returns the
    session (its `id` and hosted page `url`). `client_reference_id` and metadata name our
    checkout, but we never credit from them alone."""
    try:
        session = _client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": currency,
                            "unit_amount": cents(amount),
                            "product_data": {"name": description},
                        },
                    }
                ],
                "client_reference_id": str(checkout_id),
                "metadata": {
                    "pressrun_checkout": str(checkout_id),
                    "pressrun_publisher": str(publisher_id),
                },
                "customer_email": email,
                "success_url": success_url,
                "cancel_url": cancel_url,
            }
        )
    except stripe.StripeError as exc:
        raise _unavailable(exc) from exc
    return session.to_dict()


def checkout_session_retrieve(session_id: str) -> dict[str, Any]:
    """The session as Stripe has it now (for the return page: never trust the URL)."""
    try:
        return _client().v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.StripeError as exc:
        raise _unavailable(exc) from exc


def webhook_event(*, payload: bytes, signature: str) -> dict[str, Any]:
    """The event in a webhook request, verified with the library against
    PRESSRUN_STRIPE_WEBHOOK_SECRET (`Stripe-Signature: t=…,v1=…`, an HMAC-SHA256 of the exact
    body compared in constant time, timestamp within five minutes). Raises WebhookInvalid
    for a missing or wrong signature or a body that is not a Stripe event."""
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, stripe.Webhook.DEFAULT_TOLERANCE
        )
        data = json.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise WebhookInvalid(f"Signature not verified: {str(exc)[:200]}") from exc
    except ValueError as exc:  # not UTF-8, or not JSON
        raise WebhookInvalid("The body is not a Stripe event (JSON).") from exc
    if (
        not isinstance(data, dict)
        or data.get("object") != "event"
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("type"), str)
    ):
        raise WebhookInvalid("The body is not a Stripe event.")
    return data
