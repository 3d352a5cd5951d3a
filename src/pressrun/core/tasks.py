"""Background work helpers: retry with backoff, recovery of abandoned tasks, the registry of
periodic tasks (each app's sweeps) and housekeeping.

The tasks framework (django-tasks, Django 6's `django.tasks`) runs a task once and records
the outcome; it has no retries. Tasks here take ids, are safe to run twice, and call
`enqueue_retry` for failures that may pass.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task, task_backends
from django_tasks.base import Task
from django_tasks_db.backend import DatabaseBackend as StockDatabaseBackend
from django_tasks_db.models import DBTaskResult

from pressrun.core.locks import lock_names
from pressrun.core.models import WorkerHeartbeat
from pressrun.core.selectors import live_workers

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
    now = timezone.now()
    alive = set(live_workers(now=now).values_list("worker_id", flat=True))
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
    dead_before = now - timedelta(seconds=settings.WORKER_DEAD_AFTER_SECONDS)
    WorkerHeartbeat.objects.filter(last_seen__lt=dead_before - timedelta(days=1)).delete()
    return requeued


# --- which `pressrun worker` this process is -----------------------------------------------

_current_worker_id = ""


def worker_identify(worker_id: str) -> None:
    """Record that this process is the `pressrun worker` with `worker_id` (its heartbeat's
    key). Called once by the worker command before it runs any task."""
    global _current_worker_id  # noqa: PLW0603 - one identity per process, set at start
    _current_worker_id = worker_id


def current_worker_id() -> str:
    """The id of the `pressrun worker` this process is, or "" in any other process (the web
    server, a shell, a test running tasks inline). Work that claims a row for as long as it
    runs (an email being sent) records this id, so the claim lives exactly as long as the
    worker's heartbeat (`core.selectors.live_workers`)."""
    return _current_worker_id


# --- periodic tasks and housekeeping: registered by the apps -------------------------------
#
# `core` imports no app (docs/architecture.md), yet the worker must start every app's
# periodic sweep and housekeeping must delete every app's expired rows. So each app
# registers its own in its `AppConfig.ready()`, the way `notifications` subscribes to the
# domain events: core keeps the lists and runs them, and knows nothing of what is in them.


@dataclass(frozen=True)
class PeriodicTask:
    """An argument-less task that keeps one future run of itself queued, `interval` apart."""

    task: Task[[], Any]
    interval: timedelta


class DeleteExpired(Protocol):
    """Deletes an app's rows that nothing needs any more as of `now`; returns how many."""

    def __call__(self, *, now: datetime) -> int: ...


class Relay(Protocol):
    """Hands up to a batch of rows a lower layer wrote to the layers above, in one
    transaction with marking them handed; returns how many it handed (0: nothing waits)."""

    def __call__(self) -> int: ...


_periodic_tasks: dict[str, PeriodicTask] = {}
_housekeeping: dict[str, DeleteExpired] = {}
_relays: dict[str, Relay] = {}


def register_periodic_task(task_to_run: Task[[], Any], *, interval: timedelta) -> None:
    """Have every worker start make sure one run of `task_to_run` is queued, `interval` from
    then (`schedule_periodic_tasks`). The task itself must end by scheduling its next run
    (`schedule_periodic` with the same interval, in a `finally`, so one failed run does not
    end the series). Registering the same task again replaces its interval (an app's
    `ready()` may run more than once in tests)."""
    _periodic_tasks[task_to_run.module_path] = PeriodicTask(task_to_run, interval)


def periodic_tasks() -> tuple[PeriodicTask, ...]:
    """The registered periodic tasks, in registration order."""
    return tuple(_periodic_tasks.values())


def register_housekeeping(name: str, delete_expired: DeleteExpired) -> None:
    """Have the hourly housekeeping call `delete_expired(now=...)`, which deletes the rows
    nothing needs any more and returns how many; `name` labels the count in the task's
    result. Registering a name again replaces its function."""
    _housekeeping[name] = delete_expired


def register_relay(name: str, relay: Relay) -> None:
    """Have every `pressrun worker` call `relay()` between its tasks (before a claim while
    it hands something or the queue is empty; otherwise a few times a second), and keep
    calling it while it hands something (an outbox that is not a task row: intake's placed
    events, `orders.relay`). Registering a name again replaces its function."""
    _relays[name] = relay


def relays_run() -> int:
    """Call every registered relay once; returns how many rows they handed in all."""
    return sum(relay() for relay in _relays.values())


