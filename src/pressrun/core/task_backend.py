"""The task backend: django-tasks-db's, with its task row written by an INSERT compiled once
per process (`core.prepared`) instead of `DBTaskResult.objects.create`.

Tasks are queued inside the transactions that call for them (an outbox: a placed order's
email and address check, queued by the worker's relay of the order; a cart delivery's
processing), and building and saving a model instance through the ORM cost about 0.2 ms
each, most of it while SQLite's write lock is held. The row written is the one
django-tasks-db writes: same columns, same values; its one `pre_save` handler (a task
without `run_after` waits for no date: the greatest date) is applied here, since a prepared
INSERT sends no model signals.
`tests/core/test_task_backend.py` compares the two rows column by column.

Task ids are time-ordered (`time_ordered_task_id`, the backend's `id_function` option in
settings.TASKS), so a new task's row goes to the end of its primary key's index.

`task_enqueue_prepare` goes one step further for a write path that knows its tasks before its
transaction begins (the placed orders' relay, `orders.relay`): the row is built and its
INSERT prepared before, and only executed inside; an id the task's arguments name may still
be `PENDING_ID` then (`core.prepared`).

`task_claim_next` is the worker's side: `pressrun worker` claims the next ready row with one
`UPDATE ... RETURNING` instead of django-tasks-db's queryset, read and saved back every poll.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections, router, transaction
from django.db.models.sql import Query
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import Task
from django_tasks.signals import log_task_enqueued, task_enqueued
from django_tasks.utils import normalize_json
from django_tasks_db.backend import DatabaseBackend as StockDatabaseBackend
from django_tasks_db.backend import TaskResult
from django_tasks_db.models import DBTaskResult, get_date_max

from pressrun.core.prepared import InsertTemplate, PreparedInsert, prepare_insert

# django-tasks' own receiver of `task_enqueued` only writes a debug line. It is disconnected
# (`CoreConfig.ready`) and called by `_announce` instead, and the prepared tasks are
# announced only when that line would be written or someone else listens (`_announced`):
# building the `TaskResult` the signal carries cost about 40 µs a task, two tasks an order
# (docs/performance.md, "fifth round").
_log = logging.getLogger("django_tasks")


def time_ordered_task_id() -> uuid.UUID:
    """A UUID of version 7 (RFC 9562): the Unix time in milliseconds in its first 48 bits,
    then the version, 74 random bits and the variant.

    django-tasks-db's default, `uuid4`, puts each new row's key at a random place in the
    table's primary-key index: every order's two task rows then dirtied two leaves of that
    index which no other row of the transaction touched, two more pages for SQLite's COMMIT
    to write to its log while it holds the write lock. Keys that grow with time all land
    in the index's last leaf, as the other tables' do (docs/performance.md, "twelfth
    round"). Ids made in the same millisecond keep a random order among themselves, which
    nothing relies on; Python 3.11's `uuid` module has no version 7 of its own."""
    random_bits = secrets.randbits(74)
    value = (time.time_ns() // 1_000_000) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version
    value |= (random_bits >> 62) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= random_bits & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def _announce(backend: type[DatabaseBackend], result: TaskResult[Any, Any]) -> None:
    """What the stock backend does when a task is queued: django-tasks' debug line and
    `task_enqueued`."""
    log_task_enqueued(backend, result)
    if task_enqueued.has_listeners(backend):
        task_enqueued.send(backend, task_result=result)


def _announced(backend: type[DatabaseBackend]) -> bool:
    return task_enqueued.has_listeners(backend) or _log.isEnabledFor(logging.DEBUG)


class DatabaseBackend(StockDatabaseBackend):
    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        # As the stock backend, which builds the result twice (for the signal, then to return).
        self.validate_task(task)
        result = self._task_to_db_task(task, args, kwargs).task_result
        _announce(type(self), result)
        return result

    def _task_to_db_task(
        self, task: Task[Any, Any], args: Any, kwargs: Any
    ) -> DBTaskResult[Any, Any]:
        insert = self._prepare_row(task, args, kwargs)
        insert.execute()
        return cast("DBTaskResult[Any, Any]", insert.instance)

    def _prepare_row(self, task: Task[Any, Any], args: Any, kwargs: Any) -> PreparedInsert:
        using = router.db_for_write(DBTaskResult)
        args_kwargs = normalize_json({"args": args, "kwargs": kwargs})
        # A task queued without a date differs from the task's previous row only in its id,
        # time and arguments (`_row_templates`).
        key = (task.module_path, task.priority, task.queue_name, self.alias, using)
        template = _row_templates.get(key) if task.run_after is None else None
        if template is not None:
            return template.prepare(
                id=self._get_id(), enqueued_at=timezone.now(), args_kwargs=args_kwargs
            )
        result: DBTaskResult[Any, Any] = DBTaskResult(
            id=self._get_id(),
            args_kwargs=args_kwargs,
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=task.run_after if task.run_after is not None else get_date_max(),
            backend_name=self.alias,
        )
        insert = prepare_insert(result, using=using)
        if task.run_after is None:
            _row_templates[key] = InsertTemplate(insert, _VARYING)
        return insert


# The columns in which the rows of one task queued without a date differ; the others are the
# first row's (`core.prepared.InsertTemplate`): building the row with keyword arguments and
# preparing all its columns cost about 35 µs of a task's 55 µs. Per task path, priority,
# queue, backend and database.
_VARYING = ("id", "enqueued_at", "args_kwargs")
_row_templates: dict[tuple[str, int, str, str, str], InsertTemplate] = {}


@dataclass(frozen=True)
class PreparedTask:
    """A task's row, ready to be queued by `execute` in the caller's transaction; run again
    only after that transaction rolled back (the row keeps the id it was given when
    prepared)."""

    insert: PreparedInsert
    backend: DatabaseBackend
    # Whether the task is announced once committed (`_announced`), decided when prepared:
    # asking the signal for its listeners costs a few microseconds a task, which `execute`
    # would spend inside the caller's transaction (on SQLite, holding the write lock).
    announced: bool

    def execute(self, pending_id: int | None = None) -> None:
        self.insert.execute(pending_id)
        self.inserted()

    def as_insert(self) -> tuple[PreparedInsert, Callable[[], None]]:
        """The row's INSERT and what must follow it in the transaction, for a caller that
        runs the INSERT within a larger statement (`core.prepared.JoinedInsert`)."""
        return self.insert, self.inserted

    def inserted(self) -> None:
        if not self.announced:
            return
        row = cast("DBTaskResult[Any, Any]", self.insert.instance)
        # Announced once the row is committed, after the write lock is released; a task
        # rolled back with its transaction is not announced.
        backend = type(self.backend)
        transaction.on_commit(lambda: _announce(backend, row.task_result), using=self.insert.using)


def task_enqueue_prepare(task: Task[Any, Any], *args: Any, **kwargs: Any) -> PreparedTask | None:
    """`task.enqueue(*args, **kwargs)` prepared now and run by `.execute()` later, inside
    the transaction; None when the task's backend is not this one (then enqueue it there).
    Whether the task is announced once committed is decided now: a receiver of
    `task_enqueued` connected between this call and the COMMIT is not told of it."""
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return None
    backend.validate_task(task)
    return PreparedTask(
        insert=backend._prepare_row(task, args, kwargs),
        backend=backend,
        announced=_announced(type(backend)),
    )


def task_claim_next(
    *, worker_id: str, backend_name: str, queue_names: Sequence[str] | None
) -> DBTaskResult[Any, Any] | None:
    """The next ready task of `backend_name` (of `queue_names`; None: of every queue), claimed
    for `worker_id` (RUNNING, started now, the worker's id appended to `worker_ids`), or None
    when none is ready. The task django-tasks-db's worker would take, claimed as it claims
    it, but in one statement: `UPDATE ... WHERE id = (the first ready row) RETURNING` it.

    The library's worker builds the ready queryset, compiles it, reads the row into a model
    and saves it back, every poll: about 1 ms of CPU a task, in a transaction that on SQLite
    holds the write lock all that time, three times an order (docs/performance.md,
    "twenty-second round"). On PostgreSQL the row is taken `FOR UPDATE SKIP LOCKED`, as the
    library takes it, so workers never claim the same task; on SQLite the statement runs in
    a transaction of its own, which queues on the installation's write lock
    (`core.sqlite.base`)."""
    if queue_names is not None and not queue_names:
        raise ValueError("No queue named: give None for every queue.")
    using = router.db_for_write(DBTaskResult)
    if not task_claim_supported(using):
        raise ValueError(f"Tasks are claimed in one statement on {', '.join(_CLAIM_DIALECTS)}.")
    connection = connections[using]
    sql = _claim_sql(connection.vendor, None if queue_names is None else len(queue_names))
    run_after = DBTaskResult._meta.get_field("run_after")
    now = timezone.now()
    params = [
        connection.ops.adapt_datetimefield_value(now),
        worker_id,
        run_after.get_db_prep_value(get_date_max(), connection),
        run_after.get_db_prep_value(now, connection),
        backend_name,
        *(queue_names or ()),
    ]
    # On SQLite in a transaction of its own, which queues on the installation's write lock;
    # the row is made a model instance once the lock is given back.
    sqlite = connection.vendor == "sqlite"
    with (
        transaction.atomic(using=using) if sqlite else nullcontext(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    fields = DBTaskResult._meta.concrete_fields
    compiler = connection.ops.compiler("SQLCompiler")(Query(DBTaskResult), connection, using)
    converters = compiler.get_converters(
        [field.get_col(field.model._meta.db_table) for field in fields]
    )
    [values] = compiler.apply_converters(rows, converters) if converters else rows
    return DBTaskResult.from_db(using, [field.attname for field in fields], list(values))


# How each database pressrun runs on appends the worker's id and takes the row: PostgreSQL
# skips rows another worker holds, as the library does; SQLite has one writer at a time.
_CLAIM_DIALECTS = {
    "postgresql": ('"worker_ids" || jsonb_build_array(%s::text)', " FOR UPDATE SKIP LOCKED"),
    "sqlite": ("json_insert(\"worker_ids\", '$[#]', %s)", ""),
}


def task_claim_supported(using: str = "default") -> bool:
    """Whether `task_claim_next` can claim on the database `using` (SQLite, PostgreSQL: the
    two pressrun runs on); `pressrun worker` refuses to start elsewhere."""
    return connections[using].vendor in _CLAIM_DIALECTS


@functools.cache
def _claim_sql(vendor: str, queues: int | None) -> str:
    """`task_claim_next`'s statement for a database vendor and a number of queue names."""
    meta = DBTaskResult._meta
    table = meta.db_table
    columns = ", ".join(f'"{field.column}"' for field in meta.concrete_fields)
    appended, lock = _CLAIM_DIALECTS[vendor]
    in_queues = "" if queues is None else f' AND "queue_name" IN ({", ".join(["%s"] * queues)})'
    # The library's order (DBTaskResult.Meta.ordering), which the partial index
    # tasks_db_new_ordering_idx (status READY) serves. Only the model's own table and column
    # names, the two statuses and placeholders are put into the text; every other value is a
    # parameter. The statuses are written out so that a plan PostgreSQL keeps for the
    # statement can still use that index (a parameter could be any status).
    running, ready = TaskResultStatus.RUNNING.value, TaskResultStatus.READY.value
    return (
        f'UPDATE "{table}" SET "status" = \'{running}\', "started_at" = %s, '  # noqa: S608
        f'"worker_ids" = {appended} '
        f'WHERE "id" = (SELECT "id" FROM "{table}" WHERE "status" = \'{ready}\' '
        f'AND ("run_after" = %s OR "run_after" <= %s) AND "backend_name" = %s{in_queues} '
        f'ORDER BY "priority" DESC, "run_after" ASC, "enqueued_at" ASC LIMIT 1{lock}) '
        f"RETURNING {columns}"
    )
