"""Retry with backoff, recovery of tasks abandoned by a dead worker, the registry of periodic
tasks, housekeeping."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import LoginFailure
from pressrun.billing.models import StatusCallHour
from pressrun.carts.tasks import (
    STALE_DELIVERY_SWEEP_INTERVAL,
    STRANDED_POSTBACK_SWEEP_INTERVAL,
    requeue_stale_deliveries,
    requeue_stranded_postbacks,
    stock_sync_sweep,
)
from pressrun.core.models import WorkerHeartbeat
from pressrun.core.tasks import (
    HOUSEKEEPING_INTERVAL,
    PeriodicTask,
    backoff_seconds,
    enqueue_retry,
    housekeeping,
    periodic_tasks,
    requeue_abandoned_tasks,
    schedule_periodic_tasks,
)
from pressrun.fulfillment.address.tasks import address_sweep
from pressrun.fulfillment.tasks import close_postage_windows
from pressrun.notifications.tasks import EMAIL_SWEEP_INTERVAL, requeue_stranded_emails
from pressrun.warehouses.tasks import WAREHOUSE_PUSH_SWEEP_INTERVAL, sweep_warehouse_pushes
from pressrun.webhooks.tasks import WEBHOOK_SWEEP_INTERVAL, requeue_stranded_webhooks
from tests.threads import skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 5, 10), (2, 10, 20), (3, 20, 40)])
def test_backoff_doubles_with_jitter(attempt: int, low: float, high: float) -> None:
    for _ in range(50):
        assert low <= backoff_seconds(attempt, base=10) <= high


def test_backoff_is_capped() -> None:
    assert backoff_seconds(40, base=10, cap=3600) <= 3600


def test_enqueue_retry_schedules_the_next_attempt_later() -> None:
    before = timezone.now()
    assert enqueue_retry(housekeeping, attempt=1, max_attempts=3, kwargs={}, base_seconds=60)
    result = DBTaskResult.objects.get(task_path=housekeeping.module_path)
    assert result.args_kwargs["kwargs"] == {"attempt": 2}
    assert result.run_after is not None
    assert before + timedelta(seconds=30) <= result.run_after <= before + timedelta(seconds=61)


def test_enqueue_retry_stops_after_the_last_attempt() -> None:
    assert not enqueue_retry(housekeeping, attempt=3, max_attempts=3, kwargs={})
    assert not DBTaskResult.objects.exists()


def _running_task(worker_id: str) -> DBTaskResult:
    housekeeping.enqueue()
    result = DBTaskResult.objects.get()
    result.status = TaskResultStatus.RUNNING
    result.started_at = timezone.now()
    result.worker_ids = [worker_id]
    result.save()
    return result


def test_task_of_a_dead_worker_is_requeued() -> None:
    result = _running_task("dead-worker")
    assert requeue_abandoned_tasks() == 1
    result.refresh_from_db()
    assert result.status == TaskResultStatus.READY
    assert result.started_at is None


def test_task_of_a_live_worker_is_left_alone() -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="alive", hostname="h", pid=1, started_at=now, last_seen=now
    )
    result = _running_task("alive")
    assert requeue_abandoned_tasks() == 0
    result.refresh_from_db()
    assert result.status == TaskResultStatus.RUNNING


def test_task_of_a_silent_worker_is_requeued(settings: Any) -> None:
    old = timezone.now() - timedelta(seconds=settings.WORKER_DEAD_AFTER_SECONDS + 5)
    WorkerHeartbeat.objects.create(
        worker_id="silent", hostname="h", pid=1, started_at=old, last_seen=old
    )
    _running_task("silent")
    assert requeue_abandoned_tasks() == 1


def test_housekeeping_deletes_stale_rows_and_reschedules_itself(make_publisher: Any) -> None:
    now = timezone.now()
    LoginFailure.objects.create(login="a", client_address="x", at=now - timedelta(days=1))
    LoginFailure.objects.create(login="b", client_address="x", at=now)
    publisher = make_publisher()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    for days in (8, 6):
        StatusCallHour.objects.create(
            publisher=publisher, hour_start=this_hour - timedelta(days=days), calls=3
        )
    deleted = housekeeping.call()
    assert (deleted["login_failures"], deleted["status_calls"]) == (1, 1)
    assert list(LoginFailure.objects.values_list("login", flat=True)) == ["b"]
    assert list(StatusCallHour.objects.values_list("hour_start", flat=True)) == [
        this_hour - timedelta(days=6)
    ]
    queued = DBTaskResult.objects.get(task_path=housekeeping.module_path)
    assert queued.status == TaskResultStatus.READY
    assert queued.run_after > now + timedelta(minutes=59)


def _finished_run(task_path: str, *, days_ago: float) -> DBTaskResult:
    finished_at = timezone.now() - timedelta(days=days_ago)
    return DBTaskResult.objects.create(
        task_path=task_path,
        status=TaskResultStatus.SUCCESSFUL,
        args_kwargs={"args": [], "kwargs": {}},
        enqueued_at=finished_at,
        finished_at=finished_at,
        backend_name="default",
        queue_name="default",
        priority=0,
        worker_ids=["w"],
    )


def test_housekeeping_keeps_finished_sweep_runs_a_day_and_other_tasks_two_weeks() -> None:
    """The email sweep runs every 30 s: its finished runs would be 40,000 rows after the two
    weeks other task records are kept."""
    sweep = requeue_stranded_emails.module_path
    other = "pressrun.notifications.tasks.email_send"
    old_sweep = _finished_run(sweep, days_ago=1.1)
    recent_sweep = _finished_run(sweep, days_ago=0.9)
    old_send = _finished_run(other, days_ago=13)
    older_send = _finished_run(other, days_ago=15)
    deleted = housekeeping.call()
    assert (deleted["finished_periodic_runs"], deleted["finished_tasks"]) == (1, 1)
    remaining = set(DBTaskResult.objects.values_list("id", flat=True))
    assert old_sweep.id not in remaining
    assert older_send.id not in remaining
    assert {recent_sweep.id, old_send.id} <= remaining


def test_apps_register_their_periodic_tasks_with_core() -> None:
    """`core` imports no app: each app registers its sweep in its `AppConfig.ready()`."""
    # In the order of INSTALLED_APPS (lowest layer first).
    assert periodic_tasks() == (
        PeriodicTask(housekeeping, HOUSEKEEPING_INTERVAL),
        PeriodicTask(requeue_stranded_emails, EMAIL_SWEEP_INTERVAL),
        PeriodicTask(close_postage_windows, timedelta(seconds=60)),
        PeriodicTask(address_sweep, timedelta(seconds=600)),
        PeriodicTask(requeue_stranded_webhooks, WEBHOOK_SWEEP_INTERVAL),
        PeriodicTask(sweep_warehouse_pushes, WAREHOUSE_PUSH_SWEEP_INTERVAL),
        PeriodicTask(requeue_stale_deliveries, STALE_DELIVERY_SWEEP_INTERVAL),
        PeriodicTask(requeue_stranded_postbacks, STRANDED_POSTBACK_SWEEP_INTERVAL),
        PeriodicTask(stock_sync_sweep, timedelta(seconds=900)),
    )


def test_the_worker_start_keeps_one_pending_run_of_each_periodic_task() -> None:
    before = timezone.now()
    schedule_periodic_tasks()
    schedule_periodic_tasks()
    for periodic in periodic_tasks():
        [run] = DBTaskResult.objects.filter(task_path=periodic.task.module_path)
        assert run.status == TaskResultStatus.READY
        assert run.run_after is not None
        assert before + periodic.interval <= run.run_after <= timezone.now() + periodic.interval
    assert DBTaskResult.objects.count() == len(periodic_tasks()) == 9


@pytest.mark.django_db(transaction=True)
def test_workers_starting_at_once_queue_one_run_of_each_periodic_task() -> None:
    """Every worker schedules the periodic tasks when it starts, and a deploy starts them
    all at once, on every machine: still one future run each, not one per worker."""
    skip_unless_threads_share_the_database()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def start_worker() -> None:
        try:
            barrier.wait(timeout=30)
            schedule_periodic_tasks()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start_worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    queued = Counter(DBTaskResult.objects.values_list("task_path", flat=True))
    assert queued == {periodic.task.module_path: 1 for periodic in periodic_tasks()}


def test_a_workers_heartbeat_is_written_again_when_its_row_is_gone() -> None:
    """Without its row a living worker would be dead to the others, which would take over
    its claims (an email it is sending)."""
    from pressrun.core.management.commands.worker import Command

    started_at = timezone.now() - timedelta(days=2)
    Command._beat("w", started_at=started_at)
    WorkerHeartbeat.objects.all().delete()
    Command._beat("w", started_at=started_at)
    beat = WorkerHeartbeat.objects.get()
    assert (beat.worker_id, beat.started_at) == ("w", started_at)
    assert beat.last_seen > timezone.now() - timedelta(seconds=5)
    assert requeue_abandoned_tasks() == 0
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["w"]


@pytest.mark.parametrize("few", [True, False])
def test_ids_without_pending_run_are_those_no_run_will_work_on(few: bool) -> None:
    from pressrun.core.tasks import ids_without_pending_run
    from pressrun.notifications.tasks import email_send

    email_send.enqueue(email_id=1)
    email_send.enqueue(email_id=3)
    email_send.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(email_id=5)
    email_send.enqueue(email_id=4)
    DBTaskResult.objects.filter(args_kwargs__kwargs__email_id=4).update(
        status=TaskResultStatus.SUCCESSFUL
    )
    housekeeping.enqueue()  # another task's run says nothing of these ids
    DBTaskResult.objects.filter(args_kwargs__kwargs__email_id=3).update(
        status=TaskResultStatus.RUNNING
    )
    assert ids_without_pending_run(email_send, "email_id", [6, 5, 4, 3, 2, 1], few=few) == [6, 4, 2]
    assert ids_without_pending_run(email_send, "email_id", [], few=few) == []
