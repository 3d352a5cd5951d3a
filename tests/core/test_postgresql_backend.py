"""The PostgreSQL backend's health check of a kept connection (core/postgresql): no round
trip while the connection is quiet, and a connection the server ended is replaced before a
request's first statement, as with Django's `SELECT 1`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.backends.postgresql import base as django_postgresql

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the PostgreSQL backend's check; SQLite's connection is a file",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _fresh_connection_afterwards() -> Iterator[None]:
    # A test here ends or poisons its connection on purpose; whatever it leaves, the next
    # test (and this test's own database flush) start on a new one.
    yield
    connection.close()


def _server_url() -> str:
    database = settings.DATABASES["default"]
    user, host, port = database["USER"], database["HOST"], database["PORT"]
    return f"postgresql://{user}@{host}:{port or 5432}/{database['NAME']}"


def _asked_the_server(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    asked: list[bool] = []
    original = django_postgresql.DatabaseWrapper.is_usable

    def select_one(self: Any) -> bool:
        asked.append(True)
        return bool(original(self))

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", select_one)
    return asked


def _start_request() -> None:
    # What Django does when a request starts: the next statement checks the connection.
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def test_a_quiet_connection_is_usable_without_a_statement(monkeypatch: pytest.MonkeyPatch):
    connection.ensure_connection()
    kept = connection.connection
    asked = _asked_the_server(monkeypatch)
    for _ in range(3):
        _start_request()
    assert asked == []
    assert connection.connection is kept
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)


def _end_from_the_server(pid: int) -> None:
    # pg_terminate_backend only signals the backend; it is gone once it no longer appears
    # in pg_stat_activity, and its goodbye is then on the socket.
    deadline = time.monotonic() + 30
    with psycopg.connect(_server_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        while time.monotonic() < deadline:
            gone = admin.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", [pid]
            ).fetchone()
            if gone and gone[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} still running 30 s after pg_terminate_backend")


def test_a_connection_the_server_ended_is_replaced(monkeypatch: pytest.MonkeyPatch):
    connection.ensure_connection()
    ended = connection.connection
    ended_pid = ended.info.backend_pid
    _end_from_the_server(ended_pid)
    asked = _asked_the_server(monkeypatch)
    # The server's goodbye is on the socket: the check asks the server, which fails, and
    # the connection is closed; the request's statement gets a new one.
    deadline = time.monotonic() + 10
    while not asked and time.monotonic() < deadline:
        _start_request()
        if not asked:
            time.sleep(0.01)
    assert asked == [True]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not ended
    assert connection.connection.info.backend_pid != ended_pid


def test_a_connection_inside_a_transaction_is_asked(monkeypatch: pytest.MonkeyPatch):
    connection.ensure_connection()
    asked = _asked_the_server(monkeypatch)
    connection.connection.execute("BEGIN")
    try:
        assert connection.is_usable()
        assert asked == [True]
    finally:
        connection.connection.execute("ROLLBACK")
