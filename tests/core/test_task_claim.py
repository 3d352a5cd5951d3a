"""`pressrun worker` claims its next task in one statement (`core.task_backend.task_claim_next`):
the task django-tasks-db's worker would take (its ready filter and its order), claimed as the
library claims it, and never the same task twice by concurrent workers. The end-to-end tests
run the worker itself (tests/e2e)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.core.task_backend import task_claim_next, task_claim_supported
from pressrun.fulfillment.address.tasks import check_order_address
from pressrun.notifications.tasks import order_placed_email
from tests.threads import run_together, skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db


def _claim(queue_names: list[str] | None = None) -> DBTaskResult[Any, Any] | None:
    return task_claim_next(worker_id="worker-b", backend_name="default", queue_names=queue_names)


def _library_next(queue_names: list[str] | None = None) -> DBTaskResult[Any, Any] | None:
    """The task django-tasks-db's own worker would take next (`Worker.run`)."""
    ready = DBTaskResult.objects.ready().filter(backend_name="default")
    if queue_names is not None:
        ready = ready.filter(queue_name__in=queue_names)
    return ready.first()


def test_the_task_the_library_would_take_is_claimed_as_the_library_claims_it() -> None:
    now = timezone.now()
    order_placed_email.using(run_after=now + timedelta(minutes=5)).enqueue(order_id=1)  # not due
    due_earlier = check_order_address.using(run_after=now - timedelta(minutes=1)).enqueue(
        order_id=2
    )
    order_placed_email.enqueue(order_id=3)  # no date: after every dated task that is due
    urgent = check_order_address.using(priority=10).enqueue(order_id=4)
    # Taken over from a worker that died: its id stays first in the list.
    DBTaskResult.objects.filter(id=due_earlier.id).update(worker_ids=["worker-a"])

    expected_order = [urgent.id, due_earlier.id]
    for expected in expected_order:
        library = _library_next()
        assert library is not None
        assert str(library.id) == str(expected)
        before = timezone.now()
        claimed = _claim()
        assert claimed is not None
        stored = DBTaskResult.objects.get(id=expected)
        # The instance returned is the row as stored, field by field.
        for field in DBTaskResult._meta.concrete_fields:
            assert getattr(claimed, field.attname) == getattr(stored, field.attname), field.name
        assert stored.status == TaskResultStatus.RUNNING
        assert stored.started_at is not None
        assert before <= stored.started_at <= timezone.now()
        assert stored.finished_at is None
    assert DBTaskResult.objects.get(id=due_earlier.id).worker_ids == ["worker-a", "worker-b"]
    assert DBTaskResult.objects.get(id=urgent.id).worker_ids == ["worker-b"]
    assert claimed.task_result.kwargs == {"order_id": 2}

    last = _claim()
    assert last is not None
    assert last.args_kwargs == {"args": [], "kwargs": {"order_id": 3}}
    assert _claim() is None  # the dated one is not due yet
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1


def test_only_the_named_queues_and_this_backend_are_claimed() -> None:
    elsewhere = order_placed_email.enqueue(order_id=1)
    DBTaskResult.objects.filter(id=elsewhere.id).update(queue_name="other")
    other_backend = order_placed_email.enqueue(order_id=2)
    DBTaskResult.objects.filter(id=other_backend.id).update(backend_name="another")
    mine = order_placed_email.enqueue(order_id=3)

    assert _library_next(["default"]) is not None
    claimed = _claim(["default"])
    assert claimed is not None
    assert str(claimed.id) == str(mine.id)
    assert _claim(["default"]) is None
    anywhere = _claim(None)  # every queue ("*")
    assert anywhere is not None
    assert str(anywhere.id) == str(elsewhere.id)
    assert _claim(None) is None
    assert DBTaskResult.objects.get(id=other_backend.id).status == TaskResultStatus.READY


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_claim_the_same_task() -> None:
    skip_unless_threads_share_the_database()
    tasks = 60
    for order_id in range(tasks):
        order_placed_email.enqueue(order_id=order_id)
    claimed: dict[str, list[str]] = {f"worker-{n}": [] for n in range(6)}

    def worker(worker_id: str) -> None:
        while (
            task := task_claim_next(
                worker_id=worker_id, backend_name="default", queue_names=["default"]
            )
        ) is not None:
            claimed[worker_id].append(str(task.id))

    raised = run_together(*(lambda w=w: worker(w) for w in claimed))
    assert raised == []
    every = [task_id for ids in claimed.values() for task_id in ids]
    assert len(every) == tasks
    assert len(set(every)) == tasks
    rows = DBTaskResult.objects.all()
    assert {row.status for row in rows} == {TaskResultStatus.RUNNING}
    for row in rows:
        [owner] = row.worker_ids
        assert str(row.id) in claimed[owner]


def test_an_empty_list_of_queues_is_refused_not_sent() -> None:
    order_placed_email.enqueue(order_id=1)
    with pytest.raises(ValueError, match="No queue named"):
        _claim([])
    assert DBTaskResult.objects.get().status == TaskResultStatus.READY


def test_both_databases_pressrun_runs_on_claim_in_one_statement() -> None:
    # The end-to-end tests' workers then run pressrun's loop, not the library's.
    assert task_claim_supported()
