"""core.prepared: an INSERT compiled once per model and database gives each row exactly the
statement and parameters the ORM would compile for it, whatever the values; a row holding an
expression is compiled whole; a row with its own primary key (a task's UUID) keeps it."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset
from decimal import Decimal
from typing import Any

import pytest
from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    models,
    transaction,
)
from django.db.models.functions import Now
from django.db.models.sql import UpdateQuery
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.billing.services import (
    _balance_plus,
    balance_debit_prepare,
    ledger_order_charge_entry,
)
from pressrun.core import prepared as prepared_module
from pressrun.core.prepared import (
    PENDING_ID,
    CompiledUpdate,
    InsertTemplate,
    _compiled_insert,
    _insert_fields,
    _param_function,
    prepare_insert,
    statement_cursor,
)
from pressrun.orders.models import Order, OrderEvent, OrderLine, OrderStatus

FIELDS: list[models.Field[Any, Any]] = [
    models.CharField(max_length=20),
    models.CharField(max_length=20, null=True),
    models.TextField(),
    models.EmailField(),
    models.SlugField(),
    models.BooleanField(),
    models.BooleanField(null=True),
    models.IntegerField(),
    models.BigIntegerField(null=True),
    models.SmallIntegerField(),
    models.PositiveIntegerField(),
    models.PositiveSmallIntegerField(),
    models.PositiveBigIntegerField(),
    models.DateTimeField(null=True),
    models.DecimalField(max_digits=12, decimal_places=2, null=True),
    models.DecimalField(max_digits=5, decimal_places=3),
    # Foreign keys as they are on the models (a key's target is known once it belongs to one).
    OrderLine._meta.get_field("order"),
    LedgerEntry._meta.get_field("order"),
    Order._meta.get_field("status"),
]

values = st.one_of(
    st.none(),
    st.sampled_from(list(OrderStatus)),
    st.text(max_size=30),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-9999, max_value=9999),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
)


def _orm(field: models.Field[Any, Any], value: Any) -> Any:
    try:
        return ("ok", field.get_db_prep_save(value, connection))
    except Exception as exc:  # compared with what the other way raises
        return ("raises", type(exc))


def _short_cut(field: models.Field[Any, Any], value: Any) -> Any:
    try:
        return ("ok", _param_function(field, connection)(value))
    except Exception as exc:  # compared with what the other way raises
        return ("raises", type(exc))


@pytest.mark.django_db
@settings(max_examples=300, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(FIELDS) - 1), value=values)
def test_a_parameter_is_what_the_field_itself_prepares(index: int, value: Any) -> None:
    field = FIELDS[index]
    if not field.name:
        field.set_attributes_from_name(f"column_{index}")
    orm = _orm(field, value)
    short_cut = _short_cut(field, value)
    assert short_cut == orm
    if orm[0] == "ok":
        assert type(short_cut[1]) is type(orm[1])


moments = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from(
        [UTC, fixed_offset(timedelta(hours=-5)), fixed_offset(timedelta(hours=9))]
    ),
)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None)
@given(pool=st.lists(moments, min_size=1, max_size=4), picks=st.lists(st.integers(0, 3)))
def test_a_date_parameter_kept_from_the_last_row_is_that_moment_s(
    pool: list[datetime], picks: list[int]
) -> None:
    """One column's parameters, row after row, the same moment object often repeated (the
    kept last one) and others in between, equal moments in other time zones included: each
    is what the field prepares for it."""
    field = Order._meta.get_field("created_at")
    param = _param_function(field, connection)
    for pick in picks:
        value = pool[pick % len(pool)]
        assert param(value) == field.get_db_prep_save(value, connection)


def _task_row(**values: Any) -> DBTaskResult[Any, Any]:
    return DBTaskResult(
        priority=0,
        task_path="pressrun.notifications.tasks.order_placed_email",
        queue_name="default",
        run_after=get_date_max(),
        backend_name="default",
        **values,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@pytest.mark.django_db
@settings(max_examples=150, deadline=None)
@given(
    arguments=st.lists(json_values, max_size=3),
    order_id=st.one_of(st.just(PENDING_ID), st.integers(1, 2**40)),
    moment=moments,
)
def test_a_template_row_is_the_row_prepare_insert_prepares(
    arguments: list[Any], order_id: int, moment: datetime
) -> None:
    """A row from a template is the row `prepare_insert` prepares from an instance built
    with the same values: the statement, every parameter, where the pending id goes, and
    the instance's attributes; no two rows share a list."""
    template = InsertTemplate(
        prepare_insert(_task_row(id=uuid.uuid4(), args_kwargs={"args": [], "kwargs": {}})),
        ("id", "enqueued_at", "args_kwargs"),
    )
    row_id = uuid.uuid4()
    args_kwargs = {"args": arguments, "kwargs": {"order_id": order_id}}
    from_template = template.prepare(id=row_id, enqueued_at=moment, args_kwargs=args_kwargs)
    instance = _task_row(id=row_id, args_kwargs=args_kwargs)
    from_instance = prepare_insert(instance)
    # `prepare_insert` sets `auto_now_add` to its own now; a template row takes the given one.
    instance.enqueued_at = moment
    at = [field.attname for field in _insert_fields(DBTaskResult._meta)].index("enqueued_at")
    expected = list(from_instance.params)
    expected[at] = DBTaskResult._meta.get_field("enqueued_at").get_db_prep_save(moment, connection)

    def plain(params: Any) -> list[Any]:
        return [value.obj if type(value).__name__ == "Jsonb" else value for value in params]

    assert from_template.sql == from_instance.sql
    assert plain(from_template.params) == plain(expected)
    assert from_template.pending == from_instance.pending
    assert (from_template.returns_id, from_template.generated_pk, from_template.using) == (
        from_instance.returns_id,
        from_instance.generated_pk,
        from_instance.using,
    )
    for field in DBTaskResult._meta.concrete_fields:
        assert getattr(from_template.instance, field.attname) == getattr(instance, field.attname), (
            field.attname
        )
    assert (
        from_template.instance.worker_ids
        is not template.prepare(
            id=uuid.uuid4(), enqueued_at=moment, args_kwargs=args_kwargs
        ).instance.worker_ids
    )


