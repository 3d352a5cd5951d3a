"""Several machines against one PostgreSQL, played on this one: two `pressrun serve` and two
`pressrun worker` processes, each with its own data dir (nothing on disk is shared), the same
PostgreSQL database behind PgBouncer in transaction mode, and the same Redis (the shared
credential cache), as docs/deploy.md describes ("Several machines").

1. Under load from a small round-robin client (threads; each request to the next server in
   turn), with concurrent copies of the same invoice sent to both servers at once, and one
   worker killed with SIGKILL while it runs a task: every `[SUCCESS]` order exists once,
   every copy but one of a repeated invoice is refused with 000035, no order is charged
   twice and the balances are exact, every task queued by the orders finished once (the one
   the killed worker was running was taken over by the other), and every email reached the
   mail server once (twice only in the one case docs/emails.md allows: the killed worker's
   own send, after the server accepted it and before it was marked sent).
2. A password changed through one machine's dashboard stops the old password on the other
   machine at once, with the credential cache in Redis and with one cache per process.
3. Wrong passwords sent to both machines in turn are counted together by the sign-in
   throttle.

PostgreSQL only: the test is about one database shared by several machines, which SQLite (a
file in one machine's data dir) cannot be. Redis and PgBouncer are Debian's `redis-server`
and `pgbouncer`, started here on free ports (tests/redis_server.py, tests/pgbouncer.py);
`.ci/run` installs them.
"""

from __future__ import annotations

import contextlib
import html
import http.cookiejar
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller

from tests import pgbouncer as pooler
from tests import redis_server as redis
from tests.e2e.test_email_crash_http import Inbox
from tests.e2e.test_gateway_http import (
    FAILURE,
    ORDER,
    STATUS,
    Reply,
    order_fields,
    sections,
    send,
    status_fields,
    success,
)
from tests.live import (
    PRESSRUN,
    Account,
    LiveService,
    _base_environment,
    _free_port,
    _PostgresDatabase,
    _read,
    _stop,
    _wait_for_url,
    migrated_database,
)
from tests.support import require

pytestmark = pytest.mark.e2e

# A worker silent this long is dead; short, so the killed worker's task is taken over soon.
DEAD_AFTER_SECONDS = 5
# How long the test waits for the queue to drain after the load (never a timing assertion:
# it fails only if the work is not done at all by then).
SETTLE_SECONDS = 180
ORDER_TASKS = (
    "pressrun.notifications.tasks.order_placed_email",
    "pressrun.notifications.tasks.email_send",
    "pressrun.fulfillment.address.tasks.check_order_address",
)


