"""A customer email survives the worker being killed at the worst moments: real `pressrun
serve`, real `pressrun worker` processes (one killed with SIGKILL at a fault-injection point,
PRESSRUN_FAULT_INJECTION, see pressrun.core.faults), a real SMTP server counting what it
receives. On SQLite, and on PostgreSQL when PRESSRUN_DATABASE_URL is set.

1. Killed between writing the email's row and its send task: the email still goes out,
   exactly once (it was lost for good before: the row committed alone, and the task's
   re-run found its key taken).
2. Killed while holding the email's claim (SENDING), before sending: a second worker sends it
   within a minute of the first one's heartbeat going stale (it took 15 minutes), once.
3. Killed after the mail server accepted the email, before marking it sent: the one case of a
   second copy (at least once, see docs/emails.md), with the same Message-ID; no third.

The service here is its own (its own data dir or PostgreSQL database, and no worker of its
own), so that the test decides which worker runs, and when.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.e2e.test_gateway_http import place
from tests.live import (
    PRESSRUN,
    Account,
    LiveService,
    _base_environment,
    _free_port,
    _read,
    _stop,
    _wait_for_health,
    migrated_database,
)

pytestmark = pytest.mark.e2e

# A worker silent this long is dead (30 s by default; shorter keeps the test short). The
# promise measured below is relative to it: sent within 60 s of the heartbeat going stale.
DEAD_AFTER_SECONDS = 10
PROMISED_SECONDS = 60
STARTUP_SECONDS = 60


@dataclass
class Inbox:
    """What the SMTP server received: (recipients, raw message) per accepted message."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        self.received.append((list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[bytes]:
        return [content for rcpt_tos, content in self.received if address in rcpt_tos]


@dataclass
class CrashService:
    service: LiveService
    inbox: Inbox
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str, *, fault: str = "") -> tuple[subprocess.Popen[bytes], Path]:
        env = dict(self.service.env)
        if fault:
            env["PRESSRUN_FAULT_INJECTION"] = fault
        log = self.service.data_dir / f"worker-{name}.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [str(PRESSRUN), "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        return worker, log

    def shell(self, code: str) -> str:
        return self.service.shell(code)


