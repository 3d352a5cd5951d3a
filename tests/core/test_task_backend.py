"""pressrun's task backend writes the task row that django-tasks-db's own backend writes,
column by column, with and without `run_after` (the end-to-end tests run its tasks in the
real worker)."""

from __future__ import annotations

import itertools
import logging
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import task_backends
from django_tasks.signals import task_enqueued
from django_tasks_db.models import DBTaskResult

from pressrun.core.task_backend import DatabaseBackend
from pressrun.notifications.tasks import order_placed_email

pytestmark = pytest.mark.django_db

STOCK = "django_tasks_db.DatabaseBackend"
OURS = "pressrun.core.task_backend.DatabaseBackend"
SAME_EVERY_TIME = (
    "status",
    "started_at",
    "finished_at",
    "args_kwargs",
    "priority",
    "task_path",
    "worker_ids",
    "queue_name",
    "backend_name",
    "return_value",
    "exception_class_path",
    "traceback",
)


def _row(result_id: str) -> dict[str, Any]:
    row = DBTaskResult.objects.get(id=result_id)
    return {name: getattr(row, name) for name in SAME_EVERY_TIME} | {"run_after": row.run_after}


def _enqueue_with(settings: Any, backend: str, run_after: Any) -> tuple[str, Any]:
    settings.TASKS = {"default": {"BACKEND": backend, "QUEUES": ["default"]}}
    queued = order_placed_email
    if run_after is not None:
        queued = queued.using(run_after=run_after)
    before = timezone.now()
    result = queued.enqueue(order_id=41)
    enqueued_at = DBTaskResult.objects.get(id=result.id).enqueued_at
    assert before <= enqueued_at <= timezone.now()
    return result.id, result


@pytest.mark.parametrize("delay", [None, timedelta(minutes=5)], ids=["now", "later"])
def test_the_row_is_the_one_django_tasks_db_writes(settings: Any, delay: Any) -> None:
    run_after = timezone.now() + delay if delay is not None else None
    stock_id, _ = _enqueue_with(settings, STOCK, run_after)
    ours_id, result = _enqueue_with(settings, OURS, run_after)
    assert isinstance(task_backends["default"], DatabaseBackend)
    assert _row(ours_id) == _row(stock_id)
    assert result.kwargs == {"order_id": 41}
    assert result.status == "READY"
    assert DBTaskResult.objects.ready().filter(id=ours_id).exists() == (delay is None)


def test_enqueue_announces_as_the_stock_backend(settings: Any, caplog: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": ["default"]}}
    caplog.set_level(logging.DEBUG, logger="django_tasks")
    announced: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        announced.append(task_result)

    task_enqueued.connect(receiver)
    try:
        result = order_placed_email.enqueue(order_id=43)
    finally:
        task_enqueued.disconnect(receiver)
    assert [r.id for r in announced] == [result.id]
    assert [r.getMessage() for r in caplog.records if "enqueued" in r.getMessage()] == [
        f"Task id={result.id} path=pressrun.notifications.tasks.order_placed_email "
        "enqueued backend=default"
    ]


def test_task_ids_are_uuid7_and_grow_with_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Configured as the backend's id_function (settings.TASKS): a new task's row goes to the
    # end of the primary key's index, not to a random place in it.
    from pressrun.core import task_backend

    # The clock of the id function alone: a millisecond further at each call.
    clock = itertools.count(1_796_000_000_000_000_000, 1_000_000)
    monkeypatch.setattr(task_backend, "time", SimpleNamespace(time_ns=lambda: next(clock)))
    ids = [uuid.UUID(str(order_placed_email.enqueue(order_id=41).id)) for _ in range(3)]
    assert [(task_id.version, task_id.variant) for task_id in ids] == [(7, uuid.RFC_4122)] * 3
    assert [task_id.int >> 80 for task_id in ids] == [
        1_796_000_000_000,
        1_796_000_000_001,
        1_796_000_000_002,
    ]
    assert ids == sorted(ids)
    assert [DBTaskResult.objects.filter(id=task_id).count() for task_id in ids] == [1, 1, 1]
    # Within one millisecond the rest of the id is random: no two alike.
    monkeypatch.setattr(
        task_backend, "time", SimpleNamespace(time_ns=lambda: 1_796_000_000_000_000_000)
    )
    same_millisecond = {task_backend.time_ordered_task_id() for _ in range(1000)}
    assert len(same_millisecond) == 1000
    assert {task_id.int >> 80 for task_id in same_millisecond} == {1_796_000_000_000}
