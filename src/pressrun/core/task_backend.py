"""The task backend: django-tasks-db's, with its task row written by an INSERT compiled once
per process (`core.prepared`) instead of `DBTaskResult.objects.create`.

Intake queues two tasks inside every order's transaction (the customer's email, the address
check), and building and saving a model instance through the ORM cost about 0.2 ms each, most
of it while SQLite's write lock is held. The row written is the one django-tasks-db writes:
same columns, same values; its one `pre_save` handler (a task without `run_after` waits for
no date: the greatest date) is applied here, since a prepared INSERT sends no model signals.
`tests/core/test_task_backend.py` compares the two rows column by column.
"""

from __future__ import annotations

from typing import Any

from django.db import router
from django_tasks.base import Task
from django_tasks.signals import task_enqueued
from django_tasks.utils import normalize_json
from django_tasks_db.backend import DatabaseBackend as StockDatabaseBackend
from django_tasks_db.backend import TaskResult
from django_tasks_db.models import DBTaskResult, get_date_max

from pressrun.core.prepared import prepare_insert


class DatabaseBackend(StockDatabaseBackend):
    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        # As the stock backend, which builds the result twice (for the signal, then to return).
        self.validate_task(task)
        result = self._task_to_db_task(task, args, kwargs).task_result
        task_enqueued.send(type(self), task_result=result)
        return result

    def _task_to_db_task(
        self, task: Task[Any, Any], args: Any, kwargs: Any
    ) -> DBTaskResult[Any, Any]:
        result: DBTaskResult[Any, Any] = DBTaskResult(
            id=self._get_id(),
            args_kwargs=normalize_json({"args": args, "kwargs": kwargs}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=task.run_after if task.run_after is not None else get_date_max(),
            backend_name=self.alias,
        )
        prepare_insert(result, using=router.db_for_write(DBTaskResult)).execute()
        return result