@pytest.mark.django_db(transaction=True)
def test_a_template_row_waiting_for_an_id_is_written_with_it() -> None:
    first = prepare_insert(_task_row(id=uuid.uuid4(), args_kwargs={"args": [], "kwargs": {}}))
    template = InsertTemplate(first, ("id", "enqueued_at", "args_kwargs"))
    now = timezone.now()
    row = template.prepare(
        id=uuid.uuid4(),
        enqueued_at=now,
        args_kwargs={"args": [], "kwargs": {"order_id": PENDING_ID}},
    )
    with transaction.atomic():
        row.execute(41)
    stored = DBTaskResult.objects.get(pk=row.instance.pk)
    assert stored.args_kwargs == {"args": [], "kwargs": {"order_id": 41}}
    assert stored.enqueued_at == now
    assert row.instance.args_kwargs == {"args": [], "kwargs": {"order_id": 41}}


@pytest.mark.django_db
def test_a_template_refuses_what_would_not_be_every_row_s() -> None:
    first = prepare_insert(_task_row(id=uuid.uuid4(), args_kwargs={}))
    with pytest.raises(ValueError, match="enqueued_at is set when saved"):
        InsertTemplate(first, ("id", "args_kwargs"))
    with pytest.raises(ValueError, match="id has a default made for each row"):
        InsertTemplate(first, ("enqueued_at", "args_kwargs"))
    token_first = prepare_insert(Order(publisher_id=1, total_cost=Decimal("1.00")))
    with pytest.raises(ValueError, match="customer_token has a default made for each row"):
        InsertTemplate(token_first, ("created_at",))
    with pytest.raises(ValueError, match="nothing is not a column"):
        InsertTemplate(first, ("id", "enqueued_at", "nothing"))
    template = InsertTemplate(first, ("id", "enqueued_at", "args_kwargs"))
    with pytest.raises(TypeError, match="The varying columns are id, enqueued_at, args_kwargs"):
        template.prepare(id=uuid.uuid4(), enqueued_at=timezone.now())
    with pytest.raises(ValueError, match="an expression cannot vary"):
        template.prepare(id=uuid.uuid4(), enqueued_at=Now(), args_kwargs={})


def _without_now(model: type[models.Model], params: list[Any]) -> list[Any]:
    # An `auto_now` or `auto_now_add` column takes the time of each preparation.
    fields = _insert_fields(model._meta)
    # psycopg's JSON wrapper compares by identity: compare what it wraps.
    params = [value.obj if type(value).__name__ == "Jsonb" else value for value in params]
    return [
        "now"
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        else value
        for field, value in zip(fields, params, strict=True)
    ]


