"""The address check's background work: one order's check, and the periodic address sweep
(checks that were missed, reminders of address errors nobody fixed)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django_tasks import task

from pressrun.core.tasks import ids_without_pending_run, schedule_periodic
from pressrun.fulfillment.address.selectors import orders_awaiting_check
from pressrun.fulfillment.address.services import (
    address_check_order,
    address_error_reminders_send,
)

logger = logging.getLogger(__name__)

# At most this many missed checks are queued by one sweep (the next sweep takes the rest).
SWEEP_CHECKS = 500


def address_sweep_interval() -> timedelta:
    """How often the address sweep runs (PRESSRUN_ADDRESS_SWEEP_SECONDS, default 600)."""
    return timedelta(seconds=settings.ADDRESS_SWEEP_SECONDS)


@task()
def check_order_address(*, order_id: int) -> str:
    """Check one order's address (`address_check_order`); safe to run twice. Returns what
    happened ("passed", "flagged", or why nothing was done)."""
    return address_check_order(order_id=order_id)


def queue_missed_checks() -> int:
    """Queue the check of every order that awaits one and has none queued or running (a
    lost task, an order paid before checks existed); returns how many were queued."""
    # The orders first, then the queue (a paid order and its check task commit together).
    awaiting = list(orders_awaiting_check().values_list("id", flat=True)[:SWEEP_CHECKS])
    missed = ids_without_pending_run(check_order_address, "order_id", awaiting, few=False)
    for order_id in missed:
        check_order_address.enqueue(order_id=order_id)
    return len(missed)


@task()
def address_sweep() -> dict[str, int]:
    """The periodic address sweep: queue missed checks, send the reminders that are due,
    then schedule the next run. Idempotent."""
    try:
        return {
            "checks_queued": queue_missed_checks(),
            "reminders_sent": address_error_reminders_send(),
        }
    finally:
        schedule_periodic(address_sweep, interval=address_sweep_interval())
