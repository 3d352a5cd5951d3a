"""The PostgreSQL backend reads `timestamp with time zone` values with the driver's own loader
where the connection is in UTC (core/postgresql `UtcTimestamptzLoader`): the values are
the same aware datetimes, in UTC, as Django's loader gives, through the ORM, Django's cursor
and the compiled statements' cursor; a connection in another time zone keeps Django's."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from pressrun.accounts.models import Publisher
from pressrun.core.postgresql.base import DatabaseWrapper, UtcTimestamptzLoader
from pressrun.core.prepared import PreparedRowRead, statement_cursor

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's loaders"),
    pytest.mark.django_db,
]
TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
MOMENTS = [
    datetime.datetime(2026, 12, 5, 18, 40, 12, 123456, tzinfo=datetime.UTC),
    datetime.datetime(1969, 7, 20, 20, 17, 40, tzinfo=datetime.UTC),
    # Given in another zone: read back as the same instant, in UTC.
    datetime.datetime(2026, 3, 29, 2, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC),
]


def _loader() -> Any:
    connection.ensure_connection()
    return connection.connection.adapters.get_loader(TIMESTAMPTZ, psycopg.pq.Format.TEXT)


def test_the_connection_in_utc_uses_the_drivers_loader() -> None:
    assert _loader() is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        # Django's create_cursor finds the loader's time zone the connection's: its own
        # loader is not registered on the cursor either.
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ, psycopg.pq.Format.TEXT)
    assert loader is UtcTimestamptzLoader


@pytest.mark.parametrize("moment", MOMENTS)
def test_values_read_every_way_are_the_instants_written_in_utc(
    make_publisher: Any, moment: datetime.datetime
) -> None:
    publisher = make_publisher()
    Publisher.objects.filter(id=publisher.id).update(created_at=moment)
    read = [
        Publisher.objects.get(id=publisher.id).created_at,
        PreparedRowRead(Publisher).get(publisher.id).created_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT created_at FROM accounts_publisher WHERE id = %s", [publisher.id])
        read.append(cursor.fetchone()[0])
    with statement_cursor(connection) as cursor:
        cursor.execute("SELECT created_at FROM accounts_publisher WHERE id = %s", [publisher.id])
        read.append(cursor.fetchone()[0])
    for value in read:
        assert value == moment
        assert value.tzinfo is datetime.UTC
        assert value.isoformat() == moment.astimezone(datetime.UTC).isoformat()


def test_a_null_and_infinity_read_as_django_reads_them() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT NULL::timestamptz")
        assert cursor.fetchone() == (None,)
    # Out of Python's range: refused, as Django's loader refuses it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'infinity'::timestamptz")
        with pytest.raises(DataError, match=r"too large \(after year 10K\)"):
            cursor.fetchone()


def test_a_connection_in_another_time_zone_keeps_djangos_loader() -> None:
    settings_dict = {**connection.settings_dict, "TIME_ZONE": "Europe/Paris"}
    other = DatabaseWrapper(settings_dict, alias="paris")
    context = other.get_connection_params()["context"]
    loader = context.get_loader(TIMESTAMPTZ, psycopg.pq.Format.TEXT)
    assert issubclass(loader, BaseTzLoader)
    assert loader is not UtcTimestamptzLoader