# --- the installation: PostgreSQL, Redis, SMTP, two servers, two workers ----------------------
@dataclass
class Machine:
    """One `pressrun serve` or `pressrun worker` with the data dir of its own "machine"."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    base_url: str = ""

    def url(self, path: str) -> str:
        return self.base_url + path


@dataclass
class Cluster:
    admin: LiveService  # runs `pressrun` commands (in a data dir of its own)
    database_url: str
    env: dict[str, str]  # what every machine shares: the database, Redis, the secret key
    root: Path
    inbox: Inbox
    redis_port: int
    servers: list[Machine] = field(default_factory=list)
    workers: list[Machine] = field(default_factory=list)

    def start(self, kind: str, name: str, *, without: tuple[str, ...] = ()) -> Machine:
        """`pressrun serve` (kind "serve") or `pressrun worker` on a machine of its own: its
        own data dir, the shared settings but the variables named in `without`."""
        data_dir = self.root / name
        data_dir.mkdir()
        env = {key: value for key, value in self.env.items() if key not in without}
        env["PRESSRUN_DATA_DIR"] = str(data_dir)
        log = data_dir / f"{kind}.log"
        command = [str(PRESSRUN), kind]
        port = 0
        if kind == "serve":
            port = _free_port()
            command += ["--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        machine = Machine(name=name, process=process, log=log)
        if kind == "serve":
            machine.base_url = f"http://127.0.0.1:{port}"
            _wait_for_url(machine.url("/health"), process, lambda: _read(log))
        else:
            _wait_for_worker_start(machine)
        return machine

    def shell_json(self, code: str) -> Any:
        """Run `code` with `pressrun shell`; it prints one JSON value, returned decoded."""
        return json.loads(self.admin.shell(code))


def _wait_for_worker_start(worker: Machine) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "pressrun worker " in _read(worker.log):
            return
        if worker.process.poll() is not None:
            pytest.fail(f"worker {worker.name} exited:\n{_read(worker.log)}")
        time.sleep(0.1)
    pytest.fail(f"worker {worker.name} did not start:\n{_read(worker.log)}")


def worker_id(worker: Machine) -> str:
    match = re.search(r"pressrun worker (\S+) started", _read(worker.log))
    assert match, _read(worker.log)
    return match.group(1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    admin_url = os.environ.get("PRESSRUN_DATABASE_URL", "").strip()
    if not admin_url:
        pytest.skip(
            "PostgreSQL only: several machines share one PostgreSQL database, which SQLite "
            "(a file on one machine) cannot be; runs in the PostgreSQL half of `make test`"
        )
    require(redis.available(), "redis-server (the Debian package redis-server)")
    require(pooler.available(), "pgbouncer (the Debian package pgbouncer)")
    root = Path(tempfile.mkdtemp(prefix="pressrun-multi-"))
    database: _PostgresDatabase | None = None
    admin: LiveService | None = None
    inbox = Inbox()
    smtp_port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    cluster: Cluster | None = None
    try:
        controller.start()
        (root / "admin").mkdir()
        # The database `pressrun migrate` leaves (a copy of the migrated template: what
        # migrate does is not what this test is about). The operator's commands
        # (createpublisher, shell) go straight to PostgreSQL, as docs/deploy.md says
        # migrations should.
        admin_env = _base_environment(root / "admin")
        database = migrated_database(admin_env, root / "admin", "multi")
        assert database is not None  # PRESSRUN_DATABASE_URL is set
        admin = LiveService(
            base_url="",
            env=admin_env,
            data_dir=root / "admin",
            account=Account(id=0, email="", password="", project_ids=()),
            server_log=root / "admin" / "unused.log",
            worker_log=root / "admin" / "unused.log",
        )
        with (
            redis.redis_server(root) as redis_port,
            # Fewer server connections than the machines' clients (2 servers x serve's
            # default processes and threads, 2 workers with their heartbeat threads), so that
            # transactions really do move between server connections.
            pooler.pgbouncer(root, database.url, pool_size=6) as pooled_url,
        ):
            env = _base_environment(root / "unused")
            env.update(
                {
                    "PRESSRUN_DATABASE_URL": pooled_url,
                    "PRESSRUN_DATABASE_POOLER": "transaction",
                    "PRESSRUN_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                    "PRESSRUN_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                    "PRESSRUN_EMAIL_HOST": "127.0.0.1",
                    "PRESSRUN_EMAIL_PORT": str(smtp_port),
                    "PRESSRUN_FROM_EMAIL": "orders@press.example",
                    "PRESSRUN_WORKER_DEAD_AFTER_SECONDS": str(DEAD_AFTER_SECONDS),
                }
            )
            # The same settings but the database's address (the Message-IDs it computes
            # below name the sender's domain, for one).
            admin_env.update(
                {
                    key: value
                    for key, value in env.items()
                    if key.startswith("PRESSRUN_")
                    and key not in ("PRESSRUN_DATABASE_URL", "PRESSRUN_DATABASE_POOLER")
                    and key != "PRESSRUN_DATA_DIR"
                }
            )
            cluster = Cluster(
                admin=admin,
                database_url=database.url,
                env=env,
                root=root,
                inbox=inbox,
                redis_port=redis_port,
            )
            for number in (1, 2):
                cluster.servers.append(cluster.start("serve", f"app{number}"))
            for number in (1, 2):
                cluster.workers.append(cluster.start("worker", f"worker{number}"))
            admin.base_url = cluster.servers[0].base_url
            yield cluster
            for machine in [*cluster.servers, *cluster.workers]:
                _stop(machine.process)
            for machine in [*cluster.servers, *cluster.workers]:
                output = _read(machine.log)
                assert "Traceback" not in output, f"{machine.name}:\n{output}"
    finally:
        if admin is not None:
            admin.close()
        if cluster is not None:
            for machine in [*cluster.servers, *cluster.workers]:
                _stop(machine.process)
        controller.stop()
        if database is not None:
            database.drop()
        shutil.rmtree(root, ignore_errors=True)


# --- the round-robin client -------------------------------------------------------------------
class RoundRobin:
    """Sends each request to the next server in turn, like a load balancer would."""

    def __init__(self, servers: list[Machine]) -> None:
        self._targets = [_Target(server.base_url) for server in servers]
        self._next = 0
        self._lock = threading.Lock()

    def next_targets(self, count: int) -> list[Any]:  # for send(), which needs only .url()
        """The next `count` servers in turn (taken together: copies of one request sent at
        once are spread evenly)."""
        with self._lock:
            first = self._next
            self._next += count
        return [self._targets[(first + n) % len(self._targets)] for n in range(count)]


@dataclass(frozen=True)
class _Target:
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


def _on(server: Machine) -> Any:  # for send(), which needs only .url()
    return _Target(server.base_url)


def _code(reply: Reply) -> str:
    """A gateway order's outcome: SUCCESS, or the ERRCODE of its [FAILURE] line."""
    assert reply.status == 200, (reply.status, reply.text)
    if reply.text.startswith("[SUCCESS]\n"):
        return "SUCCESS"
    match = FAILURE.fullmatch(reply.text)
    assert match, reply.text
    return match.group("code")


