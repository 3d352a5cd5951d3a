"""Delivery guarantees of the email log: an email and its send task commit together, a re-run
or the sweep queues again an email nothing would send, a claim lives as long as its worker's
heartbeat, and a second copy can only follow a crash after the mail server took the first.

Tasks go to the database here (as under `pressrun worker`); `run_queued_sends` plays the
worker. The real processes, killed at each of these points, are in
tests/e2e/test_email_crash_http.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.core.models import WorkerHeartbeat
from pressrun.core.tasks import worker_identify
from pressrun.notifications.models import EmailKind, EmailStatus, OutgoingEmail
from pressrun.notifications.selectors import UNOWNED_CLAIM_TIMEOUT, stranded_email_ids
from pressrun.notifications.services import email_queue, emails_requeue_stranded
from pressrun.notifications.tasks import (
    EMAIL_SWEEP_INTERVAL,
    email_send,
    message_id,
    order_placed_email,
    requeue_stranded_emails,
)
from pressrun.orders.models import OrderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks_in_the_database(settings: Any) -> Iterator[None]:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    yield
    worker_identify("")


def queue(publisher: Any, key: str, to: str | None = None) -> OutgoingEmail | None:
    return email_queue(
        key=key,
        kind=EmailKind.PUBLISHER_ERROR,
        to=to or f"{key}@example.com",
        subject=f"About {key}",
        text="t",
        publisher=publisher,
    )


def send_runs(email_id: int, *, status: str | None = None) -> list[DBTaskResult]:
    runs = DBTaskResult.objects.filter(
        task_path=email_send.module_path, args_kwargs__kwargs__email_id=email_id
    )
    if status is not None:
        runs = runs.filter(status=status)
    return list(runs)


def run_queued_sends() -> int:
    """Run every queued `email_send` as a worker would (each run then finishes); returns
    how many sent."""
    sent = 0
    for run in DBTaskResult.objects.filter(
        task_path=email_send.module_path, status=TaskResultStatus.READY
    ).order_by("enqueued_at"):
        sent += bool(email_send.call(**run.args_kwargs["kwargs"]))
        DBTaskResult.objects.filter(id=run.id).update(
            status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now()
        )
    return sent


def lose_send_tasks() -> None:
    DBTaskResult.objects.filter(task_path=email_send.module_path).delete()


def heartbeat(worker_id: str, *, seconds_ago: float = 0) -> None:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": "h", "pid": 1, "started_at": seen, "last_seen": seen},
    )


def dead(settings: Any) -> float:
    """Seconds ago for a heartbeat just past PRESSRUN_WORKER_DEAD_AFTER_SECONDS."""
    return float(settings.WORKER_DEAD_AFTER_SECONDS + 1)


def claim_as(email: OutgoingEmail, worker_id: str, *, seconds_ago: float = 0) -> None:
    OutgoingEmail.objects.filter(id=email.id).update(
        status=EmailStatus.SENDING,
        claimed_by=worker_id,
        claimed_at=timezone.now() - timedelta(seconds=seconds_ago),
        attempts=1,
    )


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


# --- the row and its send task commit together ----------------------------------------------


def test_the_row_and_its_send_task_are_one_transaction(publisher: Any) -> None:
    """The email was lost when the process died between the row's commit and its task's:
    now a failure there leaves neither."""
    with (
        mock.patch(
            "pressrun.core.task_backend.DatabaseBackend.enqueue", side_effect=DatabaseError("gone")
        ),
        pytest.raises(DatabaseError),
    ):
        queue(publisher, "k")
    assert not OutgoingEmail.objects.exists()
    assert not DBTaskResult.objects.exists()

    email = queue(publisher, "k")
    assert email is not None
    [run] = send_runs(email.id)
    assert (run.status, run.args_kwargs["kwargs"]) == (
        TaskResultStatus.READY,
        {"email_id": email.id},
    )


def test_a_taken_key_in_a_callers_transaction_keeps_that_transaction(publisher: Any) -> None:
    first = queue(publisher, "k")
    assert first is not None
    with transaction.atomic():
        assert queue(publisher, "k") is None
        other = queue(publisher, "other")  # the caller's transaction goes on
    assert other is not None
    assert OutgoingEmail.objects.count() == 2
    assert len(send_runs(first.id)) == 1


# --- a re-run finds the key taken -------------------------------------------------------------


def test_the_rerun_of_the_order_task_queues_the_send_again_for_a_stranded_email(
    make_account: Any, make_project: Any, place: Any
) -> None:
    """The crash of the issue: the order's email row committed, its send task never did, and
    the order task (requeued after the worker died) found the key taken and queued nothing."""
    publisher = make_account(balance="100")
    order = place(publisher, make_project(publisher))
    assert order_placed_email.call(order_id=order.id) == 1
    row = OutgoingEmail.objects.get(order=order)
    lose_send_tasks()

    assert order_placed_email.call(order_id=order.id) == 0  # nothing new stored
    [run] = send_runs(row.id)
    assert run.status == TaskResultStatus.READY
    assert order_placed_email.call(order_id=order.id) == 0  # its task is queued: no other
    assert len(send_runs(row.id)) == 1

    assert run_queued_sends() == 1
    assert recipients() == ["ann@example.com"]
    assert order_placed_email.call(order_id=order.id) == 0  # sent: nothing queued again
    assert send_runs(row.id, status=TaskResultStatus.READY) == []
    assert run_queued_sends() == 0
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.SENT, 1)


def test_the_hold_reminder_of_the_day_is_queued_again_when_stranded(
    make_account: Any, make_project: Any, place: Any
) -> None:
    from pressrun.notifications.services import notify_hold_orders

    publisher = make_account(balance="0", email="label@example.com")
    order = place(publisher, make_project(publisher))
    assert order.status == OrderStatus.HOLD
    reminder = notify_hold_orders(publisher=publisher)
    assert reminder is not None
    lose_send_tasks()

    assert notify_hold_orders(publisher=publisher) is None
    assert len(send_runs(reminder.id, status=TaskResultStatus.READY)) == 1
    assert run_queued_sends() == 1
    assert notify_hold_orders(publisher=publisher) is None
    assert run_queued_sends() == 0
    assert recipients() == ["label@example.com"]


# --- the sweep --------------------------------------------------------------------------------


def test_the_sweep_queues_exactly_the_emails_nothing_would_send(
    publisher: Any, settings: Any
) -> None:
    heartbeat("alive")
    heartbeat("stale", seconds_ago=dead(settings))
    emails = {}
    for name in (
        "queued-lost",
        "queued-waiting",
        "queued-running",
        "stale-worker",
        "stopped-worker",
        "slow-alive-worker",
        "unowned-recent",
        "unowned-old",
        "sent",
        "failed",
    ):
        email = queue(publisher, name)
        assert email is not None
        emails[name] = email
    DBTaskResult.objects.filter(task_path=email_send.module_path).exclude(
        args_kwargs__kwargs__email_id__in=[emails["queued-waiting"].id, emails["queued-running"].id]
    ).delete()
    DBTaskResult.objects.filter(args_kwargs__kwargs__email_id=emails["queued-running"].id).update(
        status=TaskResultStatus.RUNNING, worker_ids=["alive"]
    )
    claim_as(emails["stale-worker"], "stale")
    claim_as(emails["stopped-worker"], "no-heartbeat-any-more")
    # A slow send by a living worker keeps its claim, however old (it was 15 minutes).
    claim_as(emails["slow-alive-worker"], "alive", seconds_ago=3600)
    claim_as(emails["unowned-recent"], "", seconds_ago=60)
    claim_as(emails["unowned-old"], "", seconds_ago=UNOWNED_CLAIM_TIMEOUT.total_seconds() + 1)
    OutgoingEmail.objects.filter(id=emails["sent"].id).update(status=EmailStatus.SENT)
    OutgoingEmail.objects.filter(id=emails["failed"].id).update(status=EmailStatus.FAILED)

    stranded = ["queued-lost", "stale-worker", "stopped-worker", "unowned-old"]
    assert stranded_email_ids() == [emails[name].id for name in stranded]
    assert emails_requeue_stranded() == 4
    for name in stranded:
        [run] = send_runs(emails[name].id)
        assert run.status == TaskResultStatus.READY
    assert stranded_email_ids() == []
    assert emails_requeue_stranded() == 0

    assert run_queued_sends() == 5  # the four, and the one whose task was waiting
    assert recipients() == sorted(f"{name}@example.com" for name in [*stranded, "queued-waiting"])
    assert emails_requeue_stranded() == 0
    assert run_queued_sends() == 0
    statuses = dict(OutgoingEmail.objects.values_list("key", "status"))
    assert statuses == {
        **dict.fromkeys([*stranded, "queued-waiting", "sent"], EmailStatus.SENT),
        "queued-running": EmailStatus.QUEUED,
        "slow-alive-worker": EmailStatus.SENDING,
        "unowned-recent": EmailStatus.SENDING,
        "failed": EmailStatus.FAILED,
    }


def test_the_sweep_runs_every_30_seconds_even_after_an_error(publisher: Any) -> None:
    email = queue(publisher, "k")
    assert email is not None
    lose_send_tasks()
    before = timezone.now()
    assert requeue_stranded_emails.call() == 1
    [next_run] = DBTaskResult.objects.filter(task_path=requeue_stranded_emails.module_path)
    assert next_run.status == TaskResultStatus.READY
    assert next_run.run_after is not None
    assert before + EMAIL_SWEEP_INTERVAL <= next_run.run_after
    assert next_run.run_after <= timezone.now() + EMAIL_SWEEP_INTERVAL
    assert timedelta(seconds=30) == EMAIL_SWEEP_INTERVAL

    next_run.delete()
    with (
        mock.patch(
            "pressrun.notifications.tasks.emails_requeue_stranded",
            side_effect=DatabaseError("x"),
        ),
        pytest.raises(DatabaseError),
    ):
        requeue_stranded_emails.call()
    assert DBTaskResult.objects.filter(task_path=requeue_stranded_emails.module_path).count() == 1


# --- the claim lives as long as its worker ----------------------------------------------------


def test_a_living_workers_claim_is_kept_however_long_the_send_takes(
    publisher: Any, settings: Any
) -> None:
    email = queue(publisher, "k")
    assert email is not None
    lose_send_tasks()  # the run below is the only one
    heartbeat("slow")
    claim_as(email, "slow", seconds_ago=20 * 60)
    worker_identify("other")
    heartbeat("other")

    assert email_send.call(email_id=email.id) is False
    assert mail.outbox == []
    email.refresh_from_db()
    assert (email.status, email.claimed_by, email.attempts) == (EmailStatus.SENDING, "slow", 1)
    # Nothing is scheduled: should "slow" die, the worker recovery and the sweep act.
    assert not DBTaskResult.objects.exists()
    assert stranded_email_ids() == []


def test_a_dead_workers_claim_is_taken_over_as_soon_as_its_heartbeat_is_stale(
    publisher: Any, settings: Any
) -> None:
    """Not 15 minutes after the claim: as soon as the claiming worker is dead."""
    email = queue(publisher, "k")
    assert email is not None
    heartbeat("died")
    claim_as(email, "died", seconds_ago=5)
    worker_identify("next")
    heartbeat("next")

    assert email_send.call(email_id=email.id) is False  # "died" is still alive to us
    heartbeat("died", seconds_ago=dead(settings))
    assert email_send.call(email_id=email.id) is True
    assert email_send.call(email_id=email.id) is False
    assert recipients() == ["k@example.com"]
    email.refresh_from_db()
    assert (email.status, email.claimed_by, email.attempts) == (EmailStatus.SENT, "next", 2)


def test_a_run_that_lost_its_claim_changes_nothing_when_its_send_fails(
    publisher: Any, settings: Any
) -> None:
    """A worker taken for dead (its heartbeat stalled) comes back with a failed send: the row
    is the new owner's now, so it is neither put back to QUEUED nor retried."""
    email = queue(publisher, "k")
    assert email is not None
    lose_send_tasks()
    worker_identify("stalled")
    heartbeat("stalled")

    def taken_over_then_refused(*args: Any, **kwargs: Any) -> int:
        OutgoingEmail.objects.filter(id=email.id).update(
            claimed_by="successor", claimed_at=timezone.now()
        )
        raise ConnectionRefusedError("refused")

    with mock.patch.object(EmailMultiAlternatives, "send", side_effect=taken_over_then_refused):
        assert email_send.call(email_id=email.id) is False
    email.refresh_from_db()
    assert (email.status, email.claimed_by, email.last_error) == (
        EmailStatus.SENDING,
        "successor",
        "",
    )
    assert not DBTaskResult.objects.exists()


