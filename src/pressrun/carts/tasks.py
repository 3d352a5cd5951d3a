"""Background processing of cart deliveries. Tasks take ids and are safe to run twice."""

from __future__ import annotations

import logging

from django.db import OperationalError
from django_tasks import task

from pressrun.core.tasks import enqueue_retry

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


@task()
def process_delivery(delivery_id: int, attempt: int = 1) -> str:
    """Process one delivery (see `delivery_process`); returns its outcome.

    Transient database errors are retried with backoff; the delivery stays pending until an
    attempt succeeds, and after the last one it is marked failed.
    """
    from pressrun.carts.models import InboundDelivery, Outcome
    from pressrun.carts.services import delivery_process

    try:
        return str(delivery_process(delivery_id=delivery_id).outcome)
    except OperationalError:
        logger.warning("delivery %s: database error (attempt %d)", delivery_id, attempt)
        if enqueue_retry(
            process_delivery,
            attempt=attempt,
            max_attempts=MAX_ATTEMPTS,
            kwargs={"delivery_id": delivery_id},
        ):
            return "retrying"
        InboundDelivery.objects.filter(id=delivery_id, outcome=Outcome.PENDING).update(
            outcome=Outcome.FAILED, reason="Database unavailable; replay it from the admin."
        )
        return str(Outcome.FAILED)
