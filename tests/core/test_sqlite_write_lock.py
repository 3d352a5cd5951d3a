"""The SQLite backend queues write transactions on a file lock (core/sqlite/base.py).

Each connection is the real backend on a database file; the threads stand for the web
server's threads, the worker and commands, which each open their own connections.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from pressrun.core.sqlite.base import DatabaseWrapper


@pytest.fixture(autouse=True)
def _own_databases(django_db_blocker: Any) -> Iterator[None]:
    # These connections are the tests' own, not the test database pytest-django guards.
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def handler(tmp_path: Path) -> Iterator[ConnectionHandler]:
    connections = ConnectionHandler(
        {"default": {"ENGINE": "pressrun.core.sqlite", "NAME": str(tmp_path / "db.sqlite3")}}
    )
    first = connections["default"]
    first.cursor().execute("CREATE TABLE t (n INTEGER)")
    yield connections
    connections.close_all()


def begin(connection: DatabaseWrapper) -> None:
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()


def insert_in_another_thread(
    handler: ConnectionHandler, n: int
) -> tuple[threading.Thread, threading.Event]:
    """Start a transaction in a new thread (its own connection); the event is set once
    BEGIN returned, and the thread then inserts `n` and commits."""
    began = threading.Event()

    def run() -> None:
        connection = handler["default"]
        begin(connection)
        began.set()
        connection.cursor().execute("INSERT INTO t VALUES (%s)", [n])
        connection.commit()
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, began


def lock_is_free(path: Path) -> bool:
    """Whether another process could take the write lock right now."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def rows(handler: ConnectionHandler) -> list[int]:
    with handler["default"].cursor() as cursor:
        cursor.execute("SELECT n FROM t ORDER BY rowid")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("finish", ["commit", "rollback", "close"])
def test_a_second_writer_waits_for_the_first_to_finish(
    handler: ConnectionHandler, tmp_path: Path, finish: str
) -> None:
    first = handler["default"]
    begin(first)
    first.cursor().execute("INSERT INTO t VALUES (1)")
    lock_file = tmp_path / "db.sqlite3.write-lock"
    assert not lock_is_free(lock_file)

    thread, began = insert_in_another_thread(handler, 2)
    assert not began.wait(0.5), "the second transaction began while the first held the lock"
    getattr(first, finish)()
    assert began.wait(10), "the second transaction did not begin after the first ended"
    thread.join(10)
    assert lock_is_free(lock_file)
    assert rows(handler) == ([1, 2] if finish == "commit" else [2])


def test_many_writers_each_commit_once(handler: ConnectionHandler) -> None:
    threads = [insert_in_another_thread(handler, n)[0] for n in range(20)]
    for thread in threads:
        thread.join(30)
    assert sorted(rows(handler)) == list(range(20))


def test_in_memory_databases_take_no_lock(tmp_path: Path) -> None:
    connections = ConnectionHandler(
        {"default": {"ENGINE": "pressrun.core.sqlite", "NAME": ":memory:"}}
    )
    connection = connections["default"]
    begin(connection)
    connection.cursor().execute("SELECT 1")
    connection.commit()
    assert connection._write_lock is None
    assert list(tmp_path.iterdir()) == []
    connections.close_all()


