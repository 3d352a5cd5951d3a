"""Retry with backoff, recovery of tasks abandoned by a dead worker, housekeeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import LoginFailure
from pressrun.core.models import WorkerHeartbeat
from pressrun.core.tasks import (
    backoff_seconds,
    enqueue_retry,
    housekeeping,
    requeue_abandoned_tasks,
    schedule_housekeeping,
)

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


def test_housekeeping_deletes_stale_rows_and_reschedules_itself() -> None:
    now = timezone.now()
    LoginFailure.objects.create(login="a", client_address="x", at=now - timedelta(days=1))
    LoginFailure.objects.create(login="b", client_address="x", at=now)
    deleted = housekeeping.call()
    assert deleted["login_failures"] == 1
    assert list(LoginFailure.objects.values_list("login", flat=True)) == ["b"]
    queued = DBTaskResult.objects.get(task_path=housekeeping.module_path)
    assert queued.status == TaskResultStatus.READY
    assert queued.run_after > now + timedelta(minutes=59)


def test_schedule_housekeeping_keeps_one_pending_run() -> None:
    schedule_housekeeping()
    schedule_housekeeping()
    assert DBTaskResult.objects.filter(task_path=housekeeping.module_path).count() == 1
