"""Background work for webhooks: one attempt of a delivery, and the sweep that queues again
the deliveries nothing would send. Both take ids and are safe to run twice (an attempt
claims its row first)."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from pressrun.core.tasks import schedule_periodic
from pressrun.webhooks.services import webhook_delivery_attempt, webhooks_requeue_stranded

WEBHOOK_SWEEP_INTERVAL = timedelta(seconds=30)


@task()
def webhook_deliver(*, delivery_id: int) -> str:
    """Attempt the delivery if it is due (`webhook_delivery_attempt`); its retries are queued
    by the attempt itself, in the transaction that records it."""
    return webhook_delivery_attempt(delivery_id=delivery_id)


@task()
def requeue_stranded_webhooks() -> int:
    """The webhook sweep (`webhooks_requeue_stranded`), then schedule the next run.
    Registered in `WebhooksConfig.ready()`; `pressrun worker` starts it."""
    try:
        return webhooks_requeue_stranded()
    finally:
        schedule_periodic(requeue_stranded_webhooks, interval=WEBHOOK_SWEEP_INTERVAL)
