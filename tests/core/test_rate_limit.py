"""The shared rate limiter (core/rate_limit.py) on its own: its window count, its one log line
per throttled minute, its housekeeping, and the migration that moved its table from the carts
app to core with every row kept. The endpoints' budgets are tested with the endpoints
(tests/carts/test_rate_limit.py, tests/warehouses/test_rate_limit.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from pressrun.core import rate_limit
from pressrun.core.models import RateWindow
from pressrun.core.tasks import housekeeping

BEFORE = [("carts", "0012_stock_sync_to_shopify"), ("core", "0002_installation_settings")]
AFTER = [("carts", "0013_rate_window_moved_to_core"), ("core", "0003_rate_window")]


@pytest.mark.django_db
def test_a_scope_counts_per_minute_and_says_how_long_to_wait() -> None:
    start = datetime(2026, 12, 5, 10, 0, 15, tzinfo=UTC)
    with mock.patch.object(rate_limit.timezone, "now", return_value=start):
        taken = [rate_limit.rate_limit_take(scope="s", limit=2, label="test") for _ in range(3)]
        other = rate_limit.rate_limit_take(scope="t", limit=2, label="test")
    assert taken == [None, None, rate_limit.RateLimited(retry_after_seconds=45)]
    assert other is None
    next_minute = start + timedelta(minutes=1)
    with mock.patch.object(rate_limit.timezone, "now", return_value=next_minute):
        assert rate_limit.rate_limit_take(scope="s", limit=2, label="test") is None
    assert sorted(RateWindow.objects.values_list("scope", "count")) == [
        ("s", 1),
        ("s", 3),
        ("t", 1),
    ]


@pytest.mark.django_db
def test_only_the_first_refusal_of_a_minute_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="pressrun.core.rate_limit"),
        mock.patch.object(rate_limit.timezone, "now", return_value=timezone.now()),
    ):
        for _ in range(5):
            rate_limit.rate_limit_take(scope="warehouse:connection:7", limit=1, label="warehouse")
    assert caplog.messages == [
        "warehouse requests throttled: warehouse:connection:7 made over 1 requests this minute"
    ]


@pytest.mark.django_db
def test_zero_counts_nothing_and_an_overlong_scope_is_a_programming_error() -> None:
    assert rate_limit.rate_limit_take(scope="s", limit=0, label="test") is None
    assert not RateWindow.objects.exists()
    with pytest.raises(ValueError, match="at most 120"):
        rate_limit.rate_limit_take(scope="s" * 121, limit=1, label="test")


@pytest.mark.django_db
def test_housekeeping_prunes_old_windows_whichever_endpoint_counted_them() -> None:
    now = timezone.now()
    for scope in ("samcart:publisher:1", "warehouse:connection:1"):
        RateWindow.objects.create(scope=scope, window_start=now - timedelta(hours=2), count=5)
    recent = RateWindow.objects.create(
        scope="warehouse:connection:1", window_start=now - timedelta(minutes=5), count=5
    )
    assert housekeeping.call()["rate_windows"] == 2
    assert list(RateWindow.objects.all()) == [recent]


def _table_rows(table: str) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, scope, count FROM {table} ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_move_to_core_keeps_every_window_both_ways() -> None:
    """Forward the carts' table becomes core's (renamed: no copy, no rebuild), backward it
    becomes the carts' again; the rows, their ids and the unique window survive both."""
    minute = timezone.now().replace(second=0, microsecond=0)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_model = executor.loader.project_state(BEFORE).apps.get_model("carts", "DeliveryRateWindow")
    first = old_model.objects.create(scope="samcart:publisher:3", window_start=minute, count=7)
    second = old_model.objects.create(scope="unverified:198.51.100.7", window_start=minute)
    assert "core_ratewindow" not in connection.introspection.table_names()

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    tables = connection.introspection.table_names()
    assert "core_ratewindow" in tables
    assert "carts_deliveryratewindow" not in tables
    assert _table_rows("core_ratewindow") == [
        (first.id, "samcart:publisher:3", 7),
        (second.id, "unverified:198.51.100.7", 0),
    ]
    # Counting goes on in the same window, and the unique window still holds.
    with mock.patch.object(rate_limit.timezone, "now", return_value=minute):
        assert rate_limit.rate_limit_take(scope="samcart:publisher:3", limit=8, label="t") is None
        assert rate_limit.rate_limit_take(scope="samcart:publisher:3", limit=8, label="t")
    assert RateWindow.objects.get(id=first.id).count == 9
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "core_ratewindow")
    assert constraints["deliveryratewindow_unique_window"]["unique"]
    assert constraints["deliveryrate_window_start"]["index"]

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert "core_ratewindow" not in connection.introspection.table_names()
    assert _table_rows("carts_deliveryratewindow") == [
        (first.id, "samcart:publisher:3", 9),
        (second.id, "unverified:198.51.100.7", 0),
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert RateWindow.objects.count() == 2
