"""Rows as read (`row_as_read`: every column's value) and writes that require them unchanged:
`rows_unchanged_require`, `JoinedInsert(unchanged=)` and the per-process `CachedRows`. A
changed value of any column, a deleted row, a row changed twice in one transaction, is a
change; a row updated with its own values, or changed and changed back, holds what was read.
A requirement not met fails its statement and writes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry, ShippingRate
from pressrun.billing.services import balance_debit_prepare
from pressrun.catalog.models import Project
from pressrun.core.prepared import (
    PENDING_ID,
    JoinedInsert,
    PreparedRowRead,
    RowAsRead,
    RowsChanged,
    _sqlite_unchanged_check,
    prepare_insert,
    row_as_read,
    rows_unchanged_confirm,
    rows_unchanged_require,
)
from pressrun.core.row_cache import CachedRows, cached_rows_clear, cached_rows_forget

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="JoinedInsert is PostgreSQL's one statement"
)
project_read = PreparedRowRead(Project, is_active=True)


def _as_read(project_id: int) -> RowAsRead:
    instance = project_read.get(project_id)
    assert instance is not None
    return row_as_read(instance)


def test_a_row_as_read_holds_every_column_but_the_key(
    make_publisher: Any, make_project: Any
) -> None:
    project = make_project(make_publisher(), price=Decimal("7.25"))
    seen = _as_read(project.id)
    assert seen.model is Project
    assert seen.pk == project.id
    fields = [f for f in Project._meta.concrete_fields if not f.primary_key]
    assert seen.columns == tuple(f.column for f in fields)
    values = dict(zip(seen.columns, seen.params, strict=True))
    assert values["price"] == Decimal("7.25")
    assert values["publisher_id"] == project.publisher_id
    assert values["is_active"] is True
    assert values["title"] == "Greatest Hits"
    # Equal only to itself: two reads of the same row are two rows as read.
    assert _as_read(project.id) != seen


@pytest.mark.parametrize(
    ("change", "holds"),
    [
        ("price", False),
        ("deactivated", False),
        ("deleted", False),
        ("title", False),  # any column, not only those the price is made of
        ("changed twice in one transaction", False),
        ("updated with the same values", True),  # what was computed from it still holds
        ("changed and changed back", True),
    ],
)
def test_a_change_of_the_row_fails_the_requirement(
    make_publisher: Any, make_project: Any, change: str, holds: bool
) -> None:
    project = make_project(make_publisher())
    with transaction.atomic():
        # Read inside a transaction that goes on changing the row (on PostgreSQL every
        # version a transaction writes has the same xmin: the values tell them apart).
        seen = _as_read(project.id)
        rows_unchanged_require([seen])  # unchanged: passes
        rows = Project.objects.filter(id=project.id)
        if change == "price":
            rows.update(price=Decimal("9.99"))
        elif change == "deactivated":
            rows.update(is_active=False)
        elif change == "deleted":
            rows.delete()
        elif change == "title":
            rows.update(title="Renamed")
        elif change == "changed twice in one transaction":
            rows.update(price=Decimal("5.00"))
            rows.update(price=Decimal("9.99"))
        elif change == "updated with the same values":
            rows.update(price=F("price"))
        else:
            rows.update(price=Decimal("5.00"))
            rows.update(price=Decimal("4.50"))
    if holds:
        rows_unchanged_require([seen])
        return
    # (Inside the test's transaction: the savepoint takes the failed statement back.)
    with (
        pytest.raises(RowsChanged, match=f"catalog_project {project.id}$"),
        transaction.atomic(),
    ):
        rows_unchanged_require([seen])


def test_each_read_of_a_row_is_checked_against_its_own_values(
    make_publisher: Any, make_project: Any
) -> None:
    """The check's statement and parameters are built once per set of rows as read
    (SQLite keeps them for the next order, which requires the same kept rows): a row read
    again after a change is checked against its new values and the earlier read against
    its old ones, in either order and combination."""
    publisher = make_publisher()
    first, other = make_project(publisher), make_project(publisher, title="Live")
    before, other_seen = _as_read(first.id), _as_read(other.id)
    hits = _sqlite_unchanged_check.cache_info().hits
    for _ in range(2):  # the second time from what the first built
        rows_unchanged_require([before, other_seen])
    if connection.vendor == "sqlite":
        assert _sqlite_unchanged_check.cache_info().hits == hits + 1
    Project.objects.filter(id=first.id).update(price=Decimal("9.99"))
    after = _as_read(first.id)
    for rows in ([after], [after, other_seen], [other_seen, after]):
        rows_unchanged_require(rows)
    for rows in ([before], [other_seen, before]):
        with (
            pytest.raises(RowsChanged, match=f"catalog_project {first.id}$"),
            transaction.atomic(),
        ):
            rows_unchanged_require(rows)


def test_a_row_deleted_and_made_again_holds_only_with_the_same_values(
    make_publisher: Any,
) -> None:
    rate = ShippingRate.objects.get(shipping_method="standard", region="domestic")
    read = PreparedRowRead(ShippingRate, keys=("shipping_method", "region"))
    found = read.get("standard", "domestic")
    assert found is not None
    seen = row_as_read(found)
    values = {f.attname: getattr(rate, f.attname) for f in ShippingRate._meta.concrete_fields}
    rate.delete()
    ShippingRate.objects.create(**values)  # the same id and the same values
    rows_unchanged_require([seen])
    ShippingRate.objects.filter(id=values["id"]).update(first_unit=rate.first_unit + 1)
    with pytest.raises(RowsChanged), transaction.atomic():
        rows_unchanged_require([seen])


@pytest.mark.parametrize(
    ("stored", "holds"),
    [
        ('["order.shipped","order.placed"]', True),  # other spacing, the same value
        ('[ "order.shipped" , "order.placed" ]', True),
        ('["order.placed", "order.shipped"]', False),  # another order is another value
        ('["order.shipped"]', False),
        ("null", False),
    ],
)
def test_a_json_column_holds_while_its_value_does_whatever_its_spacing(
    make_publisher: Any, stored: str, holds: bool
) -> None:
    publisher = make_publisher()
    Publisher.objects.filter(id=publisher.id).update(
        webhook_events=["order.shipped", "order.placed"]
    )
    seen = row_as_read(Publisher.objects.get(id=publisher.id))
    rows_unchanged_require([seen])
    with connection.cursor() as cursor:
        # Written as another program (or an operator's SQL) would write it.
        cursor.execute(
            "UPDATE accounts_publisher SET webhook_events = %s WHERE id = %s",
            [stored, publisher.id],
        )
    if holds:
        rows_unchanged_require([seen])
        return
    with pytest.raises(RowsChanged), transaction.atomic():
        rows_unchanged_require([seen])


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_reads_without_a_write_transaction_and_leaves_the_caller_s_usable(
    make_publisher: Any, make_project: Any
) -> None:
    project = make_project(make_publisher())
    seen = _as_read(project.id)
    with CaptureQueriesContext(connection) as captured:
        rows_unchanged_confirm([seen])
    if connection.vendor == "sqlite":
        # One SELECT, no BEGIN IMMEDIATE (which would wait for the write lock).
        assert [query["sql"].split()[0] for query in captured.captured_queries] == ["SELECT"]
    Project.objects.filter(id=project.id).update(title="Renamed")
    with transaction.atomic():
        with pytest.raises(RowsChanged):
            rows_unchanged_confirm([seen])
        # The caller's transaction goes on.
        assert Project.objects.get(id=project.id).title == "Renamed"


def _ledger_row(publisher_id: int) -> Any:
    return prepare_insert(
        LedgerEntry(
            publisher_id=publisher_id,
            kind="credit",
            amount=Decimal("1.00"),
            description=f"for {PENDING_ID}",
            created_at=timezone.now(),
        )
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_joined_statement_writes_only_while_the_rows_are_unchanged(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    project = make_project(publisher)
    version = _as_read(project.id)

    def statement(email: str) -> JoinedInsert:
        head = prepare_insert(Publisher(email=email, password="x", balance=0))
        return JoinedInsert(head, [_ledger_row(PENDING_ID)], unchanged=[version])

    # Unchanged: written, on its own (no transaction around it).
    assert connection.get_autocommit()
    head_id, count = statement("kept@example.com").execute()
    assert count is None
    assert LedgerEntry.objects.filter(publisher_id=head_id).count() == 1

    Project.objects.filter(id=project.id).update(title="Renamed")
    with pytest.raises(RowsChanged):
        statement("changed@example.com").execute()
    assert not Publisher.objects.filter(email="changed@example.com").exists()
    assert LedgerEntry.objects.count() == 1
    # With a required UPDATE count as well, the row's change is what is reported.
    head = prepare_insert(Publisher(email="both@example.com", password="x", balance=0))
    both = JoinedInsert(
        head,
        [],
        balance_debit_prepare(publisher_id=publisher.id, amount=Decimal("0.00")),
        last_count=1,
        unchanged=[version],
    )
    with pytest.raises(RowsChanged):
        both.execute()
    assert not Publisher.objects.filter(email="both@example.com").exists()
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("0.00")


def test_cached_rows_answer_from_memory_with_a_copy_each(
    make_publisher: Any, make_project: Any
) -> None:
    cached_rows_clear()
    publisher = make_publisher()
    first, second = make_project(publisher), make_project(publisher)
    rows = CachedRows(project_read, size=1)
    with CaptureQueriesContext(connection) as reads:
        one = rows.get(first.id)
    assert one is not None
    assert len(reads) == 1
    with CaptureQueriesContext(connection) as reads:
        two = rows.get(first.id)
    assert two is not None
    assert len(reads) == 0
    assert two[1] is one[1]
    assert two[0] is not one[0]
    assert two[0].pk == one[0].pk == first.id
    two[0].title = "changed in one request"
    again = rows.get(first.id)
    assert again is not None
    assert again[0].title == "Greatest Hits"

    # At most `size` rows: the oldest goes.
    assert rows.get(second.id) is not None
    with CaptureQueriesContext(connection) as reads:
        assert rows.get(first.id) is not None
    assert len(reads) == 1

    # What was read before of a row kept again since: forgetting it leaves the row kept.
    rows.forget([one[1]])
    with CaptureQueriesContext(connection) as reads:
        assert rows.get(first.id) is not None
    assert len(reads) == 0

    # Forgotten by version: read again.
    found = rows.get(first.id)
    assert found is not None
    rows.forget([found[1]])
    with CaptureQueriesContext(connection) as reads:
        assert rows.get(first.id) is not None
    assert len(reads) == 1

    # A row not found is not kept: asked again each time.
    for _ in range(2):
        with CaptureQueriesContext(connection) as reads:
            assert rows.get(first.id + 1000) is None
        assert len(reads) == 1
    with pytest.raises(ValueError, match="size"):
        CachedRows(project_read, size=0)


def test_rows_forgotten_by_what_was_read_leave_every_cache_that_kept_them(
    make_publisher: Any, make_project: Any
) -> None:
    """`cached_rows_forget` drops each row from the cache that kept it, whichever that is,
    and nothing else."""
    cached_rows_clear()
    publisher = make_publisher()
    first, second = make_project(publisher), make_project(publisher)
    projects = CachedRows(project_read)
    publishers = CachedRows(PreparedRowRead(Publisher), ignored=("balance",))
    kept_project, kept_publisher, other = (
        projects.get(first.id),
        publishers.get(publisher.id),
        projects.get(second.id),
    )
    assert kept_project is not None
    assert kept_publisher is not None
    assert other is not None
    # The balance is left out of the publisher's row as read.
    assert "balance" not in kept_publisher[1].columns
    cached_rows_forget(row for row in (kept_project[1], kept_publisher[1]))
    with CaptureQueriesContext(connection) as reads:
        assert projects.get(first.id) is not None
        assert publishers.get(publisher.id) is not None
        assert projects.get(second.id) is not None
    assert len(reads) == 2


def test_a_compiled_read_of_every_row_reads_what_the_orm_reads(
    make_publisher: Any, make_project: Any
) -> None:
    """`PreparedRowRead.all`: the rows the queryset reads, as instances, in its order; none
    for a key no row has."""
    publisher, other = make_publisher(), make_publisher()
    made = [make_project(publisher, title=f"Title {n}") for n in range(3)]
    make_project(other)
    Project.objects.filter(id=made[1].id).update(is_active=False)
    read = PreparedRowRead(Project, keys=("publisher",), order_by=("pk",), is_active=True)
    found = read.all(publisher.id)
    expected = list(Project.objects.filter(publisher=publisher, is_active=True).order_by("pk"))
    assert [p.id for p in found] == [made[0].id, made[2].id] == [p.id for p in expected]
    assert [(p.title, p.price, p._state.adding) for p in found] == [
        (p.title, p.price, False) for p in expected
    ]
    assert read.all(-1) == []
    assert read.get(publisher.id).id == made[0].id


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_compiled_read_for_update_locks_its_row_until_the_transaction_ends(
    make_publisher: Any, make_project: Any
) -> None:
    """`PreparedRowRead(for_update=True)` locks the row it reads, as `select_for_update()`:
    another connection cannot lock it meanwhile, and can once the transaction ended."""
    from tests.second_connection import row_lockable, second_connection

    publisher = make_publisher()
    project = make_project(publisher, title="Locked")
    read = PreparedRowRead(Project, keys=("publisher", "title"), for_update=True)
    other = second_connection()
    try:
        with transaction.atomic():
            assert read.get(publisher.id, "Locked").id == project.id
            assert not row_lockable(other, "catalog_project", project.id)
        assert row_lockable(other, "catalog_project", project.id)
    finally:
        other.close()
    # Where no row matches, nothing: as the ORM's `.first()`.
    with transaction.atomic():
        assert read.get(publisher.id, "Nothing") is None
