"""core.prepared.JoinedInsert (PostgreSQL): a row, the rows naming it and an UPDATE as one
statement write exactly what the statements one by one write: the rows waiting for the id
name it (as a key, in a text, in a JSON value), every instance gets its id, the UPDATE's
count comes back; a database error is Django's and leaves nothing; the statement's text keeps
Django's escaped percent signs. With a required UPDATE count the statement fails unless it is
met, and then nothing of it stays, also when it runs without a transaction around it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.billing.services import balance_debit_prepare
from pressrun.core.prepared import (
    PENDING_ID,
    JoinedInsert,
    PreparedInsert,
    UpdateCountDiffers,
    _referring_to,
    prepare_insert,
)

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a WITH of data-modifying statements is PostgreSQL's"
)


def _head(email: str) -> PreparedInsert:
    return prepare_insert(Publisher(email=email, password="x", company="Head", balance=0))


def _followers(mark: str) -> list[PreparedInsert]:
    now = timezone.now()
    return [
        prepare_insert(
            LedgerEntry(
                publisher_id=PENDING_ID,
                kind="credit",
                amount=Decimal("1.25"),
                description=f"{mark} for publisher {PENDING_ID}, 100% sure",
                created_at=now,
            )
        ),
        prepare_insert(
            DBTaskResult(
                id=uuid.uuid4(),
                priority=0,
                task_path="pressrun.notifications.tasks.order_placed_email",
                queue_name="default",
                run_after=get_date_max(),
                backend_name="default",
                args_kwargs={"args": [], "kwargs": {"publisher_id": PENDING_ID, "note": mark}},
            )
        ),
    ]


def _written(publisher_id: int) -> tuple[Any, ...]:
    entry = LedgerEntry.objects.get(publisher_id=publisher_id)
    task = DBTaskResult.objects.get(args_kwargs__kwargs__publisher_id=publisher_id)
    return (entry.kind, entry.amount, entry.description.split(" for ")[1], task.args_kwargs)


@postgresql_only
def test_one_statement_writes_what_the_statements_one_by_one_write(make_publisher: Any) -> None:
    payer = make_publisher(balance="10.00")
    with transaction.atomic():
        head, followers = _head("one-by-one@example.com"), _followers("same")
        one_by_one_id = head.execute()
        for row in followers:
            row.execute(one_by_one_id)
    head, followers = _head("joined@example.com"), _followers("same")
    debit = balance_debit_prepare(publisher_id=payer.id, amount=Decimal("4.00"))
    with transaction.atomic():
        joined_id, count = JoinedInsert(head, followers, debit).execute()
    assert count == 1
    assert Publisher.objects.get(id=payer.id).balance == Decimal("6.00")
    assert head.instance.pk == joined_id == Publisher.objects.get(email="joined@example.com").id
    entry, task = followers
    assert entry.instance.pk == LedgerEntry.objects.get(publisher_id=joined_id).id
    assert entry.instance.publisher_id == joined_id  # as `execute(id)` leaves it
    assert task.instance.args_kwargs["kwargs"]["publisher_id"] == joined_id
    assert entry.instance.description == f"same for publisher {joined_id}, 100% sure"

    def without_id(written: tuple[Any, ...], publisher_id: int) -> tuple[Any, ...]:
        kind, amount, text, args = written
        return (
            kind,
            amount,
            text.replace(f"publisher {publisher_id},", "publisher ID,"),
            {**args, "kwargs": {**args["kwargs"], "publisher_id": "ID"}},
        )

    assert without_id(_written(joined_id), joined_id) == without_id(
        _written(one_by_one_id), one_by_one_id
    )


@postgresql_only
def test_a_debit_not_covered_counts_nothing_and_the_caller_decides(make_publisher: Any) -> None:
    payer = make_publisher(balance="3.00")
    debit = balance_debit_prepare(publisher_id=payer.id, amount=Decimal("4.00"))
    with transaction.atomic():
        _, count = JoinedInsert(_head("short@example.com"), _followers("x"), debit).execute()
        assert count == 0
        transaction.set_rollback(True)
    assert not Publisher.objects.filter(email="short@example.com").exists()
    assert Publisher.objects.get(id=payer.id).balance == Decimal("3.00")


@postgresql_only
def test_an_error_of_any_part_is_djangos_and_leaves_nothing(make_publisher: Any) -> None:
    taken = make_publisher()
    before = (LedgerEntry.objects.count(), DBTaskResult.objects.count())
    with pytest.raises(IntegrityError), transaction.atomic():
        JoinedInsert(_head(taken.email), _followers("dup")).execute()
    assert (LedgerEntry.objects.count(), DBTaskResult.objects.count()) == before


def test_the_rewritten_row_reads_the_id_where_it_waited_and_keeps_the_rest() -> None:
    row = PreparedInsert(
        instance=Publisher(),
        sql="INSERT INTO t (a, b, c, d) VALUES (%s, %s, %s, '100%%') RETURNING id",
        params=(PENDING_ID, f"Order {PENDING_ID}", 7),
        pending=((0, "a", "id", None), (1, "b", "text", None)),
        returns_id=True,
        using="default",
    )
    sql, params = _referring_to(row, "(SELECT id FROM w0)")
    assert sql == (
        "INSERT INTO t (a, b, c, d) VALUES ((SELECT id FROM w0), "
        f"replace(%s, '{PENDING_ID}', ((SELECT id FROM w0))::text), %s, '100%%') RETURNING id"
    )
    assert params == [f"Order {PENDING_ID}", 7]


def test_the_first_row_must_get_its_id_from_the_database() -> None:
    waiting = _followers("x")[0]
    with pytest.raises(ValueError, match="first row"):
        JoinedInsert(waiting, [])


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("balance", "required"), [("3.00", 1), ("10.00", 0)])
def test_a_required_count_not_met_fails_the_statement_and_writes_nothing_on_its_own(
    make_publisher: Any, balance: str, required: int
) -> None:
    """Without a transaction around it the statement is its own: when the UPDATE's count
    is not the one required, nothing of it stays, the UPDATE included."""
    payer = make_publisher(balance=balance)
    debit = balance_debit_prepare(publisher_id=payer.id, amount=Decimal("4.00"))
    before = (LedgerEntry.objects.count(), DBTaskResult.objects.count())
    statement = JoinedInsert(
        _head("alone@example.com"), _followers("x"), debit, last_count=required
    )
    assert connection.get_autocommit()
    with pytest.raises(UpdateCountDiffers, match=f"did not change the rows required: {required}"):
        statement.execute()
    assert not Publisher.objects.filter(email="alone@example.com").exists()
    assert (LedgerEntry.objects.count(), DBTaskResult.objects.count()) == before
    assert Publisher.objects.get(id=payer.id).balance == Decimal(balance)
    # The connection is usable at once: no transaction was left open or failed.
    assert connection.get_autocommit()
    assert not connection.needs_rollback
    assert Publisher.objects.filter(id=payer.id).exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_required_count_met_commits_on_its_own(make_publisher: Any) -> None:
    payer = make_publisher(balance="10.00")
    debit = balance_debit_prepare(publisher_id=payer.id, amount=Decimal("4.00"))
    head = _head("met@example.com")
    head_id, count = JoinedInsert(head, _followers("met"), debit, last_count=1).execute()
    assert count == 1
    assert Publisher.objects.get(email="met@example.com").id == head_id == head.instance.pk
    assert _written(head_id)[:3] == ("credit", Decimal("1.25"), f"publisher {head_id}, 100% sure")
    assert Publisher.objects.get(id=payer.id).balance == Decimal("6.00")


@postgresql_only
def test_a_required_count_not_met_in_a_transaction_rolls_back_to_the_savepoint(
    make_publisher: Any,
) -> None:
    payer = make_publisher(balance="3.00")
    debit = balance_debit_prepare(publisher_id=payer.id, amount=Decimal("4.00"))
    with transaction.atomic():
        with pytest.raises(UpdateCountDiffers), transaction.atomic():
            JoinedInsert(_head("inner@example.com"), _followers("x"), debit, last_count=1).execute()
        # The outer transaction goes on.
        assert Publisher.objects.get(id=payer.id).balance == Decimal("3.00")
    assert not Publisher.objects.filter(email="inner@example.com").exists()


def test_a_required_count_needs_an_update() -> None:
    with pytest.raises(ValueError, match="UPDATE"):
        JoinedInsert(_head("x@example.com"), [], last_count=1)
