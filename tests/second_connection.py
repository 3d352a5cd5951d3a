"""A second connection to the test's PostgreSQL database, beside Django's own: what another
process sees and can lock while the test's transaction is open."""

from __future__ import annotations

from typing import Any

from django.db import connection


def second_connection() -> Any:
    """A psycopg connection in autocommit (each statement its own transaction); close it."""
    import psycopg

    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"],
        password=settings["PASSWORD"],
        autocommit=True,
    )


def row_lockable(other: Any, table: str, row_id: int) -> bool:
    """Whether `other` (a `second_connection`) can lock the row `row_id` of `table` now
    (`FOR UPDATE NOWAIT`, released at once: autocommit); False while the test's transaction
    holds it. The row must be committed, else this fails."""
    import psycopg

    try:
        found = other.execute(
            f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", (row_id,)
        ).fetchone()
    except psycopg.errors.LockNotAvailable:
        return False
    assert found == (row_id,), f"no row {row_id} in {table}: not committed?"
    return True
