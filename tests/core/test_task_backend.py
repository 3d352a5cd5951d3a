"""pressrun's task backend writes the task row that django-tasks-db's own backend writes,
column by column, with and without `run_after` (the end-to-end tests run its tasks in the
real worker)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import task_backends
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