def _as_the_orm_compiles(instance: models.Model) -> tuple[str, list[Any]]:
    model = type(instance)
    sql, params, _ = _compiled_insert(model, _insert_fields(model._meta), instance, "default")
    return sql, _without_now(model, params)


@pytest.mark.django_db
def test_the_write_path_rows_compile_as_the_orm_compiles_them(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="20.00")
    project = make_project(publisher)
    now = timezone.now()
    order = Order(
        publisher=publisher,
        mode="prod",
        status="PROCESSING",
        invoice="INV-1",
        source="gateway",
        email="ann@example.com",
        name="Ann Example",
        address="1 Main St",
        city="Austin",
        state="TX",
        postal_code="78701",
        country="US",
        mail_method="standard",
        shipping_method="standard",
        customer_price=Decimal("12.34"),
        send_notification_email=True,
        products_cost=Decimal("4.50"),
        shipping_cost=Decimal("1.50"),
        total_cost=Decimal("6.00"),
        charged_at=now,
        address_changes_until=now + timedelta(hours=12),
        created_at=now,
    )
    pending = Order(id=PENDING_ID)
    rows: list[models.Model] = [
        order,
        OrderLine(
            order=pending,
            project=project,
            position=1,
            quantity=2,
            unit_price=Decimal("4.50"),
            mode="prod",
            invoice="INV-1",
            created_at=now,
        ),
        OrderEvent(order=pending, at=now, kind="placed", to_status="HOLD", message="m"),
        ledger_order_charge_entry(
            publisher_id=publisher.id, order_id=PENDING_ID, amount=Decimal("6.00"), at=now
        ),
        DBTaskResult(
            args_kwargs={"args": [], "kwargs": {"order_id": 7}},
            priority=0,
            task_path="pressrun.notifications.tasks.order_placed_email",
            queue_name="default",
            run_after=now,
            backend_name="default",
        ),
    ]
    for row in rows:
        for _ in range(2):  # the first call compiles the plan, the second uses it
            prepared = prepare_insert(row)
            compiled = (prepared.sql, _without_now(type(row), list(prepared.params)))
            assert compiled == _as_the_orm_compiles(row)

    order_id = prepare_insert(order).execute()
    assert Order.objects.filter(id=order_id, total_cost=Decimal("6.00")).count() == 1
    entry = ledger_order_charge_entry(
        publisher_id=publisher.id, order_id=PENDING_ID, amount=Decimal("6.00"), at=now
    )
    prepare_insert(entry).execute(order_id)
    stored = LedgerEntry.objects.get(order_id=order_id)
    assert (stored.amount, stored.description) == (Decimal("-6.00"), f"Order {order_id}")


@pytest.mark.django_db
def test_a_row_with_its_own_primary_key_keeps_it() -> None:
    task = DBTaskResult(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="pressrun.notifications.tasks.order_placed_email",
        run_after=timezone.now(),
        backend_name="default",
    )
    own_id = task.pk
    assert prepare_insert(task).execute() == own_id
    stored = DBTaskResult.objects.get(pk=own_id)
    assert stored.enqueued_at is not None  # auto_now_add, applied when prepared
    assert stored.args_kwargs == {"args": [], "kwargs": {}}


@pytest.mark.django_db
def test_a_row_holding_an_expression_is_compiled_whole(
    make_publisher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepared_module, "_insert_plans", {})
    publisher = make_publisher(balance="0.00")
    entry = LedgerEntry(
        publisher=publisher,
        kind="payment",
        amount=Decimal("5.00"),
        description="expression",
        created_at=timezone.now(),
    )
    entry.created_at = Now()
    whole_first = prepare_insert(entry)  # the first row of the model: no plan is made of it
    assert whole_first.execute() > 0
    assert prepared_module._insert_plans == {}
    entry.created_at = timezone.now()
    prepare_insert(entry)  # the plan exists
    entry.created_at = Now()
    prepared = prepare_insert(entry)
    assert "%s" in prepared.sql
    assert (
        prepared.sql
        != prepare_insert(
            LedgerEntry(publisher=publisher, kind="payment", amount=1, created_at=timezone.now())
        ).sql
    )
    entry_id = prepared.execute()
    assert LedgerEntry.objects.get(id=entry_id).created_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["6.00", "0.01", "123456.78"])
