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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections
from django.db.models import CharField, Model, QuerySet, TextField
from django.db.models.sql import UpdateQuery
from django.db.models.sql.subqueries import InsertQuery

# Stands for the id `execute` is given; never a real primary key (they are positive).
PENDING_ID = -7_000_000_000_000_000_001
_PENDING_TEXT = str(PENDING_ID)


@dataclass
class PreparedInsert:
    """One row's INSERT, ready to run. `instance` gets its primary key when executed."""

    instance: Model
    sql: str
    params: tuple[Any, ...]
    # (position in params, attribute name, whether the value is a text naming the id)
    pending: tuple[tuple[int, str, bool], ...]
    returns_id: bool
    using: str

    def execute(self, pending_id: int | None = None) -> int:
        """Insert the row (`PENDING_ID` replaced by `pending_id`); returns its id."""
        params: Sequence[Any] = self.params
        if self.pending:
            assert pending_id is not None, "this statement waits for an id"
            listed = list(params)
            for index, attname, is_text in self.pending:
                value = (
                    listed[index].replace(_PENDING_TEXT, str(pending_id)) if is_text else pending_id
                )
                listed[index] = value
                setattr(self.instance, attname, value)
            params = listed
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            if self.returns_id:
                new_id = int(cursor.fetchone()[0])
            else:
                new_id = int(connection.ops.last_insert_id(cursor, "", ""))
        self.instance.pk = new_id
        self.instance._state.adding = False
        self.instance._state.db = self.using
        return new_id


def prepare_insert(instance: Model, *, using: str = "default") -> PreparedInsert:
    """The INSERT of `instance` (all its concrete fields but the auto primary key), compiled
    now. Where a value is `PENDING_ID` (or a text containing it), the id given to `execute`
    takes its place. Field defaults and `auto_now` are applied now."""
    model = type(instance)
    meta = model._meta
    fields = [field for field in meta.local_concrete_fields if field is not meta.pk]
    query = InsertQuery(model)
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(using=using)
    connection = connections[using]
    returns_id = connection.features.can_return_columns_from_insert
    if returns_id:
        compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    pending = tuple(
        (index, field.attname, isinstance(value, str))
        for index, (field, value) in enumerate(zip(fields, params, strict=False))
        if (isinstance(value, int) and value == PENDING_ID)
        or (isinstance(value, str) and _PENDING_TEXT in value)
    )
    return PreparedInsert(
        instance=instance,
        sql=sql,
        params=tuple(params),
        pending=pending,
        returns_id=returns_id,
        using=using,
    )


@dataclass(frozen=True)
class PreparedUpdate:
    """One UPDATE, ready to run; `execute` returns the number of rows it changed."""

    sql: str
    params: tuple[Any, ...]
    using: str

    def execute(self) -> int:
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return int(cursor.rowcount)


def prepare_update(queryset: QuerySet[Any], **values: Any) -> PreparedUpdate:
    """`queryset.update(**values)` compiled now (one table, no related updates)."""
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    using = queryset.db
    sql, params = query.get_compiler(using=using).as_sql()
    return PreparedUpdate(sql=sql, params=tuple(params), using=using)


class PreparedRowRead:
    """The first row of `model` (by `order_by`) matching `keys` given per call and fixed
    `filters`, compiled once per database and process: reading it then costs the statement,
    the column converters and the instance, not the building and compiling of a queryset
    (most of a one-row read's cost). For reads on every request: the publisher row a cached
    credential is checked against, the shipping rate of an order.

    `keys` are field names (`"pk"` for the primary key) whose values `get` takes, in that
    order; each must be a plain equality on a text or integer column.
    """

    def __init__(
        self,
        model: type[Model],
        *,
        keys: tuple[str, ...] = ("pk",),
        order_by: tuple[str, ...] = (),
        **filters: Any,
    ) -> None:
        self.model = model
        self.keys = keys
        self.order_by = order_by
        self.filters = filters
        self._compiled: dict[str, tuple[str, tuple[Any, ...], list[int], list[str], Any]] = {}

    def _marker(self, position: int, key: str) -> Any:
        field = self.model._meta.pk if key == "pk" else self.model._meta.get_field(key)
        if isinstance(field, CharField | TextField):
            return f"{_PENDING_TEXT}:{position}"
        return PENDING_ID - position

    def _compile(self, using: str) -> tuple[str, tuple[Any, ...], list[int], list[str], Any]:
        compiled = self._compiled.get(using)
        if compiled is None:
            markers = [self._marker(i, key) for i, key in enumerate(self.keys)]
            queryset = (
                self.model._default_manager.using(using)
                .filter(**dict(zip(self.keys, markers, strict=True)), **self.filters)
                .order_by(*self.order_by)[:1]
            )
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            positions = []
            for marker in markers:
                [index] = [i for i, value in enumerate(params) if value == marker]
                positions.append(index)
            columns = [column for column, _, _ in compiler.select]
            names = [column.target.attname for column in columns]
            converters = compiler.get_converters(columns)
            compiled = (sql, tuple(params), positions, names, converters)
            self._compiled[using] = compiled
        return compiled

    def get(self, *values: Any, using: str = "default") -> Any:
        """The instance whose `keys` equal `values`, or None when no row matches."""
        sql, params, positions, names, converters = self._compile(using)
        bound = list(params)
        for index, value in zip(positions, values, strict=True):
            bound[index] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            row = cursor.fetchone()
        if row is None:
            return None
        values_read = list(row)
        for position, (functions, expression) in converters.items():
            for function in functions:
                values_read[position] = function(values_read[position], expression, connection)
        return self.model.from_db(using, names, values_read)


