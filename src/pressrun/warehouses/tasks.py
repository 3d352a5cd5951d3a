"""Background work of the push protocol: one attempt of a push, and the sweep that queues
what nothing would send. Both take ids (or nothing) and are safe to run twice (an attempt
claims its row first)."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from pressrun.core.tasks import schedule_periodic
from pressrun.warehouses.push import warehouse_push_attempt, warehouse_pushes_sweep

WAREHOUSE_PUSH_SWEEP_INTERVAL = timedelta(seconds=30)


@task()
def warehouse_push_send(*, push_id: int) -> str:
    """Attempt the push if it is due (`warehouse_push_attempt`); its retries are queued by
    the attempt itself, in the transaction that records it."""
    return warehouse_push_attempt(push_id=push_id)


@task()
def sweep_warehouse_pushes() -> int:
    """The push sweep (`warehouse_pushes_sweep`), then schedule the next run. Registered in
    `WarehousesConfig.ready()`; `pressrun worker` starts it."""
    try:
        return warehouse_pushes_sweep()
    finally:
        schedule_periodic(sweep_warehouse_pushes, interval=WAREHOUSE_PUSH_SWEEP_INTERVAL)
