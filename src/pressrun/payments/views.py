"""Stripe's webhook endpoint: verify, store once, act, answer (docs/payments.md).

Answers 200 `{"received": true}` for every verified event (a repeat included, and types we
do not use), 400 for a request that is not a correctly signed Stripe event (nothing is
written), 503 while online payment is not configured or the database is unavailable, so
that Stripe retries later."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pressrun.core.request_hygiene import RequestRefusal, refusals_answered_by
from pressrun.payments import client
from pressrun.payments.services import stripe_event_receive

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"message": message}}, status=status)


def _refused(request: HttpRequest, refusal: RequestRefusal) -> JsonResponse:
    """A request refused before it was read (its charset or body length): Stripe's own error
    shape, nothing written."""
    return _error(refusal.status, refusal.message)


@refusals_answered_by(_refused)
@csrf_exempt  # Stripe cannot send our CSRF token; the signature authenticates the request
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if not client.is_configured():
        return _error(503, "Online payment is not configured on this installation.")
    try:
        payload = request.body
    except RequestDataTooBig:
        return _error(413, "The body is too large for a Stripe event.")
    try:
        event = stripe_event_receive(
            payload=payload, signature=request.headers.get("Stripe-Signature", "")
        )
    except client.WebhookInvalid as exc:
        logger.warning("Stripe webhook refused: %s", exc.message)
        return _error(400, exc.message)
    except DatabaseError:
        logger.exception("Stripe webhook not stored; Stripe will retry it")
        return _error(503, "Temporarily unavailable; retry.")
    return JsonResponse({"received": True, "outcome": event.outcome})