def relays_run_where_no_worker() -> None:
    """For a write whose rows a relay hands on, after it: where no `pressrun worker` drains
    the tasks (a backend that runs each task as it is enqueued, or keeps it in memory: a
    development setting, the tests), nothing else would call the relays, so run them now,
    until they have nothing left, as that backend runs a task the moment it is queued. With
    a database backend, the default, this does nothing: the workers relay."""
    if isinstance(task_backends["default"], StockDatabaseBackend):
        return
    try:
        while relays_run():
            pass
    except Exception:
        # The write it follows is done and must be answered as done; its rows wait for the
        # next write's call.
        logger.exception("A relay failed after a write; its rows wait for the next one")


@task()
def housekeeping() -> dict[str, int]:
    """Delete records nothing needs any more, then schedule the next run: every app's
    registered deletions, finished task records after 14 days, and finished runs of the
    periodic tasks (one every few seconds for the email sweep) after a day."""
    now = timezone.now()
    finished = [TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]
    try:
        deleted = {name: delete_expired(now=now) for name, delete_expired in _housekeeping.items()}
        deleted["finished_periodic_runs"] = DBTaskResult.objects.filter(
            task_path__in=list(_periodic_tasks),
            status__in=finished,
            finished_at__lt=now - timedelta(days=1),
        ).delete()[0]
        deleted["finished_tasks"] = DBTaskResult.objects.filter(
            status__in=finished, finished_at__lt=now - timedelta(days=14)
        ).delete()[0]
    finally:
        schedule_periodic(housekeeping, interval=HOUSEKEEPING_INTERVAL)
    return deleted


def schedule_periodic_tasks() -> None:
    """Make sure exactly one future run of each registered periodic task is queued
    (housekeeping, the carts' and the emails' sweeps...). The worker calls this at start;
    each periodic task schedules its own next run."""
    for periodic in periodic_tasks():
        schedule_periodic(periodic.task, interval=periodic.interval)


def schedule_periodic(task_to_schedule: Task[[], Any], *, interval: timedelta) -> None:
    """Queue a run of the argument-less `task_to_schedule` `interval` from now, unless one is
    already queued (so each periodic task keeps exactly one future run).

    The check and the insert happen under a lock on the task's name: several workers start at
    once (a deploy restarts them all, on every machine) and each schedules every periodic
    task, and a run finishing on one worker schedules its successor while another starts."""
    with transaction.atomic():
        lock_names(f"periodic-task:{task_to_schedule.module_path}")
        pending = DBTaskResult.objects.filter(
            task_path=task_to_schedule.module_path, status=TaskResultStatus.READY
        ).exists()
        if not pending:
            task_to_schedule.using(run_after=timezone.now() + interval).enqueue()


def has_pending_run(task_to_find: Task[Any, Any], **kwargs: Any) -> bool:
    """Whether a run of `task_to_find` with these keyword arguments is queued (a scheduled
    retry included) or running. Compares JSON values, so pass ints and strings as the task
    was enqueued with them."""
    runs = DBTaskResult.objects.filter(
        task_path=task_to_find.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    )
    for name, value in kwargs.items():
        runs = runs.filter(**{f"args_kwargs__kwargs__{name}": value})
    return runs.exists()


def pending_runs_kwarg(task_to_find: Task[Any, Any], name: str) -> set[Any]:
    """The values of keyword argument `name` among the runs of `task_to_find` that are
    queued (a scheduled retry included) or running: which ids have work coming. Read in
    Python rather than through a JSON lookup per id; sweeps call it once per run."""
    runs = DBTaskResult.objects.filter(
        task_path=task_to_find.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True)
    return {
        args_kwargs.get("kwargs", {}).get(name)
        for args_kwargs in runs
        if isinstance(args_kwargs, dict)
    }


def ids_without_pending_run(
    task_to_find: Task[Any, Any], name: str, candidates: list[Any], *, few: bool
) -> list[Any]:
    """The `candidates` (values of keyword argument `name`, in their order) with no run of
    `task_to_find` queued (a scheduled retry included) or running: the rows nothing will
    work on unless they are queued again. `few`: the candidates are a handful of ids named
    by the caller (a task run again), looked up one by one rather than by reading every
    queued run. Read the candidate rows before calling: a row and its task are written in
    one transaction, so a row whose task is not seen afterwards has really lost it."""
    if not candidates:
        return []
    if few:
        return [value for value in candidates if not has_pending_run(task_to_find, **{name: value})]
    with_run = pending_runs_kwarg(task_to_find, name)
    return [value for value in candidates if value not in with_run]
