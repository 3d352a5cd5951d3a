"""Rows read with their versions (PostgreSQL's `xmin`) and writes that require them unchanged:
`PreparedRowRead.get_versioned`, `rows_unchanged_require`, `JoinedInsert(unchanged=)` and the
per-process `CachedRows`. Any UPDATE of a row (even one that changes no value), a DELETE, or a
DELETE and a new row under the same key, is a change; a requirement not met fails its
statement and writes nothing."""

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
    RowsChanged,
    RowVersion,
    prepare_insert,
    rows_unchanged_require,
)
from pressrun.core.row_cache import CachedRows, cached_rows_clear

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row versions are PostgreSQL's xmin"
)
project_read = PreparedRowRead(Project, is_active=True)


@postgresql_only
def test_a_versioned_read_is_the_plain_read_plus_the_version(
    make_publisher: Any, make_project: Any
) -> None:
    project = make_project(make_publisher(), price=Decimal("7.25"))
    found = project_read.get_versioned(project.id)
    assert found is not None
    instance, version = found
    plain = project_read.get(project.id)
    assert {f.attname: getattr(instance, f.attname) for f in Project._meta.concrete_fields} == {
        f.attname: getattr(plain, f.attname) for f in Project._meta.concrete_fields
    }
    assert instance.price == Decimal("7.25")
    assert version == RowVersion(Project, project.id, version.version)
    assert version.version.isdigit()
    # Read again without a change: the same version.
    again = project_read.get_versioned(project.id)
    assert again is not None
    assert again[1] == version
    assert project_read.get_versioned(project.id + 1000) is None


@postgresql_only
@pytest.mark.parametrize(
    "change",
    [
        "price",  # a value changed
        "same values",  # an UPDATE that changes nothing still writes a new version
        "gone",  # deactivated: the read no longer finds it, the version no longer matches
        "deleted",
    ],
)
def test_any_change_of_the_row_fails_the_requirement(
    make_publisher: Any, make_project: Any, change: str
) -> None:
    project = make_project(make_publisher())
    found = project_read.get_versioned(project.id)
    assert found is not None
    version = found[1]
    rows_unchanged_require([version])  # unchanged: passes
    rows = Project.objects.filter(id=project.id)
    if change == "price":
        rows.update(price=Decimal("9.99"))
    elif change == "same values":
        rows.update(price=F("price"))
    elif change == "gone":
        rows.update(is_active=False)
    else:
        rows.delete()
    # (Inside the test's transaction: the savepoint takes the failed statement back.)
    with (
        pytest.raises(RowsChanged, match=f"catalog_project {project.id}$"),
        transaction.atomic(),
    ):
        rows_unchanged_require([version])
    assert Project.objects.filter(id=project.id).count() == (0 if change == "deleted" else 1)


@postgresql_only
def test_a_row_deleted_and_made_again_under_the_same_key_is_a_change(
    make_publisher: Any,
) -> None:
    rate = ShippingRate.objects.get(shipping_method="standard", region="domestic")
    read = PreparedRowRead(ShippingRate, keys=("shipping_method", "region"))
    found = read.get_versioned("standard", "domestic")
    assert found is not None
    values = {f.attname: getattr(rate, f.attname) for f in ShippingRate._meta.concrete_fields}
    rate.delete()
    ShippingRate.objects.create(**values)  # the same id and the same values
    with pytest.raises(RowsChanged), transaction.atomic():
        rows_unchanged_require([found[1]])
    fresh = read.get_versioned("standard", "domestic")
    assert fresh is not None
    rows_unchanged_require([fresh[1]])


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
    found = project_read.get_versioned(project.id)
    assert found is not None
    version = found[1]

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


def test_a_versioned_read_is_refused_off_postgresql() -> None:
    if connection.vendor == "postgresql":
        pytest.skip("refused only where there is no xmin")
    with pytest.raises(ValueError, match="PostgreSQL"):
        project_read.get_versioned(1)


@postgresql_only
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
    assert two[1] == one[1]
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