# --- 1. under load, with a worker killed -------------------------------------------------------
# What happened in the database, read once the work is done: orders, charges, balances,
# tasks, emails (with their Message-IDs as the mail server sees them).
SNAPSHOT = """
import json
from django.db.models import Count
from django_tasks_db.models import DBTaskResult
from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.notifications.models import OutgoingEmail
from pressrun.notifications.tasks import message_id
from pressrun.orders.models import Order
ids = {publisher_ids!r}
orders = [
    dict(id=o.id, publisher=o.publisher_id, invoice=o.invoice, mode=o.mode, status=o.status,
         total=str(o.total_cost))
    for o in Order.objects.filter(publisher_id__in=ids)
]
charges = list(
    LedgerEntry.objects.filter(publisher_id__in=ids, order__isnull=False)
    .values('order_id').annotate(n=Count('id')).values_list('order_id', 'n')
)
tasks = [
    dict(path=t.task_path, kwargs=t.args_kwargs['kwargs'], status=t.status,
         workers=t.worker_ids)
    for t in DBTaskResult.objects.filter(task_path__in={tasks!r})
]
emails = [
    dict(id=e.id, order=e.order_id, to=e.to, status=e.status, message_id=message_id(e))
    for e in OutgoingEmail.objects.filter(publisher_id__in=ids)
]
balances = {{p.id: str(p.balance) for p in Publisher.objects.filter(id__in=ids)}}
print(json.dumps(dict(orders=orders, charges=charges, tasks=tasks, emails=emails,
                      balances=balances)))
"""

# Whether the work queued by the orders is done: orders not yet relayed to their follow-ups,
# tasks not yet finished, emails not sent.
PENDING = """
import json
from django_tasks_db.models import DBTaskResult
from pressrun.notifications.models import OutgoingEmail
from pressrun.orders.models import OrderEvent
print(json.dumps([
    OrderEvent.objects.filter(relay_pending=True).count(),
    DBTaskResult.objects.filter(task_path__in={tasks!r})
    .exclude(status__in=['SUCCESSFUL', 'FAILED']).count(),
    OutgoingEmail.objects.exclude(status='sent').count(),
]))
"""


@dataclass
class Job:
    """Requests the client sends: one order, or copies of one order sent at once."""

    publisher: Account
    invoice: str
    copies: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    placed: list[dict[str, str]] = field(default_factory=list)


