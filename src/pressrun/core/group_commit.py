"""Group commit: the writes of a process's threads that arrive together share one transaction.

On SQLite every writer of every process waits while one transaction is open, so what an
order costs the whole installation is the time it holds the write lock. Taking the lock,
`BEGIN IMMEDIATE` and `COMMIT` (with its WAL write) are paid per transaction, not per order;
when several threads of a process have an order ready at the same moment, one of them (the
leader) writes them all in one transaction and the others wait for its result.

Leader and followers, no thread of its own: a thread that finds no batch being written
becomes the leader and writes its own work plus whatever the other threads queued while the
previous batch held the lock; the rest wait on a condition and wake with their own outcome.
A thread alone (one request in flight, the usual case at light load) writes its work at once,
exactly as without a group, paying only a mutex.

What every caller can rely on:

- its work runs in a transaction of its own or in a savepoint of the group's; when it raises,
  what it wrote is rolled back and the exception reaches the caller, while the others of its
  group go on;
- it learns its outcome only after the COMMIT that made it durable returned: a caller never
  sees a result whose rows are not committed. When the group's COMMIT fails (a deferred
  constraint one work broke), each work of the group runs again in a transaction of its own,
  so one work's fault is not another's: a work must be safe to run again after a rollback;
- works of one group run one after the other (the leader's first), each seeing what the
  earlier ones wrote (two orders with the same invoice in one group: the second hits the
  unique constraint in its savepoint, exactly as it would in the next transaction).

Work must only use the database through `django.db.connection` (the leader's thread runs it)
and must not rely on being called on its caller's thread. A caller already inside a
transaction (`connection.in_atomic_block`) has its work run at once in a savepoint of that
transaction: its rows must commit or roll back with the caller's.

Meant for SQLite. On PostgreSQL writers lock rows, not the database, so grouping would make
orders of unrelated publishers wait for each other and could order two groups' row locks
into a deadlock; settings enable it for SQLite only (`PRESSRUN_INTAKE_GROUP_COMMIT`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

T = TypeVar("T")


class _Work(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """One per process and kind of write: `run(work)` returns `work()`'s result once the
    transaction that ran it has committed, sharing that transaction with the works of other
    threads that arrived meanwhile (at most `max_group` works per transaction).

    `groups` and `grouped_works` count the transactions written and the works in them (the
    benchmark's census reads them)."""

    def __init__(self, max_group: int = 32) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self.max_group = max_group
        self._changed = threading.Condition(threading.Lock())
        self._queued: list[_Work[Any]] = []
        self._leading = False
        self.groups = 0
        self.grouped_works = 0

    def run(self, work: Callable[[], T]) -> T:
        if connection.in_atomic_block:
            with transaction.atomic():
                return work()
        mine: _Work[T] = _Work(work)
        with self._changed:
            self._queued.append(mine)
            while self._leading and not mine.done:
                self._changed.wait()
            if mine.done:
                return mine.outcome()
            # Lead: this thread's work first, then those queued before the lock was free.
            self._leading = True
            self._queued.remove(mine)
            group = [mine, *self._queued[: self.max_group - 1]]
            del self._queued[: self.max_group - 1]
        try:
            self._write(group)
        except BaseException as exc:
            # `_write` hands every failure to its works; should it fail itself, no caller
            # may take the silence for success.
            for queued in group:
                if queued.error is None:
                    queued.result = None
                    queued.error = exc
            raise
        finally:
            with self._changed:
                for queued in group:
                    queued.done = True
                self._leading = False
                self._changed.notify_all()
        return mine.outcome()

    def _write(self, group: list[_Work[Any]]) -> None:
        self.groups += 1
        self.grouped_works += len(group)
        if len(group) == 1:
            _run_alone(group[0])
            return
        committing = False
        try:
            with transaction.atomic():
                for queued in group:
                    try:
                        with transaction.atomic():  # a savepoint: one work's failure is its own
                            queued.result = queued.work()
                    except Exception as exc:
                        queued.result = None
                        queued.error = exc
                if connection.needs_rollback:
                    # A savepoint could not be rolled back: the transaction is lost, and with
                    # it the works that seemed to succeed.
                    raise TransactionManagementError(
                        "A grouped write could not be rolled back to its savepoint."
                    )
                committing = True
        except BaseException as exc:
            if not committing:
                # BEGIN or a savepoint failed: nothing of this group is written.
                for queued in group:
                    queued.result = None
                    queued.error = exc
                return
            # The COMMIT failed (say a deferred constraint of one work): nothing is written,
            # and no work may pay for another's fault, so each runs again on its own.
            for queued in group:
                queued.result = None
                queued.error = None
                _run_alone(queued)


def _run_alone(work: _Work[Any]) -> None:
    try:
        with transaction.atomic():
            work.result = work.work()
    except BaseException as exc:  # handed to its caller, raised there
        work.result = None
        work.error = exc