class PreparedRowsRead:
    """The rows of `model` whose field `among` is one of the values given per call (and whose
    `keys` equal values given per call, and fixed `filters`), as tuples of `columns` with the
    columns' converters applied as the ORM applies them: `values_list(*columns)` without
    its queryset. Compiled once per database, process and number of values (an `IN` list
    has one placeholder per value). For reads of many rows on every request: the orders of a
    status call.

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
        # (database, number of values) -> (sql, params, positions of keys then values,
        # converters as (position, functions, expression))
        self._compiled: dict[
            tuple[str, int],
            tuple[str, tuple[Any, ...], list[int], list[tuple[int, list[Any], Any]]],
        ] = {}

    def _marker(self, position: int, key: str) -> Any:
        field = self.model._meta.pk if key == "pk" else self.model._meta.get_field(key)
        if isinstance(field, CharField | TextField):
            return f"{_PENDING_TEXT}:{position}"
        return PENDING_ID - position

    def _compile(
        self, using: str, count: int
    ) -> tuple[str, tuple[Any, ...], list[int], list[tuple[int, list[Any], Any]]]:
        compiled = self._compiled.get((using, count))
        if compiled is None:
            markers = [self._marker(i, key) for i, key in enumerate(self.keys)]
            values = [self._marker(len(markers) + i, self.among) for i in range(count)]
            queryset = (
                self.model._default_manager.using(using)
                .filter(
                    **dict(zip(self.keys, markers, strict=True)),
                    **{f"{self.among}__in": values},
                    **self.filters,
                )
                .order_by()
                .values_list(*self.columns)
            )
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            positions = []
            for marker in (*markers, *values):
                [index] = [i for i, value in enumerate(params) if value == marker]
                positions.append(index)
            columns = [column for column, _, _ in compiler.select]
            meta = self.model._meta
            wanted = [meta.pk if name == "pk" else meta.get_field(name) for name in self.columns]
            assert [column.target for column in columns] == wanted, "columns out of order"
            converters = [
                (position, functions, expression)
                for position, (functions, expression) in compiler.get_converters(columns).items()
            ]
            compiled = (sql, tuple(params), positions, converters)
            self._compiled[using, count] = compiled
        return compiled

    def rows(
        self, *values: Any, among: Sequence[Any], using: str = "default"
    ) -> list[tuple[Any, ...]]:
        """The matching rows for `keys` equal to `values` and `among` in `among`."""
        if not among:
            return []
        sql, params, positions, converters = self._compile(using, len(among))
        bound = list(params)
        for index, value in zip(positions, (*values, *among), strict=True):
            bound[index] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            read = cursor.fetchall()
        if not converters:
            return cast(list[tuple[Any, ...]], read)
        converted = []
        for row in read:
            listed = list(row)
            for position, functions, expression in converters:
                value = listed[position]
                for function in functions:
                    value = function(value, expression, connection)
                listed[position] = value
            converted.append(tuple(listed))
        return converted


@dataclass(frozen=True)
class CompiledWrite:
    """A statement of `prepare_insert` or `prepare_update`, kept to run many times with some
    of its parameters given per call: compiled once per database and process instead of once
    per call. For small writes made on every request (a status call's charge).

    Build it from a statement prepared with a distinct marker in place of each value given
    per call, and the markers as they appear among its parameters (a datetime's as the
    database connection adapts it); `execute` then takes values prepared the same way.
    """

    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]
    using: str

    @classmethod
    def of(cls, prepared: PreparedInsert | PreparedUpdate, *markers: Any) -> CompiledWrite:
        slots = []
        for marker in markers:
            [index] = [i for i, value in enumerate(prepared.params) if value == marker]
            slots.append(index)
        return cls(
            sql=prepared.sql, params=prepared.params, slots=tuple(slots), using=prepared.using
        )

    def execute(self, *values: Any) -> int:
        """Run the statement with `values` in the markers' places; returns the rows changed."""
        bound = list(self.params)
        for index, value in zip(self.slots, values, strict=True):
            bound[index] = value
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, bound)
            if cursor.description is not None:
                # An INSERT's RETURNING id: read, so the statement is finished.
                cursor.fetchall()
            return int(cursor.rowcount)
