"""Statements compiled before they run: writes before their transaction, reads once per process.

On SQLite the database write lock is held from `BEGIN IMMEDIATE` to `COMMIT`, and every
writer of every process waits for it; on PostgreSQL the row locks an order takes are held
just as long. What the ORM does around each statement (building the query, compiling it,
preparing every value for the database) costs several times the statement itself, so a write
path that must be fast compiles its statements first, with the ORM and the fields' own value
preparation, and inside the transaction only executes them.

A prepared INSERT may leave an id to be filled in at execution time (the id of a row
inserted just before in the same transaction): the instance is built with `PENDING_ID` in
that foreign key (and, where a text names the row, `PENDING_ID` written in the text), and
`execute` puts the real id in its place, in the statement and on the instance.

A read done on every request (`PreparedRowRead`) is compiled once per process for the same
reason: building and compiling the queryset costs more than running it.

The compiled statements run on `statement_cursor`: the driver's own cursor, with Django's
checks and error translation but without its wrapper's cost, unless something watches the
statements.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, cast

from django.conf import settings
from django.db import DatabaseError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX
from django.db.models import CharField, F, Field, Lookup, Model, QuerySet, TextField
from django.db.models.sql import UpdateQuery
from django.db.models.sql.subqueries import InsertQuery
from django.utils.connection import ConnectionProxy


class _DirectCursor:
    """The database driver's own cursor, with what Django's cursor wrapper does for each
    statement kept: no statement in a transaction that has failed, and the driver's errors
    raised as Django's (an `IntegrityError` decides intake's duplicates). The statement's
    `%s` placeholders become the driver's own (`_statement_converter`) once per statement
    text, instead of being parsed again on every execution."""

    __slots__ = ("_convert", "_cursor", "_database")

    def __init__(self, database: BaseDatabaseWrapper, cursor: Any) -> None:
        self._database = database
        self._cursor = cursor
        self._convert = _statement_converter(database)

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        self._database.validate_no_broken_transaction()
        statement = sql if self._convert is None else self._convert(sql)
        with self._database.wrap_database_errors:
            self._cursor.execute(statement, params)

    def fetchone(self) -> Any:
        with self._database.wrap_database_errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with self._database.wrap_database_errors:
            return list(self._cursor.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def lastrowid(self) -> Any:
        return self._cursor.lastrowid


@functools.lru_cache(maxsize=512)
def qmark_statement(sql: str) -> str:
    """A statement in Django's `%s` style as SQLite's driver takes it, as Django's SQLite
    cursor converts it; compiled statements are few, so each is converted once."""
    return str(FORMAT_QMARK_REGEX.sub("?", sql)).replace("%%", "%")


_PERCENT = re.compile(r"%(.|$)", re.DOTALL)


@functools.lru_cache(maxsize=512)
def _numbered_statement(sql: str) -> bytes:
    """A statement in Django's `%s` style with PostgreSQL's own placeholders (`$1`, `$2`…),
    for psycopg's `RawCursor`, which sends it as it is. psycopg's own cursor converts `%s`
    on every execution and keeps the result only for statements under 4,096 characters and
    50 parameters; intake's one statement (`JoinedInsert`) is larger, and converting it
    again for each order took about a tenth of a served order's CPU (docs/performance.md,
    "seventh round")."""
    pieces: list[str] = []
    number = 0
    position = 0
    for match in _PERCENT.finditer(sql):
        pieces.append(sql[position : match.start()])
        position = match.end()
        code = match.group(1)
        if code == "%":
            pieces.append("%")
        elif code == "s":
            number += 1
            pieces.append(f"${number}")
        else:
            raise ValueError(f"Only %s placeholders are compiled statements' ({sql[:80]!r}).")
    pieces.append(sql[position:])
    return "".join(pieces).encode()


def _server_binds(database: BaseDatabaseWrapper) -> bool:
    """PostgreSQL binding the parameters itself (psycopg's `server_side_binding`, on unless
    a transaction pooler is configured, docs/deploy.md); otherwise psycopg puts them into
    the text, and the statement keeps Django's `%s`."""
    return database.vendor == "postgresql" and (
        database.settings_dict["OPTIONS"].get("server_side_binding") is True
    )


def _statement_converter(database: BaseDatabaseWrapper) -> Callable[[str], Any] | None:
    if database.vendor == "sqlite":
        return qmark_statement
    return _numbered_statement if _server_binds(database) else None


def _driver_cursor(database: BaseDatabaseWrapper) -> Any:
    """The driver's cursor that takes `_DirectCursor`'s converted statements."""
    if database.vendor == "sqlite":
        return database.connection.cursor()
    if not _server_binds(database):
        return database.create_cursor()
    import psycopg
    from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped]
        register_tzloader,
    )

    cursor = psycopg.RawCursor(database.connection)
    # As Django's `create_cursor`: its time zone where the connection's differs.
    timestamptz = psycopg.adapters.types["timestamptz"].oid
    loader: Any = database.connection.adapters.get_loader(timestamptz, psycopg.pq.Format.TEXT)
    if database.timezone != loader.timezone:
        register_tzloader(database.timezone, cursor)
    return cursor


