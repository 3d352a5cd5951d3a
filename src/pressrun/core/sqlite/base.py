"""Django's SQLite backend, with write transactions queued on a file lock.

SQLite has one write lock per database. A writer that finds it taken waits in SQLite's busy
handler, which sleeps 1, 2, 5 … 50, then 100 ms between attempts: a writer that has waited a
while keeps sleeping while the lock is free, and newcomers overtake it. Under load (a burst
of cart webhooks while the worker places orders, many gateway orders at once) that gives
waits of seconds for a lock that is only ever held for a millisecond or two.

Here every transaction that Django opens (`BEGIN IMMEDIATE`, which takes SQLite's write lock
at once) first takes an exclusive `flock` on `<database>.write-lock`, and gives it back at
commit, rollback or close. Waiters block in the kernel and wake the moment it is released,
across threads (each connection opens its own file description) and processes (web server,
worker, commands). SQLite's own lock and busy timeout stay as they are, for writes made
outside a transaction and for other programs that open the database. A process that dies
releases its lock with its file descriptors. In-memory databases (the unit tests) have no
other writers and take no lock.

Checkpoints are run outside the lock, and off the committing thread. In WAL mode SQLite
copies the log back into the database (a checkpoint: page copies and two fsyncs, tens of
milliseconds) whenever a commit finds the log past 1,000 pages, inside that COMMIT, so the
connection that happens to commit then would hold the file lock, and every other writer would
wait, for the whole checkpoint. These connections instead ask for a PASSIVE checkpoint after
every `CHECKPOINT_EVERY_COMMITS`-th transaction they commit, once the lock is released: it
takes no write lock, so writers go on meanwhile (docs/performance.md, "the write path"). The
process's checkpoint thread runs it on a connection of its own (`_Checkpointer`), so the
thread that committed (a serving process's event loop) does not wait for its fsyncs either
(docs/performance.md, "tenth round"). A PASSIVE checkpoint copies the log as it was when it
began, and writers keep adding to it meanwhile: under steady writes the log was never all
copied when a writer began, so it never started again from its beginning until SQLite's own
checkpoint, past `AUTOCHECKPOINT_PAGES`, ran inside some writer's COMMIT with the lock held
(13 to 14 ms at a time, every few hundred orders). Once the log is past `RESTART_LOG_PAGES`
and a checkpoint copied all of it as it was, the thread therefore copies what it gained
meanwhile holding the file lock (a millisecond or two), and the next writer starts the log
again, unless a reader is still using it then (docs/performance.md, "thirteenth round").
SQLite's own checkpoint stays as a backstop for writes made outside transactions, at a log
ten times its default size (`wal_autocheckpoint`). Another program that opens the database
keeps SQLite's own defaults.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base

logger = logging.getLogger(__name__)

# About 3,000 pages of log per connection between checkpoints at intake's ~30 pages an order;
# SQLite's own default is 1,000 pages.
CHECKPOINT_EVERY_COMMITS = 100
AUTOCHECKPOINT_PAGES = 10_000
# Past this many pages in the log, the checkpoint thread lets the log start again
# (`_Checkpointer._let_log_restart`; why, in this module's docstring).
RESTART_LOG_PAGES = 4_000


class WriteLock:
    """An exclusive lock on a file, held by one connection at a time.

    `held_seconds` and `holds` add up how long and how often this connection held it (two
    clock reads per transaction): the benchmark's census divides them by the orders written
    to report the write-lock time per order, which bounds throughput on one database.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self.held = False
        self._taken_at = 0.0
        self.held_seconds = 0.0
        self.holds = 0

    def acquire(self) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.held = True
        self._taken_at = time.perf_counter()

    def release(self) -> None:
        if self.held and self._fd is not None:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self.held_seconds += time.perf_counter() - self._taken_at
            self.holds += 1

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Checkpointer:
    """This process's checkpoint thread: `request(path)` asks for a PASSIVE checkpoint of
    the database at `path` and returns at once; the thread runs it on its own connection,
    one request at a time (requests made meanwhile for the same database are one). A
    checkpoint that finds another running, or the database busy, is skipped: the next one
    catches up. Started on the first request in each process, and again should it have
    died. Nothing here may fail the commit that asked: should no thread start, SQLite's own
    checkpoint (`AUTOCHECKPOINT_PAGES`) takes over, inside a COMMIT."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # How long this process's checkpoint thread held the write lock, and how often (the
        # benchmark's census counts it with the orders' own lock time).
        self.held_seconds = 0.0
        self.locked_passes = 0
        self._lock = threading.Lock()
        self._wanted: set[str] = set()
        self._asked = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._warned: set[str] = set()

    def request(self, path: str) -> None:
        try:
            with self._lock:
                self._wanted.add(path)
                self._idle.clear()
                if self._thread is None or not self._thread.is_alive():
                    thread = threading.Thread(
                        target=self._run, name="pressrun-sqlite-checkpoint", daemon=True
                    )
                    thread.start()
                    self._thread = thread
            self._asked.set()
        except Exception:  # no thread to be had (the interpreter shutting down, a limit)
            logger.warning("SQLite checkpoint thread not started", exc_info=True)

    def _run(self) -> None:
        connections: dict[str, sqlite3.Connection] = {}
        write_locks: dict[str, WriteLock] = {}
        while True:
            self._asked.wait()
            self._asked.clear()
            with self._lock:
                paths, self._wanted = self._wanted, set()
            for path in paths:
                try:
                    database = connections.get(path)
                    if database is None:
                        database = connections[path] = _open_for_checkpoints(path)
                    busy, in_log, copied = database.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchall()[0]
                    if busy == 0 and copied == in_log >= RESTART_LOG_PAGES:
                        lock = write_locks.get(path)
                        if lock is None:
                            lock = write_locks[path] = WriteLock(write_lock_path(path))
                        self._let_log_restart(database, lock)
                except sqlite3.OperationalError as error:
                    if path not in connections or "unable to open" in str(error):
                        self._warn_once(path)
                    # Else another checkpoint running, or the database busy: the next one
                    # catches up.
                    logger.debug("checkpoint skipped", exc_info=True)
                except Exception:
                    self._warn_once(path)
            with self._lock:
                if not self._wanted:
                    self._idle.set()

    def _let_log_restart(self, database: sqlite3.Connection, lock: WriteLock) -> None:
        """After a checkpoint that copied the log as it was when it began: the pages writers
        added meanwhile copied with the write lock held (a PASSIVE checkpoint waits for
        nothing), so the whole log is in the database when the next writer begins, which
        then starts the log again at its beginning, unless a reader still uses the log then
        (the next time, it may not). A first copy that a reader held back is not finished
        here: under the lock, that could take as long as the checkpoint inside a COMMIT
        this replaces. The thread may wait here for a long transaction; writers never wait
        for it."""
        held = lock.held_seconds
        lock.acquire()
        try:
            database.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            lock.release()
            self.held_seconds += lock.held_seconds - held
            self.locked_passes += 1

    def _warn_once(self, path: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            logger.warning("SQLite checkpoint of %s failed", path, exc_info=True)

    def wait_idle(self, timeout: float) -> bool:
        """Whether every checkpoint asked for has run within `timeout` seconds."""
        return self._idle.wait(timeout)


def write_lock_path(name: str) -> str:
    """The file whose lock every write transaction on the database `name` (its NAME setting)
    holds, and the checkpoint thread while it lets the log start again."""
    return f"{name}.write-lock"


def _open_for_checkpoints(path: str) -> sqlite3.Connection:
    """A connection to the existing database at `path` (a file name, or a `file:` URI as
    Django's connections take it): never creates one (`mode=rw`)."""
    uri = path if path.startswith("file:") else f"{Path(path).resolve().as_uri()}?mode=rw"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


_checkpointer = _Checkpointer()
# A child forked while the thread held its lock, or without the thread: its own, afresh.
# (No process forks while its thread is inside SQLite or holds the write lock: `pressrun
# serve`'s parent forks its workers before it commits anything, and the task worker does not
# fork. A child forked while the thread held the write lock would hold it too, through the
# file description it inherits, for as long as it lives.)
os.register_at_fork(after_in_child=_checkpointer._reset)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock: WriteLock | None = None
        self._commits_since_checkpoint = 0

    def get_new_connection(self, conn_params: Any) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            connection.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        return connection

    def _lock(self) -> WriteLock | None:
        if self._write_lock is None and not self.is_in_memory_db():
            self._write_lock = WriteLock(write_lock_path(str(self.settings_dict["NAME"])))
        return self._write_lock

    def _start_transaction_under_autocommit(self) -> None:
        lock = self._lock()
        if lock is not None:
            lock.acquire()
        try:
            if self.queries_logged or self.execute_wrappers:
                # Watched (the tests' captured queries, the census): through Django's cursor,
                # so the BEGIN is seen like any other statement.
                super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in the stubs
            else:
                # As Django's own, without its cursor wrapper: this runs with the write lock
                # held, as does everything up to COMMIT (docs/performance.md, "tenth round").
                with self.wrap_database_errors:
                    self.connection.execute(self._begin_statement)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @property
    def _begin_statement(self) -> str:
        mode = self.transaction_mode  # type: ignore[attr-defined]  # not in the stubs
        return "BEGIN" if mode is None else f"BEGIN {mode}"

    def _release_write_lock(self) -> None:
        if self._write_lock is not None:
            self._write_lock.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # not in the stubs
        finally:
            self._release_write_lock()
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint >= CHECKPOINT_EVERY_COMMITS:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Have the log copied into the database as far as readers allow, without the write
        lock, by this process's checkpoint thread."""
        self._commits_since_checkpoint = 0
        if self.connection is None or self._write_lock is None:
            return
        _checkpointer.request(str(self.settings_dict["NAME"]))

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the driver's connection, for a process that runs nothing
        but such transactions (the SQLite writer, core/sqlite/writer.py): the file lock and
        `BEGIN IMMEDIATE`, `COMMIT` at the end of the block (`ROLLBACK` if it raises) and
        the checkpoints as for Django's transactions, without Django's transaction
        machinery around them (about a tenth of the writer's work)."""
        if not self.get_autocommit():
            raise RuntimeError("write_transaction() inside another transaction")
        self.ensure_connection()
        raw: sqlite3.Connection = self.connection
        lock = self._lock()
        if lock is not None:
            lock.acquire()
        try:
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield raw
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise
        finally:
            self._release_write_lock()
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint >= CHECKPOINT_EVERY_COMMITS:
            self._checkpoint()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # not in the stubs
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # not in the stubs
        finally:
            if self._write_lock is not None:
                self._write_lock.close()
                self._write_lock = None
