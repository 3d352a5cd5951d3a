"""core.prepared.pipelined: on PostgreSQL the compiled statements sent in the block go out
without waiting for each reply; every sent row gets its id and every sent UPDATE its count
when the block ends, a database error of any of them is raised as Django's, and the
transaction's rows are exactly those of statements run one by one. Where statements are
watched, on SQLite, or with `DATABASE_PIPELINE` off, the block runs them one by one."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.billing.services import balance_debit_prepare, ledger_order_charge_entry
from pressrun.core.prepared import active_pipeline, pipelined, prepare_insert

pytestmark = pytest.mark.django_db

on_postgresql = connection.vendor == "postgresql"


def _entry(publisher: Publisher, amount: str) -> Any:
    return prepare_insert(
        ledger_order_charge_entry(
            publisher_id=publisher.id, order_id=None, amount=Decimal(amount), at=timezone.now()
        )
    )


def test_sent_rows_get_their_ids_and_an_update_its_count_when_the_block_ends(
    make_publisher: Any,
) -> None:
    publisher = make_publisher(balance="10.00")
    entries = [_entry(publisher, "1.00"), _entry(publisher, "2.00")]
    with transaction.atomic():
        with pipelined(connection) as pipeline:
            assert (pipeline is not None) == on_postgresql
            for entry in entries:
                entry.send()
            covered = balance_debit_prepare(publisher_id=publisher.id, amount=Decimal("4.00"))
            too_much = balance_debit_prepare(publisher_id=publisher.id, amount=Decimal("7.00"))
            counts = [covered.send(), too_much.send()]
            if on_postgresql:
                # Nothing waited for: the rows' ids are not known yet.
                assert [entry.instance.pk for entry in entries] == [None, None]
        assert [count() for count in counts] == [1, 0]
    stored = list(
        LedgerEntry.objects.filter(publisher=publisher, kind="order_charge").order_by("id")
    )
    assert [entry.instance.pk for entry in entries] == [row.id for row in stored]
    assert [row.amount for row in stored] == [Decimal("-1.00"), Decimal("-2.00")]
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("6.00")


def test_an_error_of_a_sent_row_is_djangos_and_nothing_stays(
    make_publisher: Any, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher(balance="10.00")
    before = LedgerEntry.objects.count()
    # A second publisher with the first's email breaks the unique constraint. In a pipeline
    # the error arrives when its reply is read: at a later statement of the block, or at
    # the latest when the block ends.
    twin = prepare_insert(
        Publisher(email=publisher.email, password=publisher.password, company="Twin", balance=0)
    )

    def write() -> None:
        with transaction.atomic(), pipelined(connection):
            _entry(publisher, "1.00").send()
            twin.send()
            _entry(publisher, "2.00").send()

    with caplog.at_level(logging.WARNING, logger="psycopg"), pytest.raises(IntegrityError):
        write()
    assert LedgerEntry.objects.count() == before
    assert Publisher.objects.filter(email=publisher.email).count() == 1
    # The error is raised once: psycopg's echo of it, that the pipeline it aborted could not
    # be ended, is not logged as a second fault.
    assert [record.getMessage() for record in caplog.records if record.name == "psycopg"] == []


def test_an_error_read_inside_the_block_ends_the_pipeline_without_a_second_fault(
    make_publisher: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A row whose id the block waits for reads every reply before it, so the twin's error
    is raised inside the block; psycopg then could not end the pipeline it aborted and
    logged that as a warning of its own. `pipelined` reads the rest first."""
    publisher = make_publisher(balance="10.00")
    twin = prepare_insert(
        Publisher(email=publisher.email, password=publisher.password, company="Twin", balance=0)
    )

    def write() -> None:
        with transaction.atomic(), pipelined(connection):
            twin.send()
            _entry(publisher, "1.00").execute()  # waits for its id

    with caplog.at_level(logging.WARNING, logger="psycopg"):
        for _ in range(4):  # when psycopg reads the error varies a little from run to run
            with pytest.raises(IntegrityError):
                write()
    assert [record.getMessage() for record in caplog.records if record.name == "psycopg"] == []
    assert active_pipeline(connection) is None
    with connection.cursor() as cursor:  # the connection works as before
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1


def test_no_pipeline_where_statements_are_watched_or_when_turned_off(
    make_publisher: Any, settings: Any
) -> None:
    publisher = make_publisher(balance="10.00")
    with (
        CaptureQueriesContext(connection) as captured,
        transaction.atomic(),
        pipelined(connection) as pipeline,
    ):
        assert pipeline is None
        entry = _entry(publisher, "1.00")
        entry.send()
        assert entry.instance.pk is not None  # run at once
    assert [q["sql"] for q in captured.captured_queries if "INSERT" in q["sql"]] != []
    settings.DATABASE_PIPELINE = False
    with transaction.atomic(), pipelined(connection) as pipeline:
        assert pipeline is None
        assert active_pipeline(connection) is None
        count = balance_debit_prepare(publisher_id=publisher.id, amount=Decimal("1.00")).send()
        assert count() == 1  # run at once


@pytest.mark.skipif(not on_postgresql, reason="pipeline mode is PostgreSQL's")
def test_the_pipeline_ends_with_the_block_even_when_it_raises(make_publisher: Any) -> None:
    publisher = make_publisher(balance="10.00")

    def write() -> None:
        with transaction.atomic(), pipelined(connection):
            _entry(publisher, "1.00").send()
            raise LookupError

    with pytest.raises(LookupError):
        write()
    assert active_pipeline(connection) is None
    assert connection.connection.pgconn.pipeline_status == 0  # off
    assert LedgerEntry.objects.filter(publisher=publisher, kind="order_charge").count() == 0
    with connection.cursor() as cursor:  # the connection works as before
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_a_pipeline_belongs_in_a_transaction() -> None:
    if not on_postgresql:
        with pipelined(connection) as pipeline:
            assert pipeline is None
        return
    with pytest.raises(AssertionError, match="belongs in a transaction"):  # noqa: SIM117
        with pipelined(connection):
            pass