def test_checkpoints_run_after_the_lock_is_released(
    handler: ConnectionHandler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own checkpoint would run inside a COMMIT, with the file lock held; the backend
    checkpoints after every CHECKPOINT_EVERY_COMMITS-th commit, once the lock is free."""
    from pressrun.core.sqlite import base as sqlite_base

    monkeypatch.setattr(sqlite_base, "CHECKPOINT_EVERY_COMMITS", 3)
    connection = handler["default"]
    connection.cursor().execute("PRAGMA journal_mode=WAL")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (sqlite_base.AUTOCHECKPOINT_PAGES,)
    lock_path = tmp_path / "db.sqlite3.write-lock"
    seen: list[tuple[str, bool]] = []
    run_checkpoint = sqlite_base.DatabaseWrapper._checkpoint

    def checkpoint(self: DatabaseWrapper) -> None:
        seen.append(("checkpoint", lock_is_free(lock_path)))
        run_checkpoint(self)

    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "_checkpoint", checkpoint)
    for n in range(7):
        begin(connection)
        connection.cursor().execute("INSERT INTO t VALUES (%s)", [n])
        connection.commit()
    assert seen == [("checkpoint", True), ("checkpoint", True)]
    assert sqlite_base._checkpointer.wait_idle(10)
    # Every frame of the log can be copied into the database: no checkpoint left it stuck.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        busy, frames, copied = cursor.fetchone()
    assert busy == 0
    assert frames == copied
    assert rows(handler) == list(range(7))


def test_under_steady_writes_the_log_starts_again_without_sqlite_s_own_checkpoint(
    handler: ConnectionHandler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers that never pause: each checkpoint of the thread copies the log as it was when
    it began, while the writer adds to it, so the log was never all copied when a writer
    began and never started again, until it reached SQLite's own limit and SQLite
    checkpointed inside a COMMIT, the write lock held. Past RESTART_LOG_PAGES the thread
    copies the rest holding the lock, and the log starts again from its beginning: its file
    stays small, with SQLite's own checkpoint out of reach."""
    from pressrun.core.sqlite import base as sqlite_base

    monkeypatch.setattr(sqlite_base, "CHECKPOINT_EVERY_COMMITS", 10)
    monkeypatch.setattr(sqlite_base, "RESTART_LOG_PAGES", 100)
    held_by_the_thread: list[tuple[str, bool]] = []

    class Watched(sqlite_base.WriteLock):
        def acquire(self) -> None:
            super().acquire()
            if threading.current_thread().name == "pressrun-sqlite-checkpoint":
                held_by_the_thread.append((self.path, lock_is_free(Path(self.path))))

    monkeypatch.setattr(sqlite_base, "WriteLock", Watched)
    checkpointer = sqlite_base._Checkpointer()
    monkeypatch.setattr(sqlite_base, "_checkpointer", checkpointer)
    connection = handler["default"]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA wal_autocheckpoint=1000000")
        cursor.execute("CREATE TABLE pages (n INTEGER, data BLOB)")
    writes = 1500
    for n in range(writes):  # each a page of its own, at least
        begin(connection)
        connection.cursor().execute("INSERT INTO pages VALUES (%s, %s)", [n, bytes(3000)])
        connection.commit()
    assert checkpointer.wait_idle(10)
    assert checkpointer.locked_passes >= 1
    # The writers' own lock, which no other writer could take meanwhile.
    assert held_by_the_thread
    assert set(held_by_the_thread) == {(str(tmp_path / "db.sqlite3.write-lock"), False)}
    assert lock_is_free(tmp_path / "db.sqlite3.write-lock")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pages")
        assert cursor.fetchone() == (writes,)
        cursor.execute("PRAGMA page_size")
        (page_size,) = cursor.fetchone()
    # The log's file holds as many pages as the log ever held at once (it is reused, not
    # shrunk): without the locked copy every page written, about three a write (4,531
    # frames); with it usually about 130, and up to about 1,300 when this test's writer,
    # which takes the file lock again the moment it lets it go, keeps the thread waiting for
    # it for a few hundred commits (writers that do any work between their transactions
    # leave it free).
    frames_in_file = (tmp_path / "db.sqlite3-wal").stat().st_size // (page_size + 24)
    assert frames_in_file < writes


@pytest.mark.parametrize("watched", [False, True])
def test_a_transaction_begins_in_the_configured_mode_whether_watched_or_not(
    tmp_path: Path, watched: bool
) -> None:
    """BEGIN goes to the driver directly unless something watches the statements, which then
    see it as Django's own cursor would show it; either way in the configured mode:
    IMMEDIATE takes SQLite's write lock at BEGIN, before any statement."""
    path = tmp_path / "db.sqlite3"
    connections = ConnectionHandler(
        {
            "default": {
                "ENGINE": "pressrun.core.sqlite",
                "NAME": str(path),
                "OPTIONS": {"transaction_mode": "IMMEDIATE"},
            }
        }
    )
    connection = connections["default"]
    connection.cursor().execute("CREATE TABLE t (n INTEGER)")
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper) if watched else contextlib.nullcontext():
        begin(connection)
    other = sqlite3.connect(path, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO t VALUES (2)")
        connection.cursor().execute("INSERT INTO t VALUES (1)")
        connection.commit()
        other.execute("INSERT INTO t VALUES (2)")
        other.commit()
    finally:
        other.close()
    assert seen == (["BEGIN IMMEDIATE"] if watched else [])
    assert rows(connections) == [1, 2]
    connections.close_all()


def test_the_checkpoint_runs_on_the_process_s_checkpoint_thread(
    handler: ConnectionHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The committing thread (a serving process's event loop) only asks: the checkpoint
    thread copies the log into the database on its own connection, meanwhile."""
    from pressrun.core.sqlite import base as sqlite_base

    monkeypatch.setattr(sqlite_base, "CHECKPOINT_EVERY_COMMITS", 2)
    connection = handler["default"]
    connection.cursor().execute("PRAGMA journal_mode=WAL")
    ran_on: list[str] = []
    done = threading.Event()
    real_execute = sqlite3.Connection.execute

    class Watched(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            cursor = real_execute(self, sql, *args)
            if sql.startswith("PRAGMA wal_checkpoint"):
                ran_on.append(threading.current_thread().name)
                done.set()
            return cursor

    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite_base.sqlite3, "connect", lambda *a, **k: connect(*a, factory=Watched, **k)
    )
    checkpointer = sqlite_base._Checkpointer()
    monkeypatch.setattr(sqlite_base, "_checkpointer", checkpointer)
    for n in range(2):
        begin(connection)
        connection.cursor().execute("INSERT INTO t VALUES (%s)", [n])
        connection.commit()
    assert done.wait(10), "no checkpoint ran"
    assert checkpointer.wait_idle(10)
    assert ran_on == ["pressrun-sqlite-checkpoint"]
    # Every frame of the log was copied into the database by that checkpoint.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        busy, frames, copied = cursor.fetchone()
    assert (busy, frames) == (0, copied)
    assert rows(handler) == [0, 1]


def test_a_checkpoint_thread_that_cannot_start_fails_no_commit(
    handler: ConnectionHandler, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The commit has happened when the checkpoint is asked for: no failure to start the
    thread may reach its caller (a group commit would write its orders again)."""
    from pressrun.core.sqlite import base as sqlite_base

    monkeypatch.setattr(sqlite_base, "CHECKPOINT_EVERY_COMMITS", 1)
    checkpointer = sqlite_base._Checkpointer()
    monkeypatch.setattr(sqlite_base, "_checkpointer", checkpointer)

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    connection = handler["default"]
    with monkeypatch.context() as patched:
        patched.setattr(sqlite_base.threading.Thread, "start", refuse)
        begin(connection)
        connection.cursor().execute("INSERT INTO t VALUES (1)")
        connection.commit()
    assert "SQLite checkpoint thread not started" in caplog.text
    # The next request starts the thread, as the first would have.
    begin(connection)
    connection.cursor().execute("INSERT INTO t VALUES (2)")
    connection.commit()
    assert checkpointer.wait_idle(10)
    assert checkpointer._thread is not None
    assert checkpointer._thread.is_alive()
    assert rows(handler) == [1, 2]


def test_the_checkpoint_thread_creates_no_database(tmp_path: Path) -> None:
    from pressrun.core.sqlite import base as sqlite_base

    checkpointer = sqlite_base._Checkpointer()
    missing = tmp_path / "gone.sqlite3"
    checkpointer.request(str(missing))
    assert checkpointer.wait_idle(10)
    assert not missing.exists()
