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
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any

from django.db.backends.sqlite3 import base


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


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock: WriteLock | None = None

    def _lock(self) -> WriteLock | None:
        if self._write_lock is None and not self.is_in_memory_db():
            self._write_lock = WriteLock(f"{self.settings_dict['NAME']}.write-lock")
        return self._write_lock

    def _start_transaction_under_autocommit(self) -> None:
        lock = self._lock()
        if lock is not None:
            lock.acquire()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in the stubs
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def _release_write_lock(self) -> None:
        if self._write_lock is not None:
            self._write_lock.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # not in the stubs
        finally:
            self._release_write_lock()

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