@contextlib.contextmanager
def statement_cursor(database: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor for the compiled statements of this module and of the few raw statements on
    the hot paths (status-call metering): Django's cursor wrapper costs about 20 µs a
    statement on top of the driver's (docs/performance.md, "fourth round"), and an order
    runs about a dozen statements.

    Whenever something watches the statements — an execute wrapper (the benchmark's census,
    Django's own query capture) or the debug cursor (`DEBUG`, the tests'
    `CaptureQueriesContext`) — this is Django's cursor, so they see every statement as
    before. Otherwise it is the driver's, checked as Django's cursor checks it: the
    connection's health check of the request, an open connection, the thread it belongs to.

    `database` may be `django.db.connection`, the proxy that looks up this thread's
    connection on every attribute read (about 2.5 µs each, some twenty per statement): it is
    looked up once here instead.
    """
    if isinstance(database, ConnectionProxy):
        database = database._connections[database._alias]
    if database.execute_wrappers or database.queries_logged:
        with database.cursor() as cursor:
            yield cursor
        return
    database.close_if_health_check_failed()
    database.ensure_connection()
    database.validate_thread_sharing()
    with database.wrap_database_errors:
        raw = _driver_cursor(database)
    try:
        yield _DirectCursor(database, raw)
    finally:
        with contextlib.suppress(cast(Any, database).Database.Error):
            raw.close()


class _SharedCursors(threading.local):
    """`one_cursor`'s cursors of this thread, by database alias, with their connection. A
    thread's own: the block runs its statements on its thread from start to end, and a
    `threading.local` is looked up in a fraction of the time `connections[alias]` takes."""

    def __init__(self) -> None:
        self.by_alias: dict[str, tuple[BaseDatabaseWrapper, Any]] = {}


_shared_cursors = _SharedCursors()


@contextlib.contextmanager
def one_cursor(database: BaseDatabaseWrapper) -> Iterator[None]:
    """On SQLite: the compiled statements executed in this block on this thread
    (`PreparedInsert.execute` and `send`, `PreparedUpdate.execute`,
    `rows_unchanged_require`) share one cursor of `statement_cursor`, opened and checked
    once for the block instead of once per statement. A statement there is a function call
    of about 10 µs, and the cursor with its checks cost nearly half as much again, all of it
    while the write lock is held (docs/performance.md, "tenth round"). Each statement's
    result is read before the next runs, as without the block. The block must not wait for
    anything else (an `await`) while it is open.

    Elsewhere the block changes nothing: on PostgreSQL a statement sent in a pipeline
    (`pipelined`) keeps its own cursor until the replies are read."""
    if isinstance(database, ConnectionProxy):
        database = database._connections[database._alias]
    by_alias = _shared_cursors.by_alias
    if database.vendor != "sqlite" or database.alias in by_alias:
        yield
        return
    with statement_cursor(database) as cursor:
        by_alias[database.alias] = (database, cursor)
        try:
            yield
        finally:
            del by_alias[database.alias]


class StatementPipeline:
    """The compiled statements of one stretch of a transaction on PostgreSQL, sent without
    waiting for each reply (psycopg's pipeline mode, `pipelined`). A statement whose result
    is needed at once (an INSERT whose id the next rows name) still waits for it, and
    everything sent before it; the others' results are read when the pipeline ends."""

    __slots__ = ("_cursors", "_database", "_results")

    def __init__(self, database: BaseDatabaseWrapper) -> None:
        self._database = database
        self._cursors: list[Any] = []
        self._results: list[Callable[[], None]] = []

    def cursor(self) -> _DirectCursor:
        """A driver cursor kept open until the pipeline's results are read."""
        with self._database.wrap_database_errors:
            raw = _driver_cursor(self._database)
        self._cursors.append(raw)
        return _DirectCursor(self._database, raw)

    def when_read(self, reader: Callable[[], None]) -> None:
        """Call `reader` once the pipeline's results have arrived."""
        self._results.append(reader)

    def _read(self) -> None:
        with self._database.wrap_database_errors:
            for reader in self._results:
                reader()

    def _close(self) -> None:
        for raw in self._cursors:
            with contextlib.suppress(cast(Any, self._database).Database.Error):
                raw.close()


_PIPELINE_ATTRIBUTE = "_pressrun_statement_pipeline"


def active_pipeline(database: BaseDatabaseWrapper) -> StatementPipeline | None:
    """The pipeline open on this connection (`pipelined`), if any."""
    return cast("StatementPipeline | None", getattr(database, _PIPELINE_ATTRIBUTE, None))


@contextlib.contextmanager
def pipelined(database: BaseDatabaseWrapper) -> Iterator[StatementPipeline | None]:
    """Inside a transaction on PostgreSQL: the compiled statements sent in this block with
    `PreparedInsert.send` and `PreparedUpdate.send` go out without waiting for each reply,
    and the replies are read together when the block ends: one round trip for all of them
    instead of one each. Intake's transaction then waits for PostgreSQL four times instead
    of nine; on a network every round trip is time the transaction holds its connection
    and its row locks (docs/performance.md, "sixth round"). A database error of any of them
    is raised as Django's when its reply is read: at a later statement of the block, or at
    the latest when the block ends. Elsewhere (SQLite, where a statement is a
    function call; a connection whose statements are watched, as `statement_cursor` says;
    `DATABASE_PIPELINE` off) the block runs its statements one by one, as usual.

    Only compiled statements belong in the block: in pipeline mode the driver reports no
    row count until the replies are read, and an ORM `save()` or `update()` relies on it.
    """
    if (
        database.vendor != "postgresql"
        or not settings.DATABASE_PIPELINE
        or database.execute_wrappers
        or database.queries_logged
        or active_pipeline(database) is not None
    ):
        yield None
        return
    assert database.in_atomic_block, "a pipeline belongs in a transaction"
    database.ensure_connection()
    pipeline = StatementPipeline(database)
    setattr(database, _PIPELINE_ATTRIBUTE, pipeline)
    try:
        with database.wrap_database_errors, database.connection.pipeline() as driver:
            try:
                yield pipeline
            except BaseException:
                # The replies still owed are read and dropped here: ending a pipeline that a
                # failed statement aborted would fail again, and psycopg would log that
                # echo of the error being raised as a fault of its own.
                with contextlib.suppress(cast(Any, database).Database.Error):
                    driver.sync()
                raise
        pipeline._read()
    finally:
        setattr(database, _PIPELINE_ATTRIBUTE, None)
        pipeline._close()


# The parameters' types another process takes as they are (`PreparedInsert.as_step`).
_PLAIN_TYPES = frozenset({str, int, float, bool, bytes, type(None), Decimal})


def plain_params(params: Sequence[Any]) -> tuple[Any, ...] | None:
    """`params` as plain values another process can take without pressrun's classes (a
    choice's member, a str or int subclass, as its value); None if one is of another type."""
    plain = []
    for param in params:
        if type(param) not in _PLAIN_TYPES:
            if isinstance(param, str):
                param = str.__str__(param)
            elif isinstance(param, int) and not isinstance(param, bool):
                param = int.__index__(param)
            else:
                return None
        plain.append(param)
    return tuple(plain)


# Stands for the id `execute` is given; never a real primary key (they are positive).
PENDING_ID = -7_000_000_000_000_000_001
_PENDING_TEXT = str(PENDING_ID)


@dataclass
class PreparedInsert:
    """One row's INSERT, ready to run. `instance` gets its primary key when executed."""

    instance: Model
    sql: str
    params: tuple[Any, ...]
    # (position in params, attribute name, how the id goes in: "id", "text" or "json", and
    # for "json" the value as prepared, since `execute` replaces the instance's)
    pending: tuple[tuple[int, str, str, Any], ...]
    returns_id: bool
    using: str
    # False when the row carries its own primary key (a UUID), which execute() keeps.
    generated_pk: bool = True

    def execute(self, pending_id: int | None = None) -> Any:
        """Insert the row (`PENDING_ID` replaced by `pending_id`); returns its id."""
        shared = _shared_cursors.by_alias.get(self.using)
        if shared is not None:
            connection, cursor = shared
            cursor.execute(self.sql, self._bound(pending_id, connection))
            return self._record_id(cursor, connection)
        connection = connections[self.using]
        params = self._bound(pending_id, connection)
        with statement_cursor(connection) as cursor:
            cursor.execute(self.sql, params)
            return self._record_id(cursor, connection)

    def send(self, pending_id: int | None = None) -> None:
        """`execute` for a row whose id is not needed now: in a pipeline (`pipelined`) the
        instance gets its id when the pipeline's replies are read, without waiting for it
        here; elsewhere the same as `execute`."""
        if self.using in _shared_cursors.by_alias:
            # In `one_cursor` (SQLite, which has no pipelines).
            self.execute(pending_id)
            return
        connection = connections[self.using]
        pipeline = active_pipeline(connection)
        if pipeline is None:
            self.execute(pending_id)
            return
        params = self._bound(pending_id, connection)
        cursor = pipeline.cursor()
        cursor.execute(self.sql, params)
        pipeline.when_read(lambda: self._record_id(cursor, connection))

    def as_step(self) -> tuple[str, tuple[Any, ...], tuple[tuple[int, bool], ...]] | None:
        """The statement as plain values for another process to run (`core.sqlite.writer`):
        its SQL, its parameters and where `PENDING_ID` goes (the index, and whether into a
        text); None where that cannot be said in plain values (a JSON value the driver does
        not take as text, a new id read back with RETURNING)."""
        if self.returns_id:
            return None
        params = plain_params(self.params)
        if params is None:
            return None
        pending = []
        for index, _attname, kind, _prepared in self.pending:
            as_text = kind != "id"
            if as_text and not isinstance(self.params[index], str):
                return None
            pending.append((index, as_text))
        return self.sql, params, tuple(pending)

    def written(self, pending_id: int | None, new_id: int | None) -> None:
        """The row was written elsewhere (`as_step`) with `pending_id` for `PENDING_ID` and
        got `new_id` (None: the row's own key): the instance as `execute` leaves it."""
        if self.pending:
            self._bound(pending_id, connections[self.using])
        instance = self.instance
        if self.generated_pk:
            assert new_id is not None
            instance.pk = new_id
        state = instance._state
        state.adding = False
        state.db = self.using

    def _bound(self, pending_id: int | None, connection: BaseDatabaseWrapper) -> Sequence[Any]:
        params: Sequence[Any] = self.params
        if self.pending:
            assert pending_id is not None, "this statement waits for an id"
            listed = list(params)
            for index, attname, kind, prepared in self.pending:
                if kind == "json":
                    field = cast("Field[Any, Any]", self.instance._meta.get_field(attname))
                    if isinstance(listed[index], str):
                        # The driver's form is the value's text (SQLite): the id goes into
                        # the text, and the instance gets the value that text reads as.
                        text = listed[index].replace(_PENDING_TEXT, str(pending_id))
                        listed[index] = text
                        value = json.loads(text, cls=cast(Any, field).decoder)
                    else:
                        # The id within a JSON value: the value rebuilt, prepared by its field.
                        value = _json_with_id(prepared, field, pending_id)
                        listed[index] = field.get_db_prep_save(value, connection)
                else:
                    value = (
                        listed[index].replace(_PENDING_TEXT, str(pending_id))
                        if kind == "text"
                        else pending_id
                    )
                    listed[index] = value
                setattr(self.instance, attname, value)
            params = listed
        return params

    def _record_id(self, cursor: Any, connection: BaseDatabaseWrapper) -> Any:
        instance = self.instance
        if not self.generated_pk:
            # The row's own key (a UUID), on the instance already.
            new_id = instance.pk
        else:
            if self.returns_id:
                new_id = int(cursor.fetchone()[0])
            else:
                new_id = int(connection.ops.last_insert_id(cursor, "", ""))
            instance.pk = new_id
        state = instance._state
        state.adding = False
        state.db = self.using
        return new_id


# Field classes whose value, when it is already of the Python type the field stores, goes to
# the database driver as it is (`Field.get_db_prep_save` would return it unchanged): texts,
# and booleans. Exact classes only: a subclass may prepare its values in its own way.
_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField)
_AUTO_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField)
_INTEGER_FIELDS = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)


