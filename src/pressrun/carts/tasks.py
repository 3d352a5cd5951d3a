"""Background processing of cart deliveries. Tasks take ids and are safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError
from django_tasks import task

from pressrun.carts.errors import CartTemporarilyUnavailable
from pressrun.core.tasks import enqueue_retry, schedule_periodic

logger = logging.getLogger(__name__)

STALE_DELIVERY_SWEEP_INTERVAL = timedelta(minutes=5)
STRANDED_POSTBACK_SWEEP_INTERVAL = timedelta(minutes=5)


@task()
def process_delivery(delivery_id: int, attempt: int = 1) -> str:
    """Process one delivery (see `delivery_process`); returns its outcome.

    Transient failures (the database, or a cart's API being unreachable) are retried with
    backoff (settings CART_RETRY_ATTEMPTS, CART_RETRY_BASE_SECONDS); the delivery stays
    pending until an attempt succeeds, and after the last one it is marked failed. Any other
    exception is logged with its traceback and retried the same way, the delivery marked
    failed meanwhile with the error in its reason (`delivery_fail_unexpectedly`), so it never
    stays pending with nothing left to process it.
    """
    from pressrun.carts.services import (
        delivery_fail_unexpectedly,
        delivery_give_up,
        delivery_note_retry,
        delivery_process,
        delivery_reopen_for_retry,
    )

    try:
        if attempt > 1:
            delivery_reopen_for_retry(delivery_id=delivery_id)
        return str(delivery_process(delivery_id=delivery_id).outcome)
    except OperationalError as exc:
        logger.warning("delivery %s: database error (attempt %d)", delivery_id, attempt)
        problem = f"Database unavailable ({exc})."
        transient = False
    except CartTemporarilyUnavailable as exc:
        logger.warning("delivery %s: %s (attempt %d)", delivery_id, exc, attempt)
        problem = str(exc)
        transient = True
    except Exception as exc:
        logger.exception("delivery %s: unexpected error (attempt %d)", delivery_id, attempt)
        return delivery_fail_unexpectedly(delivery_id=delivery_id, error=exc, attempt=attempt)
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


@task()
def requeue_stale_deliveries() -> int:
    """Queue again the pending deliveries nothing will process (`deliveries_requeue_stale`),
    then schedule the next run; returns how many were queued. Started by the worker with the
    other periodic tasks (registered in `CartsConfig.ready()`)."""
    from pressrun.carts.services import deliveries_requeue_stale

    try:
        return deliveries_requeue_stale()
    finally:
        # Even after an error, so one bad run does not end the sweeps.
        schedule_periodic(requeue_stale_deliveries, interval=STALE_DELIVERY_SWEEP_INTERVAL)


@task()
def postback_send(postback_id: int, attempt: int = 1) -> str:
    """Send an order's shipment to its cart (carts/postback.py: `postback_attempt`); returns
    the post-back's state. Retries are queued by the attempt itself, with backoff or the
    cart's Retry-After, in the transaction that records them. Safe to run twice: a finished
    post-back is left alone, and Shopify is asked what it already has before anything is
    created."""
    from pressrun.carts.postback import postback_attempt

    return postback_attempt(postback_id=postback_id, attempt=attempt).state


@task()
def requeue_stranded_postbacks() -> int:
    """Queue again the post-backs nothing will send (`postbacks_requeue_stranded`), then
    schedule the next run; returns how many were queued. Started by the worker with the other
    periodic tasks (registered in `CartsConfig.ready()`)."""
    from pressrun.carts.postback import postbacks_requeue_stranded

    try:
        return postbacks_requeue_stranded()
    finally:
        schedule_periodic(requeue_stranded_postbacks, interval=STRANDED_POSTBACK_SWEEP_INTERVAL)


@task()
def stock_sync(publisher_id: int, changed_only: bool = False, attempt: int = 1) -> str:
    """Set the publisher's warehouse stock in Shopify (carts/stock_sync.py:
    `stock_sync_run`); returns the run's state. Retries are queued by the run itself."""
    from pressrun.carts.stock_sync import stock_sync_run

    return stock_sync_run(
        publisher_id=publisher_id, changed_only=changed_only, attempt=attempt
    ).state


def stock_sync_interval() -> timedelta:
    """How often every publisher's stock is synced in full (PRESSRUN_STOCK_SYNC_SECONDS)."""
    return timedelta(seconds=settings.STOCK_SYNC_SECONDS)


@task()
def stock_sync_sweep() -> int:
    """Queue a full stock sync of every publisher whose sync is on, then schedule the next
    run; returns how many were queued (registered in `CartsConfig.ready()`)."""
    from pressrun.carts.stock_sync import stock_sync_sweep as sweep

    try:
        return sweep()
    finally:
        schedule_periodic(stock_sync_sweep, interval=stock_sync_interval())
