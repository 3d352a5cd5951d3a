"""Status-call metering on hourly counters: which hours make up the 24-hour period, the
counter rows, concurrent calls on PostgreSQL and the migration from one record per call.

The charges themselves, through the gateway, are in tests/gateway/test_status_rules.py."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing import services as billing_services
from pressrun.billing.models import LedgerEntry, LedgerKind, StatusCallHour
from pressrun.billing.services import status_call_record, status_calls_delete_old

NOW = datetime(2026, 3, 10, 14, 25, 7, 250_000, tzinfo=UTC)
THIS_HOUR = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def counters(publisher: Any) -> list[tuple[datetime, int, int]]:
    return list(
        StatusCallHour.objects.filter(publisher=publisher)
        .order_by("hour_start")
        .values_list("hour_start", "calls", "charged")
    )


def charges(publisher: Any) -> list[str]:
    return list(
        LedgerEntry.objects.filter(publisher=publisher, kind=LedgerKind.STATUS_CALL)
        .order_by("id")
        .values_list("description", flat=True)
    )


@pytest.mark.django_db
def test_calls_of_one_hour_add_to_one_row(make_publisher: Any, clock: None, settings: Any):
    settings.STATUS_CALLS_FREE_PER_DAY = 2
    publisher = make_publisher(balance="1")
    assert [status_call_record(publisher_id=publisher.id) for _ in range(4)] == [
        False,
        False,
        True,
        True,
    ]
    assert counters(publisher) == [(THIS_HOUR, 4, 2)]
    assert charges(publisher) == [
        "getOrderStatusByInvoice call 3 in 24 hours (over 2 free)",
        "getOrderStatusByInvoice call 4 in 24 hours (over 2 free)",
    ]
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("0.98")


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no data-modifying WITH: there metering is the transaction above",
)
@pytest.mark.django_db
def test_on_postgresql_a_call_that_finds_its_counter_is_one_statement(
    make_publisher: Any, clock: None, settings: Any
):
    # Counting, debiting and recording the charge in one statement saves four round trips;
    # a free call in it writes the counter only, a charged one all three rows.
    settings.STATUS_CALLS_FREE_PER_DAY = 3
    publisher, other = make_publisher(balance="1"), make_publisher(balance="1")
    StatusCallHour.objects.create(
        publisher=publisher, hour_start=THIS_HOUR - timedelta(hours=2), calls=1
    )
    assert status_call_record(publisher_id=publisher.id) is False  # inserts the hour's counter
    with CaptureQueriesContext(connection) as queries:
        assert [status_call_record(publisher_id=publisher.id) for _ in range(3)] == [
            False,
            True,
            True,
        ]
    assert len(queries) == 3
    assert counters(publisher) == [(THIS_HOUR - timedelta(hours=2), 1, 0), (THIS_HOUR, 4, 2)]
    assert charges(publisher) == [
        "getOrderStatusByInvoice call 4 in 24 hours (over 3 free)",
        "getOrderStatusByInvoice call 5 in 24 hours (over 3 free)",
    ]
    assert set(
        LedgerEntry.objects.filter(publisher=publisher, kind=LedgerKind.STATUS_CALL).values_list(
            "amount", "created_at"
        )
    ) == {(Decimal("-0.01"), NOW)}
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("0.98")
    assert (counters(other), charges(other)) == ([], [])
    assert Publisher.objects.get(id=other.id).balance == Decimal("1")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("hours_back", "counted"),
    [
        (1, True),
        (23, True),  # 15:00-15:59 yesterday: within the 24 hours before 14:25
        (24, False),  # 14:00-14:59 yesterday: partly over 24 hours ago, so not counted at all
        (25, False),
    ],
)
def test_the_24_hours_are_the_calls_hour_and_the_23_before(
    make_publisher: Any, clock: None, settings: Any, hours_back: int, counted: bool
):
    settings.STATUS_CALLS_FREE_PER_DAY = 5
    publisher = make_publisher(balance="1")
    StatusCallHour.objects.create(
        publisher=publisher, hour_start=THIS_HOUR - timedelta(hours=hours_back), calls=5
    )
    assert status_call_record(publisher_id=publisher.id) is counted
    assert charges(publisher) == (
        ["getOrderStatusByInvoice call 6 in 24 hours (over 5 free)"] if counted else []
    )


@pytest.mark.django_db
def test_another_publishers_calls_and_later_hours_do_not_count(
    make_publisher: Any, clock: None, settings: Any
):
    settings.STATUS_CALLS_FREE_PER_DAY = 1
    publisher, other = make_publisher(balance="1"), make_publisher(balance="1")
    StatusCallHour.objects.create(publisher=other, hour_start=THIS_HOUR, calls=50)
    # A counter of a later hour (a clock set back) is outside the call's 24 hours.
    StatusCallHour.objects.create(
        publisher=publisher, hour_start=THIS_HOUR + timedelta(hours=1), calls=50
    )
    assert status_call_record(publisher_id=publisher.id) is False
    assert counters(publisher) == [(THIS_HOUR, 1, 0), (THIS_HOUR + timedelta(hours=1), 50, 0)]


@pytest.mark.django_db
def test_housekeeping_keeps_the_counters_of_the_last_week(make_publisher: Any):
    publisher = make_publisher()
    for hours_back in (7 * 24 + 1, 7 * 24, 24, 0):
        StatusCallHour.objects.create(
            publisher=publisher, hour_start=THIS_HOUR - timedelta(hours=hours_back), calls=1
        )
    # At 14:25 the hour 13:00-13:59 a week ago ended over a week ago; 14:00-14:59 did not.
    assert status_calls_delete_old(now=NOW) == 1
    assert [hour for hour, _, _ in counters(publisher)] == [
        THIS_HOUR - timedelta(hours=hours_back) for hours_back in (7 * 24, 24, 0)
    ]


THREADS = 8
CALLS_PER_THREAD = 25
FREE = 50


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_are_each_counted_once_and_charged_exactly(
    make_publisher: Any, clock: None, settings: Any
):
    settings.STATUS_CALLS_FREE_PER_DAY = FREE
    publisher = make_publisher(balance="10")
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def call_repeatedly() -> None:
        # All threads start at once, so the hour's first calls race to insert its counter.
        barrier.wait()
        try:
            for _ in range(CALLS_PER_THREAD):
                status_call_record(publisher_id=publisher.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call_repeatedly) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    total = THREADS * CALLS_PER_THREAD
    assert counters(publisher) == [(THIS_HOUR, total, total - FREE)]
    # Each call saw its own place in the count: every place beyond the free calls once.
    places = sorted(int(description.split()[2]) for description in charges(publisher))
    assert places == list(range(FREE + 1, total + 1))
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("10") - Decimal("0.01") * (
        total - FREE
    )


BEFORE = ("billing", "0004_status_call_hour")
AFTER = ("billing", "0006_delete_status_call")


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_call_records_into_hourly_counters_and_back(make_publisher: Any):
    publisher, other = make_publisher(), make_publisher()
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    status_call = executor.loader.project_state([BEFORE]).apps.get_model("billing", "StatusCall")
    for minute, charged in [(5, False), (30, False), (59, True)]:
        status_call.objects.create(
            publisher_id=publisher.id, at=THIS_HOUR + timedelta(minutes=minute), charged=charged
        )
    status_call.objects.create(publisher_id=publisher.id, at=THIS_HOUR + timedelta(hours=1))
    status_call.objects.create(publisher_id=other.id, at=THIS_HOUR + timedelta(minutes=1))

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    assert counters(publisher) == [(THIS_HOUR, 3, 1), (THIS_HOUR + timedelta(hours=1), 1, 0)]
    assert counters(other) == [(THIS_HOUR, 1, 0)]

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    # Back to one record per call, spread over its hour, the charged ones last.
    assert list(
        status_call.objects.filter(publisher_id=publisher.id)
        .order_by("at")
        .values_list("at", "charged")
    ) == [
        (THIS_HOUR, False),
        (THIS_HOUR + timedelta(minutes=20), False),
        (THIS_HOUR + timedelta(minutes=40), True),
        (THIS_HOUR + timedelta(hours=1), False),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert counters(publisher) == [(THIS_HOUR, 3, 1), (THIS_HOUR + timedelta(hours=1), 1, 0)]


@pytest.mark.django_db
def test_without_returning_the_count_is_read_back(
    make_publisher: Any, clock: None, settings: Any, monkeypatch: pytest.MonkeyPatch
):
    # SQLite before 3.35 has no UPDATE … RETURNING: the count is read with a SELECT instead.
    monkeypatch.setattr(billing_services, "_update_can_return", lambda: False)
    settings.STATUS_CALLS_FREE_PER_DAY = 2
    publisher = make_publisher(balance="1")
    StatusCallHour.objects.create(
        publisher=publisher, hour_start=THIS_HOUR - timedelta(hours=3), calls=1
    )
    assert [status_call_record(publisher_id=publisher.id) for _ in range(3)] == [
        False,
        True,
        True,
    ]
    assert counters(publisher)[-1] == (THIS_HOUR, 3, 2)
    assert charges(publisher) == [
        "getOrderStatusByInvoice call 3 in 24 hours (over 2 free)",
        "getOrderStatusByInvoice call 4 in 24 hours (over 2 free)",
    ]


@pytest.mark.django_db
def test_a_charge_writes_the_rows_the_orm_would(make_publisher: Any, clock: None, settings: Any):
    # The debit and the ledger entry are compiled once per process, the publisher, the
    # description and the time put in per call: each call's values land where they belong.
    settings.STATUS_CALLS_FREE_PER_DAY = 0
    publisher, other = make_publisher(balance="1"), make_publisher(balance="2")
    assert status_call_record(publisher_id=publisher.id) is True
    assert status_call_record(publisher_id=other.id) is True
    assert status_call_record(publisher_id=other.id) is True
    entries = LedgerEntry.objects.filter(kind=LedgerKind.STATUS_CALL).order_by("id")
    assert [
        (entry.publisher_id, entry.amount, entry.order_id, entry.description, entry.created_at)
        for entry in entries
    ] == [
        (
            who.id,
            Decimal("-0.01"),
            None,
            f"getOrderStatusByInvoice call {number} in 24 hours (over 0 free)",
            NOW,
        )
        for who, number in [(publisher, 1), (other, 1), (other, 2)]
    ]
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("0.99")
    assert Publisher.objects.get(id=other.id).balance == Decimal("1.98")


@pytest.mark.django_db
def test_charges_of_two_hours_are_counted_in_their_hours_and_dated_when_made(
    make_publisher: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
):
    # The hours' parameters and the ledger entry's row are prepared once per process and
    # hour: a later call must still count in its own hour and be dated at its own time.
    settings.STATUS_CALLS_FREE_PER_DAY = 0
    publisher = make_publisher(balance="1")
    later = NOW + timedelta(minutes=50)  # 15:15:07
    for moment in (NOW, NOW, later):
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        assert status_call_record(publisher_id=publisher.id) is True
    assert counters(publisher) == [(THIS_HOUR, 2, 2), (THIS_HOUR + timedelta(hours=1), 1, 1)]
    assert list(
        LedgerEntry.objects.filter(publisher=publisher, kind=LedgerKind.STATUS_CALL)
        .order_by("id")
        .values_list("created_at", "description")
    ) == [
        (NOW, "getOrderStatusByInvoice call 1 in 24 hours (over 0 free)"),
        (NOW, "getOrderStatusByInvoice call 2 in 24 hours (over 0 free)"),
        (later, "getOrderStatusByInvoice call 3 in 24 hours (over 0 free)"),
    ]