def test_a_compiled_update_is_what_the_orm_compiles(make_publisher: Any, amount: str) -> None:
    publisher = make_publisher(balance="10.00")
    cost = Decimal(amount)
    query = Publisher.objects.filter(id=publisher.id, balance__gte=cost).query.chain(UpdateQuery)
    query.add_update_values({"balance": _balance_plus(-cost)})
    sql, params = query.get_compiler(using="default").as_sql()
    for _ in range(2):  # compiled, then from the cache
        debit = balance_debit_prepare(publisher_id=publisher.id, amount=cost)
        assert (debit.sql, debit.params) == (sql, tuple(params))
    covered = cost <= Decimal("10.00")
    assert debit.execute() == (1 if covered else 0)
    expected = Decimal("10.00") - cost if covered else Decimal("10.00")
    assert Publisher.objects.get(id=publisher.id).balance == expected


def test_a_marker_the_orm_would_change_is_refused() -> None:
    # A text compared with a number column: the ORM turns it into an int, so a value put in
    # the marker's place would not be what the ORM passes.
    update = CompiledUpdate(
        lambda publisher_id: (Publisher.objects.filter(id=publisher_id), {"is_active": False}),
        publisher_id=str,
    )
    with pytest.raises((TypeError, ValueError)):
        update.prepare(publisher_id="1")


def _direct(cursor: Any) -> bool:
    return isinstance(cursor, prepared_module._DirectCursor)


@pytest.mark.django_db
def test_the_statement_cursor_is_the_drivers_unless_statements_are_watched(
    make_publisher: Any,
) -> None:
    publisher = make_publisher(balance="3.00")
    sql = "SELECT balance FROM accounts_publisher WHERE id = %s AND email LIKE '%%@%%'"
    with statement_cursor(connection) as cursor:
        assert _direct(cursor)
        # The proxy `django.db.connection` is looked up once: the cursor holds the wrapper.
        assert cursor._database is connections["default"]
        cursor.execute(sql, [publisher.id])
        assert Decimal(str(cursor.fetchone()[0])) == Decimal("3.00")
    # Watched (the tests' query capture, DEBUG, the census' execute wrapper): Django's
    # cursor, which records the statement as it was written.
    with CaptureQueriesContext(connection) as captured, statement_cursor(connection) as cursor:
        assert not _direct(cursor)
        cursor.execute(sql, [publisher.id])
        assert Decimal(str(cursor.fetchone()[0])) == Decimal("3.00")
    assert [query["sql"].split(" WHERE ")[0] for query in captured.captured_queries] == [
        "SELECT balance FROM accounts_publisher"
    ]
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper), statement_cursor(connection) as cursor:
        assert not _direct(cursor)
        cursor.execute(sql, [publisher.id])
    assert seen == [sql]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("watched", [False, True])
def test_statements_in_one_cursor_block_share_its_cursor_on_sqlite(
    make_publisher: Any, monkeypatch: pytest.MonkeyPatch, watched: bool
) -> None:
    publisher = make_publisher(balance="10.00")
    opened: list[Any] = []
    driver_cursor = prepared_module._driver_cursor

    def counted(database: Any) -> Any:
        opened.append(database)
        return driver_cursor(database)

    monkeypatch.setattr(prepared_module, "_driver_cursor", counted)
    debit = balance_debit_prepare(publisher_id=publisher.id, amount=Decimal("4.00"))
    arguments = {"args": [PENDING_ID], "kwargs": {"note": f"order {PENDING_ID}"}}
    rows = [prepare_insert(_task_row(id=uuid.uuid4(), args_kwargs=arguments)) for _ in range(2)]
    captured = CaptureQueriesContext(connection)
    with (
        captured if watched else contextlib.nullcontext(),
        transaction.atomic(),
        prepared_module.one_cursor(connection),
    ):
        assert debit.execute() == 1
        for row in rows:
            row.execute(41)
    # Each statement ran, in order, each row with the id in its JSON value and text.
    written = {"args": [41], "kwargs": {"note": "order 41"}}
    for row in rows:
        assert DBTaskResult.objects.get(pk=row.instance.pk).args_kwargs == written
        assert row.instance.args_kwargs == written
    assert Publisher.objects.get(pk=publisher.pk).balance == Decimal("6.00")
    if watched:
        # Django's cursor, shared, so the capture sees every statement.
        assert [query["sql"].split(" ")[0] for query in captured.captured_queries][-4:] == [
            "UPDATE",
            "INSERT",
            "INSERT",
            "COMMIT",
        ]
        assert opened == []
    else:
        # The driver's cursor: opened once on SQLite, once a statement elsewhere.
        assert len(opened) == (1 if connection.vendor == "sqlite" else 3)


