"""Background work helpers: retry with backoff, recovery of abandoned tasks, housekeeping.

The tasks framework (django-tasks, Django 6's `django.tasks`) runs a task once and records
the outcome; it has no retries. Tasks here take ids, are safe to run twice, and call
`enqueue_retry` for failures that may pass.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

from pressrun.core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = timedelta(hours=1)


def backoff_seconds(attempt: int, *, base: float = 10.0, cap: float = 3600.0) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to `base`, then doubling."""
    ceiling = float(min(cap, base * (2 ** max(attempt - 1, 0))))
    jitter: float = random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrecy
    return ceiling / 2 + jitter


def enqueue_retry(
    task_to_retry: Task[Any, Any],
    *,
    attempt: int,
    max_attempts: int,
    kwargs: dict[str, Any],
    base_seconds: float = 10.0,
) -> bool:
    """Enqueue attempt `attempt + 1` of `task_to_retry` after a backoff delay.

    The task must accept an `attempt` keyword. Returns False (and enqueues nothing) when
    `attempt` was the last allowed one, so the caller can record the final failure.
    """
    if attempt >= max_attempts:
        return False
    delay = backoff_seconds(attempt, base=base_seconds)
    task_to_retry.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
        **kwargs, attempt=attempt + 1
    )
    logger.info("retrying %s (attempt %d) in %.0f s", task_to_retry.name, attempt + 1, delay)
    return True


def requeue_abandoned_tasks() -> int:
    """Put back in the queue every RUNNING task whose worker has stopped sending heartbeats.

    Returns how many were requeued. Safe to call from several workers at once.
    """
    dead_before = timezone.now() - timedelta(seconds=settings.WORKER_DEAD_AFTER_SECONDS)
    alive = set(
        WorkerHeartbeat.objects.filter(last_seen__gte=dead_before).values_list(
            "worker_id", flat=True
        )
    )
    requeued = 0
    with transaction.atomic():
        for result in DBTaskResult.objects.select_for_update().filter(
            status=TaskResultStatus.RUNNING
        ):
            worker_ids = result.worker_ids or []
            if worker_ids and worker_ids[-1] in alive:
                continue
            result.status = TaskResultStatus.READY
            result.started_at = None
            result.save(update_fields=["status", "started_at"])
            requeued += 1
            logger.warning(
                "requeued task %s (%s) left running by worker %s",
                result.id,
                result.task_path,
                worker_ids[-1] if worker_ids else "?",
            )
    WorkerHeartbeat.objects.filter(last_seen__lt=dead_before - timedelta(days=1)).delete()
    return requeued


@task()
def housekeeping() -> dict[str, int]:
    """Delete records nothing needs any more, then schedule the next run."""
    from pressrun.accounts.models import LoginFailure
    from pressrun.billing.models import StatusCall
    from pressrun.carts.housekeeping import cart_housekeeping

    now = timezone.now()
    deleted = {
        "login_failures": LoginFailure.objects.filter(
            at__lt=now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        ).delete()[0],
        "status_calls": StatusCall.objects.filter(at__lt=now - timedelta(days=7)).delete()[0],
        "finished_tasks": DBTaskResult.objects.filter(
            status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED],
            finished_at__lt=now - timedelta(days=14),
        ).delete()[0],
        **cart_housekeeping(now=now),
    }
    schedule_housekeeping()
    return deleted


def schedule_housekeeping() -> None:
    """Make sure exactly one future run of each periodic task is queued: housekeeping, and
    the carts' sweep for deliveries left pending with no task. The worker calls this at
    start; each periodic task schedules its own next run."""
    from pressrun.carts.tasks import STALE_DELIVERY_SWEEP_INTERVAL, requeue_stale_deliveries

    schedule_periodic(housekeeping, interval=HOUSEKEEPING_INTERVAL)
    schedule_periodic(requeue_stale_deliveries, interval=STALE_DELIVERY_SWEEP_INTERVAL)


def schedule_periodic(task_to_schedule: Task[[], Any], *, interval: timedelta) -> None:
    """Queue a run of the argument-less `task_to_schedule` `interval` from now, unless one is
    already queued (so each periodic task keeps exactly one future run)."""
    pending = DBTaskResult.objects.filter(
        task_path=task_to_schedule.module_path, status=TaskResultStatus.READY
    ).exists()
    if not pending:
        task_to_schedule.using(run_after=timezone.now() + interval).enqueue()
