"""`pressrun worker`'s loop runs the apps' relays before each claim (`core.tasks.register_relay`):
a placed order's follow-ups are queued and run by the worker alone, and a relay that fails
does not stop the tasks already queued. The end-to-end tests run the worker process itself."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core import mail
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.core import tasks as core_tasks
from pressrun.core.management.commands.worker import BATCH_RELAY_ATTEMPTS
from pressrun.core.tasks import housekeeping
from pressrun.orders.models import OrderEvent
from tests import intake
from tests.core.test_worker_stop import make_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _tasks_as_rows(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ADDRESS_VERIFIER = "offline"


def run_batch() -> None:
    make_worker(interval=0.01, batch=True).run()


def test_the_worker_relays_a_placed_order_and_runs_its_follow_ups(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    order = intake.place(publisher, [(make_project(publisher), 1)], invoice="W-1")
    assert not DBTaskResult.objects.exists()
    run_batch()
    assert not OrderEvent.objects.filter(relay_pending=True).exists()
    ran = sorted(DBTaskResult.objects.values_list("task_path", "status"))
    assert ran == [
        ("pressrun.fulfillment.address.tasks.check_order_address", TaskResultStatus.SUCCESSFUL),
        ("pressrun.notifications.tasks.email_send", TaskResultStatus.SUCCESSFUL),
        ("pressrun.notifications.tasks.order_placed_email", TaskResultStatus.SUCCESSFUL),
    ]
    [message] = mail.outbox
    assert message.to == [order.email]


def test_a_failing_relay_leaves_its_rows_and_the_queued_tasks_still_run(
    monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken() -> int:
        raise RuntimeError("relay broken")

    monkeypatch.setitem(core_tasks._relays, "broken", broken)
    housekeeping.enqueue()
    with caplog.at_level(logging.ERROR, logger="pressrun.core.management.commands.worker"):
        run_batch()
    # It ran (and queued its next run, for later).
    ran = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL)
    assert list(ran.values_list("task_path", flat=True)) == [housekeeping.module_path]
    failures = [r for r in caplog.records if r.getMessage().startswith("A relay failed")]
    # A batch run does not end on its first failed pass: it asks again, then gives up.
    assert len(failures) >= BATCH_RELAY_ATTEMPTS
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in failures)


def test_a_batch_worker_asks_the_relays_again_before_it_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # While every claim finds a task the relays are asked a few times a second only; the
    # batch worker still asks them once more after its last task, before it stops (an order
    # placed meanwhile is relayed, and its follow-ups run, by this run).
    calls: list[int] = []

    def counting() -> int:
        calls.append(DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count())
        return 0

    monkeypatch.setitem(core_tasks._relays, "counting", counting)
    for _ in range(3):
        housekeeping.enqueue()
    run_batch()
    assert calls[0] == 0  # before the first claim
    assert calls[-1] == 3  # after the last task
