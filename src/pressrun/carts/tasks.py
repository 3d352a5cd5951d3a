"""Background processing of cart deliveries. Tasks take ids and are safe to run twice."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import OperationalError
from django_tasks import task

from pressrun.carts.errors import CartTemporarilyUnavailable
from pressrun.core.tasks import enqueue_retry

logger = logging.getLogger(__name__)


@task()
def process_delivery(delivery_id: int, attempt: int = 1) -> str:
    """Process one delivery (see `delivery_process`); returns its outcome.

    Transient failures (the database, or a cart's API being unreachable) are retried with
    backoff (settings CART_RETRY_ATTEMPTS, CART_RETRY_BASE_SECONDS); the delivery stays
    pending until an attempt succeeds, and after the last one it is marked failed.
    """
    from pressrun.carts.services import delivery_give_up, delivery_note_retry, delivery_process

    try:
        return str(delivery_process(delivery_id=delivery_id).outcome)
    except OperationalError as exc:
        logger.warning("delivery %s: database error (attempt %d)", delivery_id, attempt)
        problem = f"Database unavailable ({exc})."
        transient = False
    except CartTemporarilyUnavailable as exc:
        logger.warning("delivery %s: %s (attempt %d)", delivery_id, exc, attempt)
        problem = str(exc)
        transient = True
    if enqueue_retry(
        process_delivery,
        attempt=attempt,
        max_attempts=settings.CART_RETRY_ATTEMPTS,
        kwargs={"delivery_id": delivery_id},
        base_seconds=settings.CART_RETRY_BASE_SECONDS,
    ):
        if transient:
            delivery_note_retry(delivery_id=delivery_id, problem=problem, attempt=attempt)
        return "retrying"
    return str(delivery_give_up(delivery_id=delivery_id, problem=problem, attempts=attempt))
