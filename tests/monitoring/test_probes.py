"""/healthz and /readyz: each readiness check passes and fails on its own, the answer names
it, and the probes are cheap, unauthenticated, read-only and reachable the way probes ask."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from pressrun.core.models import WorkerHeartbeat
from pressrun.core.tasks import housekeeping
from pressrun.monitoring import readiness, views
from pressrun.orders.models import OrderEvent
from tests import intake

pytestmark = pytest.mark.django_db

READY = (
    "ready\n"
    "database: ok (answers)\n"
    "migrations: ok (all applied)\n"
    "worker: ok (1 alive)\n"
    "task queue: ok (0 due, the oldest waiting 0 s)\n"
)


@pytest.fixture(autouse=True)
def _migrations_not_yet_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new process: the migrations are checked afresh.
    monkeypatch.setattr(readiness, "_migrations_seen_applied", False)


# One instant for the rows a test writes and the probe's reading of them: the ages the body
# prints are then exact however slowly the machine runs the test.
NOW = timezone.now()


@pytest.fixture(autouse=True)
def _probe_clock_at_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # The view's own clock, and only the view's: it still hands its time to the checks.
    monkeypatch.setattr(views, "timezone", SimpleNamespace(now=lambda: NOW))


def beat(*, seconds_ago: float = 0, worker_id: str = "host-1-abc") -> None:
    now = NOW
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": "host",
            "pid": 1,
            "started_at": now - timedelta(hours=1),
            "last_seen": now - timedelta(seconds=seconds_ago),
        },
    )


def probe(path: str, **extra: Any) -> Any:
    return Client().get(path, **extra)


def test_healthz_answers_without_asking_the_database() -> None:
    with CaptureQueriesContext(connection) as queries:
        response = probe("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    assert len(queries) == 0
    # The older path answers the same.
    assert (probe("/health").status_code, probe("/health").content) == (200, b"ok\n")


def test_readyz_with_a_live_worker_and_nothing_waiting_is_ready() -> None:
    beat(seconds_ago=2)
    response = probe("/readyz")
    assert response.status_code == 200
    assert response.content.decode() == READY


def test_readyz_without_any_worker_heartbeat_is_503_naming_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = probe("/readyz")
    assert response.status_code == 503
    assert response.content.decode() == (
        "not ready\n"
        "database: ok (answers)\n"
        "migrations: ok (all applied)\n"
        "worker: FAILING (no `pressrun worker` has ever sent a heartbeat)\n"
        "task queue: ok (0 due, the oldest waiting 0 s)\n"
    )
    # The 503 is the answer asked for, not a fault: nothing is logged as an error.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_readyz_with_a_stale_heartbeat_is_503(settings: Any) -> None:
    settings.WORKER_DEAD_AFTER_SECONDS = 30
    beat(seconds_ago=45)
    response = probe("/readyz")
    assert response.status_code == 503
    assert "worker: FAILING (no heartbeat for 45 s (a worker counts as alive for 30 s" in (
        response.content.decode()
    )
    beat(seconds_ago=29)
    assert probe("/readyz").status_code == 200


def test_readyz_with_a_task_waiting_too_long_is_503(settings: Any) -> None:
    settings.READY_MAX_TASK_WAIT_SECONDS = 300
    beat()
    housekeeping.enqueue()
    DBTaskResult.objects.update(enqueued_at=NOW - timedelta(seconds=400))
    response = probe("/readyz")
    assert response.status_code == 503
    assert response.content.decode() == (
        "not ready\n"
        "database: ok (answers)\n"
        "migrations: ok (all applied)\n"
        "worker: ok (1 alive)\n"
        "task queue: FAILING (1 due, the oldest waiting 400 s (more than 300 s: "
        "PRESSRUN_READY_MAX_TASK_WAIT_SECONDS))\n"
    )


def test_a_placed_order_the_workers_have_not_relayed_counts_as_waiting(
    settings: Any, make_publisher: Any, make_project: Any
) -> None:
    settings.READY_MAX_TASK_WAIT_SECONDS = 300
    beat()
    publisher = make_publisher(balance="100")
    intake.place(publisher, [(make_project(publisher), 1)], invoice="R-1")
    OrderEvent.objects.filter(kind="placed").update(at=NOW - timedelta(seconds=200))
    response = probe("/readyz")
    assert response.status_code == 200
    assert "task queue: ok (0 due, 1 placed order(s) to relay, the oldest waiting 200 s)" in (
        response.content.decode()
    )
    # A relay that no worker runs (or that fails every time) stops being ready.
    OrderEvent.objects.filter(kind="placed").update(at=NOW - timedelta(seconds=400))
    response = probe("/readyz")
    assert response.status_code == 503
    assert response.content.decode().endswith(
        "task queue: FAILING (0 due, 1 placed order(s) to relay, the oldest waiting 400 s "
        "(more than 300 s: PRESSRUN_READY_MAX_TASK_WAIT_SECONDS))\n"
    )


def test_a_task_counts_as_waiting_only_from_its_run_after(settings: Any) -> None:
    settings.READY_MAX_TASK_WAIT_SECONDS = 300
    beat()
    now = NOW
    # Enqueued long ago to run later: a retry after its backoff, due in an hour.
    housekeeping.using(run_after=now + timedelta(hours=1)).enqueue()
    DBTaskResult.objects.update(enqueued_at=now - timedelta(days=1))
    assert probe("/readyz").content.decode() == READY
    # Due for 200 s now, though enqueued a day ago: within the limit.
    DBTaskResult.objects.update(run_after=now - timedelta(seconds=200))
    response = probe("/readyz")
    assert response.status_code == 200
    assert "task queue: ok (1 due, the oldest waiting 200 s)" in response.content.decode()


def test_readyz_with_a_migration_not_applied_is_503_naming_it() -> None:
    beat()
    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="orders").order_by("-id").first()
    assert last is not None
    # The database says it never ran (the test's transaction puts it back).
    recorder.record_unapplied("orders", last.name)
    response = probe("/readyz")
    assert response.status_code == 503
    assert (
        f"migrations: FAILING (1 not applied (first: orders.{last.name}); run `pressrun migrate`)\n"
    ) in response.content.decode()
    # Applied again, the next probe sees it, and from then on the check costs nothing.
    recorder.record_applied("orders", last.name)
    assert probe("/readyz").status_code == 200
    recorder.record_unapplied("orders", last.name)
    assert probe("/readyz").status_code == 200


def test_readyz_without_a_database_names_it_and_checks_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unreachable:
        def cursor(self) -> Any:
            raise OperationalError("connection to server at 10.0.0.9 failed: password ...")

    monkeypatch.setattr(readiness, "connection", Unreachable())
    response = probe("/readyz")
    assert response.status_code == 503
    assert response.content.decode() == (
        "not ready\n"
        "database: FAILING (unreachable (OperationalError))\n"
        "migrations: FAILING (not checked: the database is unreachable)\n"
        "worker: FAILING (not checked: the database is unreachable)\n"
        "task queue: FAILING (not checked: the database is unreachable)\n"
    )


def test_a_probe_reads_five_rows_at_most_and_writes_nothing() -> None:
    beat()
    probe("/readyz")  # learns that the migrations are applied
    with CaptureQueriesContext(connection) as queries:
        response = probe("/readyz")
    assert response.status_code == 200
    statements = [query["sql"].lstrip().upper() for query in queries]
    # SELECT 1, two of the heartbeats, the queued tasks, the unrelayed placed orders.
    assert len(statements) == 5, statements
    assert all(sql.startswith("SELECT") for sql in statements), statements


def test_probes_answer_any_host_name_and_are_never_throttled() -> None:
    beat()
    # Load balancers and orchestrators ask by the server's own address, not a public name.
    for host in ("10.0.0.5:8000", "pressrun-web-1", "[fd00::1]:8000"):
        assert probe("/healthz", HTTP_HOST=host).status_code == 200
        assert probe("/readyz", HTTP_HOST=host).status_code == 200
    client = Client()
    assert {client.get("/healthz").status_code for _ in range(100)} == {200}
    assert {client.get("/readyz").status_code for _ in range(20)} == {200}


def test_probes_are_answered_over_plain_http_when_published_on_https(settings: Any) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://orders.example.com"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    beat()
    for path in ("/healthz", "/health", "/readyz"):
        assert probe(path).status_code == 200, path
        assert probe(path, HTTP_X_FORWARDED_PROTO="https").status_code == 200, path


def test_probes_take_get_and_head_only() -> None:
    beat()
    client = Client()
    for path in ("/healthz", "/readyz"):
        assert client.head(path).status_code == 200
        assert client.post(path).status_code == 405
