"""The fulfillment's background work: the postage window's periodic task."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django_tasks import task

from pressrun.core.tasks import schedule_periodic
from pressrun.fulfillment.services import fulfillment_close_postage_windows


def postage_window_sweep_interval() -> timedelta:
    """How often the window task runs (PRESSRUN_POSTAGE_WINDOW_SWEEP_SECONDS, default 60)."""
    return timedelta(seconds=settings.POSTAGE_WINDOW_SWEEP_SECONDS)


@task()
def close_postage_windows() -> int:
    """Move the waiting orders whose postage window has ended to ready (each through
    `fulfillment_move`, so each gets its history event and `OrderReady`), then schedule the
    next run. Returns how many moved. Idempotent: a second run finds nothing to do."""
    try:
        return fulfillment_close_postage_windows()
    finally:
        schedule_periodic(close_postage_windows, interval=postage_window_sweep_interval())