def test_a_refused_send_goes_back_to_queued_with_its_retry(publisher: Any) -> None:
    email = queue(publisher, "k")
    assert email is not None
    lose_send_tasks()
    worker_identify("w")
    heartbeat("w")
    with mock.patch.object(
        EmailMultiAlternatives, "send", side_effect=ConnectionRefusedError("no")
    ):
        assert email_send.call(email_id=email.id) is False
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (
        EmailStatus.QUEUED,
        1,
        "ConnectionRefusedError: no",
    )
    [retry] = send_runs(email.id)
    assert retry.args_kwargs["kwargs"] == {"email_id": email.id, "attempt": 2}
    assert stranded_email_ids() == []


# --- at least once: the one case of a second copy ---------------------------------------------


def test_a_crash_after_the_server_took_the_email_sends_it_again_with_the_same_message_id(
    publisher: Any, settings: Any
) -> None:
    """The worker died after the mail server accepted the message and before the row was
    marked SENT. Nothing can tell whether the server got it, so it is sent again (at least
    once, as mail servers themselves do), as the same message: same Message-ID."""
    email = queue(publisher, "k")
    other = queue(publisher, "other")
    assert email is not None
    assert other is not None
    worker_identify("first")
    heartbeat("first")
    assert run_queued_sends() == 2
    # What the crash leaves: the row still SENDING under the dead worker's claim.
    claim_as(email, "first")
    heartbeat("first", seconds_ago=dead(settings))
    assert emails_requeue_stranded() == 1
    worker_identify("second")
    heartbeat("second")
    assert run_queued_sends() == 1

    copies = [m for m in mail.outbox if m.to == ["k@example.com"]]
    [other_message] = [m for m in mail.outbox if m.to == ["other@example.com"]]
    assert len(copies) == 2
    first_id, second_id = (copy.message()["Message-ID"] for copy in copies)
    assert first_id == second_id
    assert first_id.endswith("@press.example>")
    assert other_message.message()["Message-ID"] != first_id


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_an_email_once(make_publisher: Any, settings: Any) -> None:
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
        "file:memorydb"
    ):
        pytest.skip("in-memory SQLite cannot be shared by threads; the e2e tests cover SQLite")
    publisher = make_publisher()
    emails = [queue(publisher, f"k{number}") for number in range(5)]
    worker_identify("w")
    heartbeat("w")
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def slow_send(*args: Any, **kwargs: Any) -> int:
        time.sleep(0.05)
        return 1

    def run(email_id: int) -> None:
        try:
            start.wait(timeout=10)
            results.append(email_send.call(email_id=email_id))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(EmailMultiAlternatives, "send", side_effect=slow_send) as sent:
        for email in emails:
            assert email is not None
            start.reset()
            results.clear()
            threads = [threading.Thread(target=run, args=(email.id,)) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            assert sorted(results) == [False, False, False, True]
    assert sent.call_count == 5
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {EmailStatus.SENT}


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("orders@press.example", "press.example"),
        ("Orders <orders@mail.press.example>", "mail.press.example"),
        ("orders@bücher.example", "pressrun.localhost"),
        ("no-domain", "pressrun.localhost"),
    ],
)
def test_the_message_id_is_a_valid_header_whatever_the_sender(
    publisher: Any, settings: Any, sender: str, domain: str
) -> None:
    email = queue(publisher, "k")
    assert email is not None
    settings.DEFAULT_FROM_EMAIL = sender
    identifier = message_id(email)
    assert re.fullmatch(rf"<[0-9a-f]{{32}}@{re.escape(domain)}>", identifier)
    assert message_id(OutgoingEmail.objects.get(id=email.id)) == identifier
