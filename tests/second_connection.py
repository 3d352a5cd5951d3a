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
