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
from django.db import transaction
from django.utils import timezone
from django_tasks import task_backends
from django_tasks.signals import task_enqueued
from django_tasks_db.models import DBTaskResult

from pressrun.core.prepared import PENDING_ID
from pressrun.core.task_backend import DatabaseBackend, task_enqueue_prepare
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


@pytest.mark.django_db(transaction=True)
def test_a_task_prepared_before_its_transaction_writes_the_same_row(settings: Any) -> None:
    """`task_enqueue_prepare`: built before the transaction, the order's id still pending,
    executed in it with the real id; the row is the stock backend's for that id, and the
    enqueued signal is sent once the row is committed."""
    stock_id, _ = _enqueue_with(settings, STOCK, None)
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": ["default"]}}
    announced: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        announced.append(task_result)

    def rolled_back(run: Any) -> None:
        with transaction.atomic():
            run()
            raise RuntimeError("rolled back")

    task_enqueued.connect(receiver)
    try:
        prepared = task_enqueue_prepare(order_placed_email, order_id=PENDING_ID)
        assert prepared is not None
        # Run in a transaction that rolls back (as intake's may), then again for another id.
        with pytest.raises(RuntimeError):
            rolled_back(lambda: prepared.execute(40))
        assert announced == []  # a rolled-back task is not announced
        assert [str(i) for i in DBTaskResult.objects.values_list("id", flat=True)] == [stock_id]
        with transaction.atomic():
            prepared.execute(41)
            assert announced == []  # not before the COMMIT
        [result] = announced
        assert _row(result.id) == _row(stock_id)
        assert result.kwargs == {"order_id": 41}
        assert DBTaskResult.objects.get(id=result.id).args_kwargs == {
            "args": [],
            "kwargs": {"order_id": 41},
        }
    finally:
        task_enqueued.disconnect(receiver)


def test_a_task_for_another_backend_is_not_prepared(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": STOCK, "QUEUES": ["default"]}}
    assert task_enqueue_prepare(order_placed_email, order_id=41) is None


@pytest.mark.django_db(transaction=True)
def test_whether_a_task_is_announced_is_decided_when_it_is_prepared(settings: Any) -> None:
    """The listeners are asked when the task is prepared, before its transaction (asked
    inside, the question would hold SQLite's write lock): a receiver connected between the
    preparation and the COMMIT is not told of that task, and is told of a task prepared
    once it listens."""
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": ["default"]}}
    announced: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        announced.append(task_result)

    unheard = task_enqueue_prepare(order_placed_email, order_id=PENDING_ID)
    assert unheard is not None
    assert not unheard.announced
    task_enqueued.connect(receiver)
    try:
        heard = task_enqueue_prepare(order_placed_email, order_id=PENDING_ID)
        assert heard is not None
        assert heard.announced
        with transaction.atomic():
            unheard.execute(41)
            heard.execute(42)
        assert [result.kwargs for result in announced] == [{"order_id": 42}]
    finally:
        task_enqueued.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_a_task_nobody_listens_for_is_not_announced(settings: Any, caplog: Any) -> None:
    """Nothing listens for `task_enqueued` and django-tasks' debug line is off: a prepared
    task leaves no announcement waiting for the COMMIT. With the debug line on, it is
    written once the row is committed, as django-tasks writes it."""
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": ["default"]}}
    backend = type(task_backends["default"])
    assert not task_enqueued.has_listeners(backend)
    caplog.set_level(logging.INFO, logger="django_tasks")
    prepared = task_enqueue_prepare(order_placed_email, order_id=PENDING_ID)
    assert prepared is not None
    with transaction.atomic():
        prepared.execute(41)
        assert transaction.get_connection().run_on_commit == []
    assert [r for r in caplog.records if "enqueued" in r.getMessage()] == []

    caplog.set_level(logging.DEBUG, logger="django_tasks")
    prepared = task_enqueue_prepare(order_placed_email, order_id=PENDING_ID)
    assert prepared is not None
    with transaction.atomic():
        prepared.execute(42)
        assert [r for r in caplog.records if "enqueued" in r.getMessage()] == []
    [line] = [r.getMessage() for r in caplog.records if "enqueued" in r.getMessage()]
    row = DBTaskResult.objects.get(args_kwargs__kwargs__order_id=42)
    assert line == (
        f"Task id={row.id} path=pressrun.notifications.tasks.order_placed_email "
        "enqueued backend=default"
    )


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