def _orm_param(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    def param(value: Any) -> Any:
        if hasattr(value, "resolve_expression"):
            raise _NotPlain
        return field.get_db_prep_save(value, connection)

    return param


def _param_function(
    field: Field[Any, Any], connection: BaseDatabaseWrapper
) -> Callable[[Any], Any]:
    """How a value of `field` becomes a statement parameter: the field's own preparation
    (`get_db_prep_save`), short-cut where it is known to be the identity or a single call
    of the backend's adapter for a value of the field's own type. Anything else, including
    an expression, goes through the field."""
    orm = _orm_param(field, connection)
    kind = type(field)
    if kind in _TEXT_FIELDS:
        # A text (a choice's enum member included) is its own parameter; a lazy text is not
        # a str, and goes through the field.
        return lambda value: value if isinstance(value, str) or value is None else orm(value)
    if kind is models.ForeignKey and type(field.target_field) in _AUTO_FIELDS:  # type: ignore[attr-defined]
        validate_key = connection.ops.validate_autopk_value
        return lambda value: (
            validate_key(value) if value.__class__ is int else None if value is None else orm(value)
        )
    if kind is models.DecimalField:
        adapt_decimal = connection.ops.adapt_decimalfield_value
        to_python = field.to_python
        digits, places = field.max_digits, field.decimal_places  # type: ignore[attr-defined]
        return lambda value: (
            adapt_decimal(to_python(value), digits, places)
            if value.__class__ is Decimal
            else orm(value)
        )
    if kind is models.BooleanField:
        return lambda value: value if value.__class__ is bool or value is None else orm(value)
    if kind in _INTEGER_FIELDS:
        adapt_integer = connection.ops.adapt_integerfield_value
        internal_type = field.get_internal_type()
        return lambda value: (
            adapt_integer(value, internal_type) if value.__class__ is int else orm(value)
        )
    if kind is models.DateTimeField:
        return _datetime_param(connection.ops.adapt_datetimefield_value, orm)
    return orm


def _datetime_param(
    adapt_datetime: Callable[[Any], Any], orm: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    # The rows of one write carry the same moment (intake's `now`) in most of their date
    # columns, about twenty an order: the last one adapted is kept, and the same datetime
    # object (immutable) is not adapted again. One tuple, read and replaced whole, so a
    # thread never sees one moment's value with another's parameter.
    last: list[tuple[Any, Any]] = [(None, None)]

    def param(value: Any) -> Any:
        seen, adapted = last[0]
        if value is seen:
            return adapted
        if value.__class__ is datetime and value.tzinfo is not None:
            adapted = adapt_datetime(value)
            last[0] = (value, adapted)
            return adapted
        # A naive datetime goes through the field, which warns about it.
        return orm(value)

    return param


class _NotPlain(Exception):
    """A value is an expression: the row is compiled by the ORM, not from a cached plan."""


@dataclass(frozen=True)
class _InsertPlan:
    """The INSERT of one model's rows on one database, compiled once: its SQL (the same for
    every row of plain values), and per column how to read the value off the instance
    (`pre_save`: defaults of `auto_now` fields) and turn it into a parameter."""

    sql: str
    fields: tuple[Field[Any, Any], ...]
    values: tuple[Callable[[Model], Any], ...]
    params: tuple[Callable[[Any], Any], ...]
    returns_id: bool
    generated_pk: bool
    # The positions of the columns whose value may hold `PENDING_ID` (see `_may_wait`):
    # JSON values, and the others (an id, a text).
    may_wait_json: tuple[int, ...]
    may_wait_plain: tuple[int, ...]


_insert_plans: dict[tuple[type[Model], str], _InsertPlan] = {}


def _insert_fields(meta: Any) -> list[Field[Any, Any]]:
    # An auto-incremented primary key is the database's to give; any other (a UUID) is ours.
    return [
        field
        for field in meta.local_concrete_fields
        if not (field is meta.pk and getattr(field, "db_returning", False))
    ]


def _value_function(field: Field[Any, Any]) -> Callable[[Model], Any]:
    if type(field).pre_save is Field.pre_save:
        return attrgetter(field.attname)
    return lambda instance: field.pre_save(instance, True)


def _compiled_insert(
    model: type[Model], fields: list[Field[Any, Any]], instance: Model, using: str
) -> tuple[str, list[Any], bool]:
    query = InsertQuery(model)
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(using=using)
    database = connections[using]
    # SQLite gives the new row's id without `RETURNING` (the connection's last rowid, as
    # Django's SQLite backend did before its 3.35): `RETURNING` makes SQLite collect the
    # rows returned apart and costs a fetch, about 3 µs an INSERT, with the write lock held.
    # The last rowid is only this row's because the INSERT always inserts it: a statement
    # that may insert nothing (`ON CONFLICT DO NOTHING`) must not be prepared here.
    returns_id = bool(database.features.can_return_columns_from_insert) and (
        database.vendor != "sqlite"
    )
    meta = model._meta
    generated_pk = meta.pk not in fields
    if returns_id and generated_pk:
        compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    return sql, list(params), returns_id and generated_pk


def _insert_plan(model: type[Model], instance: Model, using: str) -> _InsertPlan:
    """The model's plan, compiled from `instance` the first time (_NotPlain when `instance`
    holds an expression: its SQL would not be every row's)."""
    plan = _insert_plans.get((model, using))
    if plan is None:
        fields = _insert_fields(model._meta)
        values = tuple(_value_function(field) for field in fields)
        if any(hasattr(value(instance), "resolve_expression") for value in values):
            raise _NotPlain
        sql, _, returns_id = _compiled_insert(model, fields, instance, using)
        connection = connections[using]
        plan = _InsertPlan(
            sql=sql,
            fields=tuple(fields),
            values=values,
            params=tuple(_param_function(field, connection) for field in fields),
            returns_id=returns_id,
            generated_pk=model._meta.pk not in fields,
            may_wait_json=tuple(
                i for i, field in enumerate(fields) if isinstance(field, models.JSONField)
            ),
            may_wait_plain=tuple(
                i
                for i, field in enumerate(fields)
                if _may_wait(field) and not isinstance(field, models.JSONField)
            ),
        )
        _insert_plans[(model, using)] = plan
    return plan


# Fields whose values never hold `PENDING_ID`, whatever the driver's form of them (SQLite
# takes a date as a text): their columns are not searched for it.
_NEVER_WAITING_FIELDS = (
    models.DateTimeField,
    models.DateField,
    models.TimeField,
    models.DecimalField,
    models.BooleanField,
    models.UUIDField,
    models.FloatField,
)


def _may_wait(field: Field[Any, Any]) -> bool:
    return not isinstance(field, _NEVER_WAITING_FIELDS)


def _pending_kind(field: Field[Any, Any], param: Any, instance: Model) -> str:
    """How `PENDING_ID` is in a column's value: "id" (the value), "text" (in a text), "json"
    (somewhere in a JSON value, whatever the driver's form of it), or "" (not at all)."""
    if isinstance(field, models.JSONField):
        value = getattr(instance, field.attname)
        if value is None or isinstance(value, bool | float):
            return ""
        # The driver's form of a JSON value is its text on SQLite: searched as it is.
        text = param if isinstance(param, str) else json.dumps(value, cls=field.encoder)
        return "json" if _PENDING_TEXT in text else ""
    if isinstance(param, int) and param == PENDING_ID:
        return "id"
    if isinstance(param, str) and _PENDING_TEXT in param:
        return "text"
    return ""


def _json_with_id(value: Any, field: Any, pending_id: int) -> Any:
    text = json.dumps(value, cls=field.encoder).replace(_PENDING_TEXT, str(pending_id))
    return json.loads(text, cls=field.decoder)


def prepare_insert(instance: Model, *, using: str = "default") -> PreparedInsert:
    """The INSERT of `instance` (all its concrete fields but an auto primary key), compiled
    now. Where a value is `PENDING_ID` (or a text containing it), the id given to `execute`
    takes its place. Field defaults and `auto_now` are applied now.

    The statement's SQL is compiled by the ORM once per model and database; each call only
    prepares the parameters, as the fields would (`get_db_prep_save`), with the common
    cases short-cut (`_param_function`). A row holding an expression is compiled whole."""
    model = type(instance)
    fields: Sequence[Field[Any, Any]]
    try:
        plan = _insert_plan(model, instance, using)
        fields, sql, returns_id = plan.fields, plan.sql, plan.returns_id
        params = [
            param(value(instance)) for value, param in zip(plan.values, plan.params, strict=True)
        ]
        # Most columns hold neither the id nor a text: told apart without a call per column.
        searched: Iterable[int] = sorted(
            [
                *plan.may_wait_json,
                *(
                    index
                    for index in plan.may_wait_plain
                    if (value := params[index]) == PENDING_ID
                    or (isinstance(value, str) and _PENDING_TEXT in value)
                ),
            ]
        )
        generated_pk = plan.generated_pk
        whole = False
    except _NotPlain:
        fields = _insert_fields(model._meta)
        sql, params, returns_id = _compiled_insert(model, list(fields), instance, using)
        # An expression's parameters shift the others: every one is searched.
        searched = range(len(params))
        generated_pk = model._meta.pk not in fields
        whole = True
    pending = tuple(
        (index, field.attname, kind, getattr(instance, field.attname) if kind == "json" else None)
        for index in searched
        if index < len(fields)
        and (kind := _pending_kind(field := fields[index], params[index], instance))
    )
    if pending and whole:
        # An expression's parameters shift the others: no column can be told by its place.
        raise ValueError("A row holding an expression cannot wait for an id (PENDING_ID).")
    return PreparedInsert(
        instance=instance,
        sql=sql,
        params=tuple(params),
        pending=pending,
        returns_id=returns_id,
        generated_pk=generated_pk,
        using=using,
    )


# A compiled statement's placeholders (and Django's escaped percent sign, kept as it is).
_PLACEHOLDER = re.compile(r"%%|%s")


def _referring_to(row: PreparedInsert, reference: str) -> tuple[str, list[Any]]:
    """`row`'s INSERT with each place waiting for an id (`PENDING_ID`) reading `reference`, an
    SQL expression giving the id, and the parameters it still takes."""
    waiting = tuple((index, kind) for index, _, kind, _ in row.pending)
    sql, kept, placeholders = _rewritten(row.sql, waiting, reference)
    params = row.params
    assert placeholders == len(params), "a placeholder for every parameter"
    return sql, [params[index] for index in kept]


@functools.lru_cache(maxsize=256)
def _rewritten(
    sql: str, waiting: tuple[tuple[int, str], ...], reference: str
) -> tuple[str, tuple[int, ...], int]:
    """`_referring_to`'s statement text, the indexes of the parameters it keeps and the
    number of placeholders it had, once per statement text and layout of the places waiting
    for an id (intake's rows are the same few for every order)."""
    kinds = dict(waiting)
    pieces: list[str] = []
    kept: list[int] = []
    index = 0
    position = 0
    for match in _PLACEHOLDER.finditer(sql):
        pieces.append(sql[position : match.start()])
        position = match.end()
        if match.group() == "%%":
            pieces.append("%%")
            continue
        kind = kinds.get(index)
        if kind == "id":
            pieces.append(reference)
        else:
            if kind == "text":
                pieces.append(f"replace(%s, '{_PENDING_TEXT}', ({reference})::text)")
            elif kind == "json":
                pieces.append(f"replace((%s)::text, '{_PENDING_TEXT}', ({reference})::text)::jsonb")
            else:
                pieces.append("%s")
            kept.append(index)
        index += 1
    pieces.append(sql[position:])
    return "".join(pieces), tuple(kept), index


# What `pressrun_require` raises (core migration 0004), and the reason JoinedInsert gives it.
_REQUIRE_SQLSTATE = "PR001"
_COUNT_DIFFERS = "the UPDATE of a joined statement did not change the rows required:"


class UpdateCountDiffers(Exception):
    """A `JoinedInsert` with `last_count` whose UPDATE changed another number of rows: the
    statement failed, and nothing of it was written."""


_ROW_CHANGED = "a row read before the statement has changed:"


@dataclass(frozen=True, eq=False)
class RowAsRead:
    """A row as it was read: its model, its primary key and the value of every other column
    (but those the reader chose to ignore), prepared for the database (`row_as_read`). A
    statement that requires it unchanged (`rows_unchanged_require`, `JoinedInsert`'s
    `unchanged`) compares the row's columns with these values, so what was computed from the
    row still holds whenever the statement succeeds: whatever changed the row meanwhile, and
    in whichever transaction. (A row changed and changed back is the row read.) Equal only
    to itself."""

    model: type[Model]
    pk: Any
    columns: tuple[str, ...]
    params: tuple[Any, ...]


def row_as_read(
    instance: Model, *, using: str = "default", ignored: Collection[str] = ()
) -> RowAsRead:
    """`instance`, a row just read from the database, as `RowAsRead`: every column but the
    key and the `ignored` ones (by field name; columns that change often and that nothing
    computed from the row depends on, or that the write checks otherwise)."""
    connection = connections[using]
    meta = instance._meta
    fields = [
        field
        for field in meta.concrete_fields
        if not field.primary_key and field.name not in ignored
    ]
    return RowAsRead(
        model=type(instance),
        pk=instance.pk,
        columns=tuple(field.column for field in fields),
        params=tuple(
            field.get_db_prep_value(getattr(instance, field.attname), connection, prepared=False)
            for field in fields
        ),
    )


class RowsChanged(Exception):
    """A statement required rows unchanged since they were read (`RowAsRead`), and one of
    them has changed or gone: the statement failed, and nothing of it was written."""


def _unchanged_condition(row: RowAsRead, quote: Callable[[str], str]) -> tuple[str, list[Any]]:
    """SQL that fails its statement unless `row` still holds the values read, and its params
    (PostgreSQL: `pressrun_require`, core migration 0004)."""
    meta = row.model._meta
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    same = "".join(f" AND {quote(column)} IS NOT DISTINCT FROM %s" for column in row.columns)
    sql = f"pressrun_require(EXISTS(SELECT 1 FROM {table} WHERE {pk} = %s{same}), %s)"  # noqa: S608
    return sql, [row.pk, *row.params, f"{_ROW_CHANGED} {meta.db_table} {row.pk}"]


def unchanged_columns(
    rows: Sequence[RowAsRead], *, using: str = "default"
) -> tuple[list[str], list[Any]]:
    """PostgreSQL: a `SELECT` list entry per row that fails its statement unless the row
    still holds the values read (`true` where it does), and their params, for a statement
    that selects them: `raise_if_required(error)` tells its failure apart."""
    quote = connections[using].ops.quote_name
    conditions = [_unchanged_condition(row, quote) for row in rows]
    return [sql for sql, _ in conditions], [param for _, params in conditions for param in params]


def raise_if_required(error: DatabaseError) -> None:
    """Raise `RowsChanged` (or `UpdateCountDiffers`) from `error` where a statement's
    requirement failed it (`unchanged_columns`, `JoinedInsert`); else return."""
    required = _required_error(error)
    if required is not None:
        raise required from error


def rows_unchanged_confirm(rows: Sequence[RowAsRead], *, using: str = "default") -> None:
    """`rows_unchanged_require` where nothing is written after it (a refusal answered from
    kept rows): on PostgreSQL in a transaction of its own (a savepoint within a caller's),
    which the failed statement leaves usable; on SQLite one `SELECT`, a consistent snapshot
    by itself, without taking the write lock."""
    if connections[using].vendor == "sqlite":
        rows_unchanged_require(rows, using=using)
        return
    with transaction.atomic(using=using):
        rows_unchanged_require(rows, using=using)


def _rows_unchanged_require_sqlite(
    rows: Sequence[RowAsRead], connection: BaseDatabaseWrapper
) -> None:
    """`rows_unchanged_require` on SQLite: the rows' `EXISTS` in one statement, on the
    write's shared cursor when there is one (`one_cursor`); which row failed told here."""
    statement, params = _sqlite_unchanged_check(tuple(rows))
    shared = _shared_cursors.by_alias.get(connection.alias)
    with contextlib.nullcontext(shared[1]) if shared else statement_cursor(connection) as cursor:
        cursor.execute(statement, params)
        found = cursor.fetchone()
    for row, unchanged in zip(rows, found, strict=True):
        if not unchanged:
            raise rows_changed(row)


@functools.lru_cache(maxsize=64)
def _sqlite_unchanged_check(rows: tuple[RowAsRead, ...]) -> tuple[str, tuple[Any, ...]]:
    """The check's statement and parameters for `rows`, built once for the same rows: a
    write requires the rows its process keeps (`core.row_cache`), the same objects order
    after order, and the check runs inside SQLite's write transaction, where the 40-odd
    parameters of a publisher, a product and a rate were gathered again for every order.
    A `RowAsRead` is immutable and equal only to itself, so a row read again is a new key;
    the cache holds at most 64 sets of rows."""
    statement = _sqlite_unchanged_statement(tuple((row.model, row.columns) for row in rows))
    return statement, tuple(param for row in rows for param in (row.pk, *row.params))


@functools.lru_cache(maxsize=64)
def _sqlite_unchanged_statement(shapes: tuple[tuple[type[Model], tuple[str, ...]], ...]) -> str:
    """SQLite has no `pressrun_require`: one EXISTS per row, 1 where it holds the values
    read, told apart by the caller. `IS` is SQLite's null-safe equality. A JSON column is
    compared as SQLite's own minified text of both sides (`json()`), so a value written with
    other spacing than the driver's reads as the same value. Unlike PostgreSQL's jsonb,
    `json()` keeps key order and escapes: a value another program wrote with other ones
    reads as changed, and such a row is read again for every order (correct, only slower)."""
    parts = []
    for model, columns in shapes:
        meta = model._meta
        json_columns = {
            field.column for field in meta.concrete_fields if isinstance(field, models.JSONField)
        }
        same = "".join(
            f' AND json("{column}") IS json(%s)'
            if column in json_columns
            else f' AND "{column}" IS %s'
            for column in columns
        )
        parts.append(f'EXISTS(SELECT 1 FROM "{meta.db_table}" WHERE "{meta.pk.column}" = %s{same})')  # noqa: S608
    return "SELECT " + ", ".join(parts)


def rows_unchanged_check(rows: Sequence[RowAsRead]) -> tuple[str, tuple[Any, ...]]:
    """On SQLite: `rows_unchanged_require`'s statement and parameters, for another process
    to run (`core.sqlite.writer`): one row of flags, the i-th true where `rows[i]` holds."""
    return _sqlite_unchanged_check(tuple(rows))


def rows_changed(row: RowAsRead) -> RowsChanged:
    """The error for `row` found changed."""
    return RowsChanged(f"{_ROW_CHANGED} {row.model._meta.db_table} {row.pk}")


def _required_error(error: DatabaseError) -> Exception | None:
    """The exception a failed `pressrun_require` stands for, or None for another error."""
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) != _REQUIRE_SQLSTATE:
        return None
    message = getattr(getattr(cause, "diag", None), "message_primary", None) or str(cause)
    if message.startswith(_ROW_CHANGED):
        return RowsChanged(message)
    return UpdateCountDiffers(message)


def rows_unchanged_require(rows: Sequence[RowAsRead], *, using: str = "default") -> None:
    """Raise `RowsChanged` unless every row still holds the values read: one statement. On
    PostgreSQL the failed statement fails the transaction around it too. On SQLite call it
    inside the write transaction (the write lock is taken at BEGIN): no other writer can
    change a row between this check and COMMIT."""
    if not rows:
        return
    connection = connections[using]
    if connection.vendor == "sqlite":
        _rows_unchanged_require_sqlite(rows, connection)
        return
    conditions = [_unchanged_condition(row, connection.ops.quote_name) for row in rows]
    sql = "SELECT " + ", ".join(condition for condition, _ in conditions)
    params = [param for _, condition_params in conditions for param in condition_params]
    try:
        with statement_cursor(connection) as cursor:
            cursor.execute(sql, params)
            cursor.fetchone()
    except DatabaseError as error:
        required = _required_error(error)
        if required is None:
            raise
        raise required from error


class JoinedInsert:
    """On PostgreSQL: a row's INSERT, the INSERTs of the rows that name it (`PENDING_ID`),
    and an UPDATE, as one statement (a `WITH` of data-modifying statements), compiled before
    the transaction: one statement for PostgreSQL to parse, plan and answer and for the
    driver to send, instead of one each. Measured on intake's rows: about a third of the
    driver's CPU and half of PostgreSQL's for the write (docs/performance.md, "sixth round").

    The rows waiting for the id read it from the first INSERT's `RETURNING` (a text or a
    JSON value naming it gets it by `replace`); PostgreSQL runs every part once and to
    completion whatever the final SELECT reads, which returns the id, the UPDATE's row count
    and the other rows' ids. A database error of any part is the statement's, raised as
    Django's (a duplicate is an `IntegrityError`). Inside a transaction like the statements
    it replaces: the caller may still roll it back (intake does when the debit decided
    against the rows it wrote).

    With `last_count`, the statement fails unless the UPDATE changed that many rows
    (`UpdateCountDiffers`, through `pressrun_require`, core migration 0004): then nothing of
    it is written even without a transaction around it, where it is its own transaction and
    needs neither `BEGIN` nor `COMMIT` (two round trips fewer). With `unchanged`, it fails
    likewise unless each of those rows still holds the values read (`RowsChanged`): what was
    computed from them (a price) is then still what they say."""

    def __init__(
        self,
        head: PreparedInsert,
        followers: Sequence[PreparedInsert],
        last: PreparedUpdate | None = None,
        *,
        last_count: int | None = None,
        unchanged: Sequence[RowAsRead] = (),
    ) -> None:
        if last_count is not None and last is None:
            raise ValueError("A row count is required of an UPDATE.")
        if head.pending or not (head.returns_id and head.generated_pk):
            # (SQLite's INSERTs return no id: `_compiled_insert`.)
            raise ValueError("The first row must be one whose id the database gives.")
        if any(row.using != head.using for row in followers):
            raise ValueError("All rows go to one database.")
        self.head, self.followers, self.last, self.using = head, list(followers), last, head.using
        quote = connections[head.using].ops.quote_name
        # Only names from the models' metadata and compiled statements go into the text;
        # every value is a parameter.
        reference = f"SELECT {quote(head.instance._meta.pk.column)} FROM w0"  # noqa: S608
        parts = [f"w0 AS ({head.sql})"]
        params: list[Any] = list(head.params)
        selects = [f"({reference})"]
        required: list[Any] = []
        if last is not None:
            parts.append(f"wd AS ({last.sql} RETURNING 1)")
            params += last.params
            if last_count is None:
                selects.append("(SELECT count(*) FROM wd)")
            else:
                selects.append(
                    "(SELECT count(*) FROM wd) * pressrun_require("
                    "(SELECT count(*) FROM wd) = %s, %s)::int"
                )
                # The final SELECT's parameters follow every part's.
                required = [last_count, f"{_COUNT_DIFFERS} {last_count}"]
        self.unchanged = tuple(unchanged)
        for kept in self.unchanged:
            condition, condition_params = _unchanged_condition(kept, quote)
            selects.append(condition)
            required += condition_params
        self._returned: list[PreparedInsert] = []
        for number, row in enumerate(self.followers, start=1):
            sql, row_params = _referring_to(row, f"({reference})")
            parts.append(f"w{number} AS ({sql})")
            params += row_params
            if row.returns_id and row.generated_pk:
                self._returned.append(row)
                column = quote(row.instance._meta.pk.column)
                selects.append(f"(SELECT {column} FROM w{number})")  # noqa: S608
        self.sql = f"WITH {', '.join(parts)} SELECT {', '.join(selects)}"
        self.params = (*params, *required)

    def execute(self) -> tuple[int, int | None]:
        """Run the statement; returns the first row's id and the UPDATE's row count (None
        without one). Every instance gets its id, and the rows that waited for the first
        one's id name it."""
        connection = connections[self.using]
        try:
            with statement_cursor(connection) as cursor:
                cursor.execute(self.sql, self.params)
                values = list(cursor.fetchone())
        except DatabaseError as error:
            required = _required_error(error)
            if required is None:
                raise
            raise required from error
        head_id = int(values.pop(0))
        count = int(values.pop(0)) if self.last is not None else None
        del values[: len(self.unchanged)]  # each `true`
        for row in (self.head, *self.followers):
            if row is not self.head:
                row._bound(head_id, connection)  # the ids in the instance's attributes
            row.instance._state.adding = False
            row.instance._state.db = self.using
        self.head.instance.pk = head_id
        for row, value in zip(self._returned, values, strict=True):
            row.instance.pk = int(value)
        return head_id, count


def _set_when_saved(field: Field[Any, Any]) -> bool:
    if isinstance(field, models.DateField):
        return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
    return type(field).pre_save is not Field.pre_save


class InsertTemplate:
    """The INSERTs of rows of one model that differ from a first row only in the `varying`
    columns (a queued task's id, time and arguments): the first row's statement and
    parameters (`prepare_insert`) are reused, and only the varying columns are prepared
    for each new row. Its instance is built positionally, from the first row's attribute
    values with the varying ones replaced, as the ORM builds a row read from the database:
    keyword construction (every field's default looked up and applied) cost about four
    times as much (a task row: 12 µs against 2.5 µs).

    A column whose value `pre_save` sets (`auto_now`, `auto_now_add`) must vary, and each
    row's value is the one given: the first row's time is not every row's. So must a column
    whose default is made for each row (a token, a UUID), but for an empty list, dict or
    set: those, and any value held in one, are copied for each row, so that no two
    instances share one."""

    def __init__(self, first: PreparedInsert, varying: Sequence[str]) -> None:
        model = type(first.instance)
        plan = _insert_plans.get((model, first.using))
        if plan is None or plan.sql != first.sql:
            raise ValueError("A template is made from a row compiled from a cached plan.")
        meta = model._meta
        self.model = model
        self.first = first
        attnames = [field.attname for field in meta.concrete_fields]
        # Copied now, so that a change to the first row's instance is not every later row's.
        self.values = [copy.deepcopy(getattr(first.instance, name)) for name in attnames]
        self.copied = tuple(
            slot
            for slot, value in enumerate(self.values)
            if isinstance(value, list | dict | set) and attnames[slot] not in varying
        )
        position = {field.attname: index for index, field in enumerate(plan.fields)}
        self.columns: dict[str, tuple[int, int, Field[Any, Any], Callable[[Any], Any]]] = {}
        for attname in varying:
            if attname not in position:
                raise ValueError(f"{model.__name__}.{attname} is not a column of the INSERT.")
            index = position[attname]
            self.columns[attname] = (
                attnames.index(attname),
                index,
                plan.fields[index],
                plan.params[index],
            )
        for field in plan.fields:
            if field.attname in self.columns:
                continue
            if _set_when_saved(field):
                raise ValueError(f"{model.__name__}.{field.attname} is set when saved: it varies.")
            default = field.default
            if field.has_default() and callable(default) and default not in (list, dict, set):
                # A default made for each row (a token, a UUID) must not be the first row's.
                raise ValueError(
                    f"{model.__name__}.{field.attname} has a default made for each row: it varies."
                )
        self.pending = tuple(entry for entry in first.pending if entry[1] not in self.columns)

    def prepare(self, **values: Any) -> PreparedInsert:
        """A row with `values` in the varying columns (all of them, by attribute name)."""
        if values.keys() != self.columns.keys():
            raise TypeError(f"The varying columns are {', '.join(self.columns)}.")
        row = list(self.values)
        for slot in self.copied:
            value = row[slot]
            row[slot] = copy.deepcopy(value) if value else type(value)()
        for attname, value in values.items():
            row[self.columns[attname][0]] = value
        instance = self.model(*row)
        params = list(self.first.params)
        pending = list(self.pending)
        for attname, (_, index, field, param) in self.columns.items():
            try:
                params[index] = prepared = param(getattr(instance, attname))
            except _NotPlain:
                raise ValueError(f"{attname}: an expression cannot vary in a template.") from None
            if kind := _pending_kind(field, prepared, instance):
                value = getattr(instance, attname) if kind == "json" else None
                pending.append((index, attname, kind, value))
        first = self.first
        return PreparedInsert(
            instance=instance,
            sql=first.sql,
            params=tuple(params),
            pending=tuple(sorted(pending)),
            returns_id=first.returns_id,
            using=first.using,
            generated_pk=first.generated_pk,
        )


@dataclass(frozen=True)
class PreparedUpdate:
    """One UPDATE, ready to run; `execute` returns the number of rows it changed."""

    sql: str
    params: tuple[Any, ...]
    using: str

    def execute(self) -> int:
        shared = _shared_cursors.by_alias.get(self.using)
        if shared is not None:
            cursor = shared[1]
            cursor.execute(self.sql, self.params)
            return int(cursor.rowcount)
        with statement_cursor(connections[self.using]) as cursor:
            cursor.execute(self.sql, self.params)
            return int(cursor.rowcount)

    def send(self) -> Callable[[], int]:
        """`execute`, its count read later: returns a function that gives the number of rows
        changed, to call after the pipeline (`pipelined`) has ended; outside a pipeline the
        statement has run when this returns."""
        database = connections[self.using]
        pipeline = active_pipeline(database)
        if pipeline is None:
            count = self.execute()
            return lambda: count
        cursor = pipeline.cursor()
        cursor.execute(self.sql, self.params)
        counted: list[int] = []
        pipeline.when_read(lambda: counted.append(cursor.rowcount))
        return lambda: counted[0]


class CompiledUpdate:
    """An UPDATE compiled once per database and process: `build(**markers)` returns the
    queryset and the values of its `.update()`, and is called once with a marker standing
    for each argument; `prepare(**arguments)` then puts the real values in the markers'
    places. For an update run on every request (intake's debit), whose building and
    compiling costs many times the statement.

    `arguments` names each argument and its type (int, Decimal or str). The ORM must pass a
    marker to the statement as it is (checked when compiled), so that a value put in its
    place is what the ORM would have passed for it."""

    def __init__(
        self,
        build: Callable[..., tuple[QuerySet[Any], dict[str, Any]]],
        **arguments: type,
    ) -> None:
        self.build = build
        self.arguments = arguments
        self._compiled: dict[str, tuple[str, tuple[Any, ...], tuple[tuple[int, str], ...]]] = {}

    def _markers(self) -> dict[str, Any]:
        markers: dict[str, Any] = {}
        for position, (name, kind) in enumerate(self.arguments.items(), start=1):
            if kind is str:
                markers[name] = f"{_PENDING_TEXT}:{position}"
            elif kind is int or kind is Decimal:
                markers[name] = kind(PENDING_ID - position)
            else:
                raise TypeError(f"{name}: a marker stands for an int, a Decimal or a str")
        return markers

    def _compile(self, using: str) -> tuple[str, tuple[Any, ...], tuple[tuple[int, str], ...]]:
        compiled = self._compiled.get(using)
        if compiled is None:
            markers = self._markers()
            queryset, values = self.build(**markers)
            query = cast(UpdateQuery, queryset.using(using).query.chain(UpdateQuery))
            query.add_update_values(values)
            sql, params = query.get_compiler(using=using).as_sql()
            places = []
            for (name, marker), found in zip(
                markers.items(), _marker_places(params, markers.values()), strict=True
            ):
                if not found or any(type(params[i]) is not type(marker) for i in found):
                    raise TypeError(f"{name}: the statement does not take it as it is")
                places += [(i, name) for i in found]
            compiled = (sql, tuple(params), tuple(places))
            self._compiled[using] = compiled
        return compiled

    def prepare(self, *, using: str = "default", **arguments: Any) -> PreparedUpdate:
        sql, params, places = self._compile(using)
        bound = list(params)
        for index, name in places:
            bound[index] = arguments[name]
        return PreparedUpdate(sql=sql, params=tuple(bound), using=using)


def _marker_places(params: Sequence[Any], markers: Iterable[Any]) -> list[list[int]]:
    """Per marker, the positions among a compiled statement's `params` that hold it."""
    return [[i for i, value in enumerate(params) if value == marker] for marker in markers]


# A statement's column converters, as the compiler gives them: (position in the row,
# (the functions in the order they apply, the column's expression)).
_Converters = tuple[tuple[int, tuple[list[Any], Any]], ...]


def _converted(
    rows: Sequence[Sequence[Any]], converters: _Converters, connection: BaseDatabaseWrapper
) -> list[tuple[Any, ...]]:
    """`rows` (at least one) with their columns' converters applied, as the ORM applies them.
    Column by column: a status call's 100 rows cost a third less than row by row."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for position, (functions, expression) in converters:
        column = columns[position]
        for function in functions:
            column = [function(value, expression, connection) for value in column]
        columns[position] = column
    return list(zip(*columns, strict=True))


def _key_marker(model: type[Model], position: int, key: str) -> Any:
    """What stands for the value of `key` (a text or integer field, "pk" for the primary key)
    at `position` while a read is compiled: never a real value."""
    field = model._meta.pk if key == "pk" else model._meta.get_field(key)
    if isinstance(field, CharField | TextField):
        return f"{_PENDING_TEXT}:{position}"
    return PENDING_ID - position


class PreparedRowRead:
    """The first row of `model` (by `order_by`) matching `keys` given per call and fixed
    `filters` (`get`; every such row: `all`), compiled once per database and process:
    reading it then costs the statement, the column converters and the instances, not the
    building and compiling of a queryset (most of a small read's cost). For reads on every
    request: the publisher row a cached credential is checked against, the shipping rate of
    an order, a cart order's lines inside a delivery's transaction.

    `keys` are field names (`"pk"` for the primary key) whose values `get` and `all` take,
    in that order; each must be a plain equality on a text or integer column. With
    `for_update`, the rows read are locked until the transaction ends, as
    `select_for_update()` locks them (where the database locks rows: on SQLite the
    transaction's write lock covers them).
    """

    def __init__(
        self,
        model: type[Model],
        *,
        keys: tuple[str, ...] = ("pk",),
        order_by: tuple[str, ...] = (),
        for_update: bool = False,
        **filters: Any,
    ) -> None:
        self.model = model
        self.keys = keys
        self.order_by = order_by
        self.for_update = for_update
        self.filters = filters
        # (database, the first row only) -> (sql, params, positions, names, converters)
        self._compiled: dict[
            tuple[str, bool], tuple[str, tuple[Any, ...], list[int], list[str], _Converters]
        ] = {}

    def _compile(
        self, using: str, first: bool
    ) -> tuple[str, tuple[Any, ...], list[int], list[str], _Converters]:
        compiled = self._compiled.get((using, first))
        if compiled is None:
            markers = [_key_marker(self.model, i, key) for i, key in enumerate(self.keys)]
            queryset = (
                self.model._default_manager.using(using)
                .filter(**dict(zip(self.keys, markers, strict=True)), **self.filters)
                .order_by(*self.order_by)
            )
            if self.for_update:
                queryset = queryset.select_for_update()
            if first:
                queryset = queryset[:1]
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            positions = [index for [index] in _marker_places(params, markers)]
            columns = [column for column, _, _ in compiler.select]
            names = [column.target.attname for column in columns]
            converters = tuple(compiler.get_converters(columns).items())
            compiled = (sql, tuple(params), positions, names, converters)
            self._compiled[using, first] = compiled
        return compiled

    def _read(self, values: Sequence[Any], using: str, *, first: bool) -> list[Any]:
        sql, params, positions, names, converters = self._compile(using, first)
        bound = list(params)
        for index, value in zip(positions, values, strict=True):
            bound[index] = value
        connection = connections[using]
        with statement_cursor(connection) as cursor:
            cursor.execute(sql, bound)
            rows = [cursor.fetchone()] if first else cursor.fetchall()
        if not rows or rows == [None]:
            return []
        if converters:
            rows = _converted(rows, converters, connection)
        return [self.model.from_db(using, names, row) for row in rows]

    def get(self, *values: Any, using: str = "default") -> Any:
        """The instance whose `keys` equal `values`, or None when no row matches."""
        found = self._read(values, using, first=True)
        return found[0] if found else None

    def all(self, *values: Any, using: str = "default") -> list[Any]:
        """Every instance whose `keys` equal `values`, in `order_by`'s order."""
        return self._read(values, using, first=False)


class _AnyOf(Lookup[Any]):
    """`column = ANY(%s::type[])`: the column equals one of the values of one parameter, an
    array literal of the column's type (PostgreSQL; see `_array_literal`). The values go to
    the database as they are given (no field preparation), as `PreparedRowsRead`'s keys do."""

    lookup_name = "any_of"  # never registered on a field: used as an expression
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        element = self.lhs.output_field.db_type(connection)
        return f"{lhs} = ANY({rhs}::{element}[])", [*lhs_params, *rhs_params]


def _array_literal(values: Sequence[Any]) -> str:
    """`values` (texts or integers) as PostgreSQL's text form of an array, which the
    statement casts to the column's array type. psycopg adapts a list parameter element by
    element in Python (about 80 µs of CPU for a status call's 100 invoices, half of the
    statement's client cost); this is a join or two. Every text is quoted, its backslashes
    and double quotes escaped, so any text (commas, braces, `NULL`, blanks) is the element
    it was."""
    try:
        plain = "".join(values)
    except TypeError:  # not all texts
        plain = None
    if plain is not None and '"' not in plain and "\\" not in plain:
        return '{"' + '","'.join(values) + '"}'
    return (
        "{"
        + ",".join(
            str(int(value))
            if isinstance(value, int)
            else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


class PreparedRowsRead:
    """The rows of `model` whose field `among` is one of the values given per call (and whose
    `keys` equal values given per call, and fixed `filters`), as tuples of `columns` with the
    columns' converters applied as the ORM applies them: `values_list(*columns)` without
    its queryset. Compiled once per database, process and number of values (an `IN` list
    has one placeholder per value); on PostgreSQL once per database and process, the values
    being one array parameter (`= ANY(%s)`): psycopg does not cache its parsing of a
    statement of over 50 parameters, and parsed the `IN` list's 100 placeholders and
    adapted its 100 values one by one on every call, which cost more than the rest of the
    read. For reads of many rows on every request: the orders of a status call.

    The rows come in no particular order (no ORDER BY, not even the model's `ordering`): a
    caller that needs one ranks them itself. `keys` and `among` each must be a plain equality
    on a text or integer column (`"pk"` for the primary key).
    """

    def __init__(
        self,
        model: type[Model],
        *,
        columns: tuple[str, ...],
        among: str,
        keys: tuple[str, ...] = (),
        **filters: Any,
    ) -> None:
        self.model = model
        self.columns = columns
        self.among = among
        self.keys = keys
        self.filters = filters
        # (database, number of values, or None for one array) -> (sql, params, positions of
        # keys then values, converters)
        self._compiled: dict[
            tuple[str, int | None], tuple[str, tuple[Any, ...], list[int], _Converters]
        ] = {}

    def _compile(
        self, using: str, count: int | None
    ) -> tuple[str, tuple[Any, ...], list[int], _Converters]:
        compiled = self._compiled.get((using, count))
        if compiled is None:
            markers = [_key_marker(self.model, i, key) for i, key in enumerate(self.keys)]
            conditions: dict[str, Any] = dict(zip(self.keys, markers, strict=True))
            values: list[Any]
            if count is None:
                values = [[_key_marker(self.model, len(markers), self.among)]]
                lookups: tuple[Any, ...] = (_AnyOf(F(self.among), values[0]),)
            else:
                values = [
                    _key_marker(self.model, len(markers) + i, self.among) for i in range(count)
                ]
                conditions[f"{self.among}__in"] = values
                lookups = ()
            queryset = (
                self.model._default_manager.using(using)
                .filter(*lookups, **conditions, **self.filters)
                .order_by()
                .values_list(*self.columns)
            )
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            positions = [index for [index] in _marker_places(params, (*markers, *values))]
            columns = [column for column, _, _ in compiler.select]
            meta = self.model._meta
            wanted = [meta.pk if name == "pk" else meta.get_field(name) for name in self.columns]
            assert [column.target for column in columns] == wanted, "columns out of order"
            converters = tuple(compiler.get_converters(columns).items())
            compiled = (sql, tuple(params), positions, converters)
            self._compiled[using, count] = compiled
        return compiled

    def rows(
        self, *values: Any, among: Sequence[Any], using: str = "default"
    ) -> list[tuple[Any, ...]]:
        """The matching rows for `keys` equal to `values` and `among` in `among`."""
        if not among:
            return []
        connection = connections[using]
        if connection.vendor == "postgresql":
            sql, params, positions, converters = self._compile(using, None)
            values = (*values, _array_literal(among))
        else:
            sql, params, positions, converters = self._compile(using, len(among))
            values = (*values, *among)
        bound = list(params)
        for index, value in zip(positions, values, strict=True):
            bound[index] = value
        with statement_cursor(connection) as cursor:
            cursor.execute(sql, bound)
            read = cursor.fetchall()
        if not converters or not read:
            return cast(list[tuple[Any, ...]], read)
        return _converted(read, converters, connection)