@pytest.mark.django_db
def test_the_statement_cursor_raises_djangos_errors_and_refuses_a_broken_transaction(
    make_publisher: Any,
) -> None:
    # Intake tells a duplicate by Django's IntegrityError; after an error in a transaction,
    # no statement may run until it is rolled back, as with Django's cursor.
    publisher = make_publisher()
    insert = (
        "INSERT INTO accounts_publisher (id, email, password, company, balance) "
        "SELECT id, email, password, company, balance FROM accounts_publisher WHERE id = %s"
    )
    with transaction.atomic():
        with (
            pytest.raises(IntegrityError),
            transaction.atomic(savepoint=False),
            statement_cursor(connection) as cursor,
        ):
            cursor.execute(insert, [publisher.id])
        with pytest.raises(TransactionManagementError), statement_cursor(connection) as cursor:
            cursor.execute("SELECT 1", [])
        transaction.set_rollback(True)
    with pytest.raises(DatabaseError), statement_cursor(connection) as cursor:
        cursor.execute("SELECT no_such_column FROM accounts_publisher", [])


@pytest.mark.django_db(transaction=True)
def test_the_statement_cursor_opens_a_closed_connection() -> None:
    connection.close()  # (an in-memory SQLite database stays open)
    with statement_cursor(connection) as cursor:
        cursor.execute("SELECT %s + 1", [41])
        assert cursor.fetchone()[0] == 42


def test_placeholders_become_postgresqls_own_once_per_statement() -> None:
    convert = prepared_module._numbered_statement
    assert convert("SELECT %s, '100%%', %s WHERE a LIKE '%%x'") == (
        b"SELECT $1, '100%', $2 WHERE a LIKE '%x'"
    )
    assert convert("SELECT 'caf\u00e9 %s'") == "SELECT 'caf\u00e9 $1'".encode()
    assert convert("SELECT 1") == b"SELECT 1"
    for other in ("SELECT %(name)s", "SELECT %b", "SELECT 5 %"):
        with pytest.raises(ValueError, match="Only %s placeholders"):
            convert(other)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.just("%s"),
            st.just("%%"),
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="%\x00"),
                max_size=10,
            ),
        ),
        max_size=12,
    )
)
def test_placeholders_are_numbered_as_psycopg_numbers_them(pieces: list[str]) -> None:
    """The conversion done once per statement is the one psycopg does on every execution."""
    from psycopg._queries import PostgresQuery
    from psycopg.adapt import Transformer

    sql = "".join(pieces)
    theirs = PostgresQuery(Transformer())
    theirs.convert(sql, [None] * pieces.count("%s"))
    assert prepared_module._numbered_statement(sql) == theirs.query


@pytest.mark.django_db
@pytest.mark.parametrize("server_binds", [True, False], ids=["server-binds", "driver-binds"])
def test_a_statement_past_the_drivers_own_cache_runs_with_every_value_in_place(
    monkeypatch: pytest.MonkeyPatch, server_binds: bool
) -> None:
    """psycopg keeps its own conversion only for statements under 4,096 characters and 50
    parameters; where PostgreSQL binds the parameters the statement cursor converts each
    statement once whatever its size (SQLite's `?` likewise), and every value arrives in its
    place. Behind a transaction pooler psycopg binds them, from Django's `%s`."""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", server_binds)
    count = 120
    values = [f"value {number} 100%" for number in range(count)]
    columns = ", ".join(f"%s AS column_with_a_long_name_{number}" for number in range(count))
    sql = f"SELECT '50%%', {columns}"
    assert len(sql) > 4096
    for _ in range(3):  # the cached conversion, then again
        with statement_cursor(connection) as cursor:
            cursor.execute(sql, values)
            assert list(cursor.fetchone()) == ["50%", *values]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's array text form; SQLite has none"
)
@pytest.mark.django_db
@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12,
            ),
            st.sampled_from(["NULL", "", " ", '"', "\\", ",", "{}", '\\"']),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_an_array_literal_reads_back_as_the_texts_it_was_made_of(values: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::text[])", [prepared_module._array_literal(values)])
        assert [text for (text,) in cursor.fetchall()] == values