def _wait_for_start(worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if "pressrun worker " in _read(log):
            return
        if worker.poll() is not None:
            pytest.fail(f"worker exited with {worker.returncode}:\n{_read(log)}")
        time.sleep(0.1)
    pytest.fail(f"worker did not start:\n{_read(log)}")


def _wait_until_killed(worker: subprocess.Popen[bytes], log: Path) -> float:
    """Wait for the worker to kill itself at its fault point; returns when it was dead."""
    try:
        returncode = worker.wait(timeout=STARTUP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker never reached its fault point:\n{_read(log)}")
    assert returncode == -signal.SIGKILL, _read(log)
    return time.monotonic()


@pytest.fixture(scope="module")
def crash_installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashService]:
    data_dir = tmp_path_factory.mktemp("pressrun-email-crash")
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = _base_environment(data_dir)
    env.update(
        {
            "PRESSRUN_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "PRESSRUN_EMAIL_HOST": "127.0.0.1",
            "PRESSRUN_EMAIL_PORT": str(smtp_port),
            "PRESSRUN_FROM_EMAIL": "orders@press.example",
            "PRESSRUN_WORKER_HEARTBEAT_SECONDS": "1",
            "PRESSRUN_WORKER_DEAD_AFTER_SECONDS": str(DEAD_AFTER_SECONDS),
        }
    )
    database = migrated_database(env, data_dir)
    port = _free_port()
    env["PRESSRUN_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    service = LiveService(
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        data_dir=data_dir,
        account=Account(id=0, email="", password="", project_ids=()),
        server_log=data_dir / "server.log",
        worker_log=data_dir / "worker.log",  # unused: the tests start their own workers
    )
    crash = CrashService(service=service, inbox=inbox)
    try:
        service.account = service.create_publisher(balance="1000.00")
        with service.server_log.open("wb") as server_out:
            server = subprocess.Popen(
                [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=server_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(server)
        _wait_for_health(service, server)
        yield crash
        _stop(server)
        assert "Traceback" not in _read(service.server_log), _read(service.server_log)
    finally:
        service.close()
        for process in [*service.processes, *crash.workers]:
            _stop(process)
        controller.stop()
        if database is not None:
            database.drop()


@pytest.fixture
def crash_service(crash_installation: CrashService) -> Iterator[CrashService]:
    """The module's installation; the workers a test starts are stopped when it ends, even
    when it fails, so none of them runs the next test's tasks."""
    try:
        yield crash_installation
    finally:
        for worker in crash_installation.workers:
            _stop(worker)
        crash_installation.workers.clear()


def _place_order(crash: CrashService) -> tuple[str, str]:
    """A gateway order with a customer email, over HTTP; returns (order ID, customer)."""
    service = crash.service
    customer = f"{service.unique('buyer').lower()}@example.com"
    order_id = place(service, service.account, service.unique(), email=customer)
    return order_id, customer


def _wait_for_delivery(crash: CrashService, customer: str, *, deadline: float) -> float:
    while time.monotonic() < deadline:
        if crash.inbox.to(customer):
            return time.monotonic()
        time.sleep(0.1)
    state = crash.shell(
        "from pressrun.notifications.models import OutgoingEmail as E\n"
        f"print(list(E.objects.filter(to={customer!r}).values_list('status', 'attempts')))"
    )
    pytest.fail(f"no email to {customer} in time; its rows: {state}")


def _settled(crash: CrashService, order_id: str) -> str:
    """Once the worker has nothing left to do for the order's email: its row's status and
    attempts, and what the sweep would queue again (nothing).

    The send tasks are counted before the row is read: a run marks the row before its task
    ends, so a row read after no run was seen pending is the row as that run left it (read
    the other way round, the row could predate a run that ended between the two reads)."""
    code = (
        "from django_tasks_db.models import DBTaskResult\n"
        "from pressrun.notifications.models import OutgoingEmail\n"
        "from pressrun.notifications.selectors import stranded_email_ids\n"
        f"email_id = OutgoingEmail.objects.get(order_id={int(order_id)}).id\n"
        "pending = DBTaskResult.objects.filter(\n"
        "    task_path='pressrun.notifications.tasks.email_send',\n"
        "    status__in=['READY', 'RUNNING'], args_kwargs__kwargs__email_id=email_id).count()\n"
        "row = OutgoingEmail.objects.get(id=email_id)\n"
        "print(row.status, row.attempts, pending, stranded_email_ids(), sep='|')\n"
    )
    deadline = time.monotonic() + 30
    while True:
        state = crash.shell(code)
        if state.split("|")[2] == "0" or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def _message_ids(messages: list[bytes]) -> list[str]:
    return [str(message_from_bytes(raw, policy=policy.default)["Message-ID"]) for raw in messages]


def test_a_worker_killed_between_the_email_and_its_task_loses_nothing(
    crash_service: CrashService,
) -> None:
    crash = crash_service
    order_id, customer = _place_order(crash)
    first, first_log = crash.start_worker("between", fault="email_queued_before_task:kill")
    _wait_until_killed(first, first_log)
    assert crash.inbox.to(customer) == []

    second, second_log = crash.start_worker("after-between")
    _wait_for_start(second, second_log)
    # The order task the dead worker left RUNNING is queued again once its heartbeat is
    # stale; its re-run stores the email and its send task together.
    _wait_for_delivery(
        crash, customer, deadline=time.monotonic() + DEAD_AFTER_SECONDS + PROMISED_SECONDS
    )
    assert _settled(crash, order_id) == "sent|1|0|[]"
    time.sleep(2)  # anything else queued would go out now
    _stop(second)
    assert len(crash.inbox.to(customer)) == 1
    assert "Traceback" not in _read(second_log), _read(second_log)


def test_an_email_claimed_by_a_killed_worker_goes_out_within_a_minute_of_its_heartbeat(
    crash_service: CrashService,
) -> None:
    crash = crash_service
    order_id, customer = _place_order(crash)
    first, first_log = crash.start_worker("claimed", fault="email_claimed_before_send:kill")
    killed_at = _wait_until_killed(first, first_log)
    state = crash.shell(
        "from pressrun.notifications.models import OutgoingEmail\n"
        f"print(OutgoingEmail.objects.get(order_id={int(order_id)}).status)"
    )
    assert state == "sending"  # claimed by the dead worker, not sent
    assert crash.inbox.to(customer) == []

    second, second_log = crash.start_worker("after-claimed")
    _wait_for_start(second, second_log)
    # The dead worker's last heartbeat was before its death: it is stale by this time.
    stale_by = killed_at + DEAD_AFTER_SECONDS
    delivered_at = _wait_for_delivery(crash, customer, deadline=stale_by + PROMISED_SECONDS)
    assert delivered_at - stale_by < PROMISED_SECONDS
    assert _settled(crash, order_id) == "sent|2|0|[]"
    time.sleep(2)
    _stop(second)
    assert len(crash.inbox.to(customer)) == 1
    assert "Traceback" not in _read(second_log), _read(second_log)


def test_a_worker_killed_after_the_server_took_the_email_sends_it_once_more_the_same(
    crash_service: CrashService,
) -> None:
    """At least once: nothing can know whether the first copy arrived, so a second, the same
    message (same Message-ID), goes out; never a third."""
    crash = crash_service
    order_id, customer = _place_order(crash)
    first, first_log = crash.start_worker("accepted", fault="email_sent_before_marked:kill")
    killed_at = _wait_until_killed(first, first_log)
    assert len(crash.inbox.to(customer)) == 1

    second, second_log = crash.start_worker("after-accepted")
    _wait_for_start(second, second_log)
    deadline = killed_at + DEAD_AFTER_SECONDS + PROMISED_SECONDS
    while len(crash.inbox.to(customer)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(crash.inbox.to(customer)) == 2
    assert _settled(crash, order_id) == "sent|2|0|[]"
    time.sleep(2)
    _stop(second)
    copies = crash.inbox.to(customer)
    assert len(copies) == 2
    first_id, second_id = _message_ids(copies)
    assert first_id == second_id
    assert first_id.endswith("@press.example>")