def _run_job(job: Job, client: RoundRobin) -> None:
    fields = order_fields(job.publisher, job.invoice, **job.extra)
    targets = client.next_targets(job.copies)
    barrier = threading.Barrier(job.copies)
    replies: list[Reply | BaseException | None] = [None] * job.copies

    def one(index: int) -> None:
        try:
            if job.copies > 1:
                barrier.wait(timeout=60)
            replies[index] = send(targets[index], ORDER, fields=fields, timeout=120)
        except BaseException as exc:  # reported by the caller
            replies[index] = exc

    if job.copies == 1:
        one(0)
    else:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(job.copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
    for reply in replies:
        if not isinstance(reply, Reply):
            raise AssertionError(f"{job.invoice}: {reply!r}")
        code = _code(reply)
        job.codes.append(code)
        if code == "SUCCESS":
            job.placed.append(success(reply))


def _drive(jobs: list[Job], client: RoundRobin, *, threads: int) -> None:
    """Run the jobs on `threads` client threads; any error is raised here."""
    queue = list(jobs)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                job = queue.pop()
            try:
                _run_job(job, client)
            except BaseException as exc:
                with lock:
                    errors.append(exc)

    running = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    if errors:
        raise errors[0]


def _kill_while_running_a_task(cluster: Cluster, victim: Machine) -> None:
    """SIGKILL `victim` in the middle of one of the orders' tasks. A kill from outside cannot
    be timed to land there, so the victim is frozen (SIGSTOP) and the database asked whether
    a task is RUNNING under its id: if one still is a moment later, the victim is killed
    frozen, mid-task; if not, it is thawed and asked again. (A statement the victim sent just
    before it froze, the one that finishes the task, may still land: the second look lets
    it, so the task killed is one the victim can no longer finish.)"""
    import psycopg

    table = cluster.shell_json(
        "import json; from django_tasks_db.models import DBTaskResult; "
        "print(json.dumps(DBTaskResult._meta.db_table))"
    )
    query = (
        f'SELECT id FROM "{table}" '
        "WHERE status = 'RUNNING' AND task_path = ANY(%s) AND worker_ids ->> -1 = %s"
    )
    parts = urlsplit(cluster.database_url)
    url = urlunsplit(parts._replace(scheme="postgresql"))
    victim_id = worker_id(victim)
    deadline = time.monotonic() + 120
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            os.kill(victim.process.pid, signal.SIGSTOP)

            def running() -> set[str]:
                rows = connection.execute(query, [list(ORDER_TASKS), victim_id]).fetchall()
                return {str(task_id) for (task_id,) in rows}

            if running():
                time.sleep(0.3)
                if running():
                    os.kill(victim.process.pid, signal.SIGKILL)
                    break
            os.kill(victim.process.pid, signal.SIGCONT)
            if time.monotonic() > deadline:
                pytest.fail(f"worker {victim_id} was never seen running a task")
            time.sleep(0.01)
    assert victim.process.wait(timeout=30) == -signal.SIGKILL


def _wait_until_settled(cluster: Cluster) -> None:
    code = PENDING.format(tasks=ORDER_TASKS)
    deadline = time.monotonic() + SETTLE_SECONDS
    pending = cluster.shell_json(code)
    while pending != [0, 0, 0]:
        if time.monotonic() > deadline:
            pytest.fail(
                f"orders unrelayed, tasks unfinished, emails unsent after {SETTLE_SECONDS} s: "
                f"{pending}\n" + "\n".join(f"--- {m.name}\n{_read(m.log)}" for m in cluster.workers)
            )
        time.sleep(1)
        pending = cluster.shell_json(code)


def test_two_servers_two_workers_one_database_under_load_with_a_worker_killed(
    cluster: Cluster,
) -> None:
    admin = cluster.admin
    # A publisher whose customers get the order notification (tasks: the notification, its
    # send, the address check), and one whose balance covers exactly 10 of its 30 orders
    # ($4.50 + $1.50 letter each), so concurrent debits race for the last dollars.
    notified = admin.create_publisher(balance="5000.00")
    tight = admin.create_publisher(balance="60.00")
    jobs: list[Job] = []
    for number in range(100):
        buyer = f"buyer-{number}-{notified.id}@example.com"
        extra = {"email": buyer, "bSendOrderNotificationEmail": "1"}
        jobs.append(Job(notified, admin.unique("LOAD"), extra=extra))
    for _ in range(30):
        jobs.append(Job(tight, admin.unique("TIGHT"), extra={"bSendOrderNotificationEmail": "0"}))
    # The same invoice four times at once, two copies to each server (a script retrying on
    # two connections, a load balancer spreading them).
    for number in range(10):
        buyer = f"repeat-{number}-{notified.id}@example.com"
        extra = {"email": buyer, "bSendOrderNotificationEmail": "1"}
        jobs.append(Job(notified, admin.unique("SAME"), copies=4, extra=extra))
    random.Random(12).shuffle(jobs)

    client = RoundRobin(cluster.servers)
    victim, survivor = cluster.workers
    first, rest = jobs[:40], jobs[40:]
    _drive(first, client, threads=6)
    # The load goes on while one worker is killed in the middle of a task.
    killer = threading.Thread(target=_kill_while_running_a_task, args=(cluster, victim))
    killer.start()
    _drive(rest, client, threads=6)
    killer.join()
    assert victim.process.returncode == -signal.SIGKILL
    victim_id, survivor_id = worker_id(victim), worker_id(survivor)

    # Every single order was placed; of each repeated invoice exactly one copy.
    for job in jobs:
        expected = ["SUCCESS"] if job.copies == 1 else ["000035"] * 3 + ["SUCCESS"]
        assert sorted(job.codes) == expected, (job.invoice, job.codes)
    placed = {job.invoice: job.placed[0] for job in jobs}
    tight_statuses = Counter(placed[j.invoice]["Status"] for j in jobs if j.publisher == tight)
    assert tight_statuses == {"PROCESSING": 10, "HOLD": 20}
    assert {placed[j.invoice]["Status"] for j in jobs if j.publisher == notified} == {"PROCESSING"}

    _wait_until_settled(cluster)
    snapshot = cluster.shell_json(
        SNAPSHOT.format(publisher_ids=[notified.id, tight.id], tasks=ORDER_TASKS)
    )

    # Every [SUCCESS] order exists once, under the number and total its reply gave.
    orders = snapshot["orders"]
    assert len(orders) == len(jobs) == 140
    by_invoice = {order["invoice"]: order for order in orders}
    assert len(by_invoice) == len(orders)  # no invoice twice
    for invoice, reply in placed.items():
        order = by_invoice[invoice]
        assert str(order["id"]) == reply["Order"]
        assert (order["mode"], order["status"]) == ("prod", reply["Status"])
        assert f"${Decimal(order['total']):.2f}" == reply["Total"]

    # Each paid order is charged once, a HOLD order not at all, and the balances are exact.
    charges = dict(snapshot["charges"])
    paid = {order["id"] for order in orders if order["status"] == "PROCESSING"}
    assert charges == dict.fromkeys(paid, 1)
    spent: dict[int, Decimal] = Counter()
    for order in orders:
        if order["id"] in paid:
            spent[order["publisher"]] += Decimal(order["total"])
    assert (
        Decimal(snapshot["balances"][str(notified.id)]) == Decimal("5000.00") - spent[notified.id]
    )
    assert spent[notified.id] == Decimal("660.00")  # 110 orders of $6.00
    assert Decimal(snapshot["balances"][str(tight.id)]) == Decimal("0.00")

    # Every task the orders queued finished, once: one result per order (or email), each
    # run by one worker, but the task the killed worker was in, run again by the other.
    tasks = snapshot["tasks"]
    assert {task["status"] for task in tasks} == {"SUCCESSFUL"}, tasks
    per_subject = Counter((task["path"], json.dumps(task["kwargs"])) for task in tasks)
    assert set(per_subject.values()) == {1}, per_subject
    notification_orders = sorted(
        task["kwargs"]["order_id"] for task in tasks if task["path"] == ORDER_TASKS[0]
    )
    checked_orders = sorted(
        task["kwargs"]["order_id"] for task in tasks if task["path"] == ORDER_TASKS[2]
    )
    sent_emails = sorted(
        task["kwargs"]["email_id"] for task in tasks if task["path"] == ORDER_TASKS[1]
    )
    hold_orders = {order["id"] for order in orders if order["status"] == "HOLD"}
    notified_orders = {order["id"] for order in orders if order["publisher"] == notified.id}
    # The notification for each order of the notified publisher, the HOLD reminder for each
    # HOLD order; the address check for each paid one.
    assert notification_orders == sorted(notified_orders | hold_orders)
    assert checked_orders == sorted(paid)
    emails = snapshot["emails"]
    assert sent_emails == sorted(email["id"] for email in emails)
    runs = Counter(tuple(task["workers"]) for task in tasks)
    taken_over = [task for task in tasks if len(task["workers"]) > 1]
    [taken] = taken_over
    assert taken["workers"] == [victim_id, survivor_id], taken
    # The survivor ran tasks of its own; the victim may have finished none before it was
    # caught (the kill lands in the first task it is seen running, possibly its first).
    assert set(runs) - {(victim_id,)} == {(survivor_id,), (victim_id, survivor_id)}, runs

    # Each customer got one notification; every email reached the mail server once, or
    # twice only when it was the killed worker's own send (docs/emails.md, "Delivery
    # guarantees": the server had accepted it before the worker could mark it sent).
    customers = Counter(email["to"] for email in emails if email["order"] in notified_orders)
    assert len(customers) == 110
    assert set(customers.values()) == {1}
    received = Counter(
        str(message_from_bytes(raw, policy=policy.default)["Message-ID"])
        for _, raw in cluster.inbox.received
    )
    expected_ids = {email["message_id"] for email in emails}
    assert set(received) == expected_ids
    assert all(email["status"] == "sent" for email in emails)
    send_workers = {
        task["kwargs"]["email_id"]: task["workers"]
        for task in tasks
        if task["path"] == ORDER_TASKS[1]
    }
    for email in emails:
        copies = received[email["message_id"]]
        if copies != 1:
            assert copies == 2, email
            assert send_workers[email["id"]] == [victim_id, survivor_id], email

    # The processes left standing are healthy: nothing failed on any machine.
    for machine in [*cluster.servers, survivor]:
        assert machine.process.poll() is None, _read(machine.log)
        assert "Traceback" not in _read(machine.log), _read(machine.log)


# --- 2. the credential cache across machines ----------------------------------------------------
class Browser:
    """A dashboard session (cookies kept), on whichever server it is pointed at."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, url: str) -> tuple[str, str]:
        with self.opener.open(url, timeout=60) as response:
            return response.geturl(), response.read().decode()

    def submit(self, url: str, form: dict[str, str]) -> tuple[str, str]:
        _, page = self.get(url)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page[:2000]
        data = urlencode({"csrfmiddlewaretoken": html.unescape(token.group(1)), **form})
        request = urllib.request.Request(url, data=data.encode(), method="POST")
        with self.opener.open(request, timeout=60) as response:  # follows the redirect
            return response.geturl(), response.read().decode()


def _gateway_calls(
    servers: list[Machine], account: Account, password: str, admin: LiveService
) -> list[tuple[str, str]]:
    """An order and a status call with `password` on each server, several at once (so
    each web process of each server takes part); (server, outcome) for each."""
    calls: list[tuple[Machine, Callable[[], Reply]]] = []
    for server in servers:
        for _ in range(4):
            fields = order_fields(account, admin.unique("PW"), CoLoginPassword=password)
            calls.append((server, lambda s=server, f=fields: send(_on(s), ORDER, fields=f)))
            status = status_fields(account, "NOT-AN-INVOICE", password=password)
            calls.append((server, lambda s=server, f=status: send(_on(s), STATUS, fields=f)))
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, str] | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        server, call = calls[index]
        try:
            barrier.wait(timeout=60)
            reply = call()
            if reply.content_type.startswith("text/plain"):
                outcomes[index] = (server.name, _code(reply))
            else:
                outcomes[index] = (server.name, "ErrorNum " + sections(reply)[0]["ErrorNum"])
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    return [outcome for outcome in outcomes if isinstance(outcome, tuple)]


@pytest.mark.parametrize("cache", ["redis", "per-process"])
def test_a_password_changed_on_one_machine_stops_the_old_one_on_the_other_at_once(
    cluster: Cluster, cache: str
) -> None:
    admin = cluster.admin
    account = admin.create_publisher(balance="100.00")
    new_password = f"new-{account.password}"

    def credential_keys() -> set[str]:
        return {key for key in redis.redis_keys(cluster.redis_port) if ":cred:" in key}

    # Other tests' publishers may have entries of their own.
    earlier = credential_keys()
    with contextlib.ExitStack() as stack:
        if cache == "redis":
            servers = cluster.servers
        else:
            # Two more app machines on the same database, each process with its own cache.
            servers = [
                _started(stack, cluster, f"{name}-{account.id}") for name in ("app3", "app4")
            ]
        first, second = servers

        accepted = Counter(_gateway_calls(servers, account, account.password, admin))
        assert accepted == {
            (first.name, "SUCCESS"): 4,
            (first.name, "ErrorNum 300"): 4,
            (second.name, "SUCCESS"): 4,
            (second.name, "ErrorNum 300"): 4,
        }
        if cache == "redis":
            # The verified login is one entry in Redis, shared by every process.
            [cached] = credential_keys() - earlier

        # The password is changed in the first machine's dashboard.
        browser = Browser()
        url, _ = browser.submit(
            first.url("/sign-in"), {"email": account.email, "password": account.password}
        )
        assert url == first.url("/home")
        url, page = browser.submit(
            first.url("/settings/password"),
            {
                "current_password": account.password,
                "new_password": new_password,
                "new_password_again": new_password,
            },
        )
        assert url == first.url("/settings"), page[:2000]
        assert "Your password is changed." in page
        # The session is the database's: the second machine knows it too.
        url, _ = browser.get(second.url("/settings"))
        assert url == second.url("/settings")

        # At once, on both machines, in every process: the old password is refused...
        refused = Counter(_gateway_calls([second, first], account, account.password, admin))
        assert refused == {
            (first.name, "000601"): 4,
            (first.name, "ErrorNum 200"): 4,
            (second.name, "000601"): 4,
            (second.name, "ErrorNum 200"): 4,
        }
        if cache == "redis":
            # ...and its stale entry was dropped from the shared cache by the first refusal.
            assert credential_keys() - earlier == set()
        # ...and the new one works.
        accepted = Counter(_gateway_calls([second, first], account, new_password, admin))
        assert accepted == {
            (first.name, "SUCCESS"): 4,
            (first.name, "ErrorNum 300"): 4,
            (second.name, "SUCCESS"): 4,
            (second.name, "ErrorNum 300"): 4,
        }
        if cache == "redis":
            [renewed] = credential_keys() - earlier
            assert renewed != cached


def _started(stack: contextlib.ExitStack, cluster: Cluster, name: str) -> Machine:
    """A further app machine without Redis (each of its processes caches on its own),
    stopped when `stack` closes."""
    server = cluster.start("serve", name, without=("PRESSRUN_REDIS_URL",))
    stack.callback(_stop_checked, server)
    return server


def _stop_checked(server: Machine) -> None:
    _stop(server.process)
    assert "Traceback" not in _read(server.log), _read(server.log)


# --- 3. sign-in throttling across machines -----------------------------------------------------
def test_wrong_passwords_are_counted_across_machines(cluster: Cluster) -> None:
    """The throttle's count is the database's: five free failures for one account from one
    address in all, not five per machine."""
    admin = cluster.admin
    account = admin.create_publisher(projects=())
    first, second = cluster.servers
    codes = []
    for attempt in range(6):
        server = (first, second)[attempt % 2]
        fields = order_fields(account, admin.unique("GUESS"), CoLoginPassword=f"guess-{attempt}")
        codes.append((server.name, _code(send(_on(server), ORDER, fields=fields))))
    assert codes == [
        (first.name, "000601"),
        (second.name, "000601"),
        (first.name, "000601"),
        (second.name, "000601"),
        (first.name, "000601"),
        (second.name, "000602"),
    ]
    status = status_fields(account, "ANY", password="guess-6")
    [section] = sections(send(_on(first), STATUS, fields=status))
    assert section["ErrorNum"] == "210"
