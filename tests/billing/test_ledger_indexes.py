"""The ledger keeps one index by publisher (`ledger_publisher_at`, publisher then time): the
migration that dropped the publisher's own index drops only that index (no table rebuild:
the rows and their ids stay), and going back creates it again."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("billing", "0007_ledger_card_reversal_kinds")]
AFTER = [("billing", "0008_ledger_publisher_index_composite_only")]
TABLE = "billing_ledgerentry"


def _indexes_starting_with_publisher() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and info["columns"][:1] == ["publisher_id"]
    }


def _rows() -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, publisher_id, amount FROM {TABLE} ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_publisher_s_own_index_goes_and_comes_back(make_publisher: Any) -> None:
    publisher = make_publisher(balance="12.50")
    rows = _rows()
    assert [row[1] for row in rows] == [publisher.id]
    assert sorted(_indexes_starting_with_publisher().values()) == [["publisher_id", "created_at"]]

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert sorted(_indexes_starting_with_publisher().values()) == [
        ["publisher_id"],
        ["publisher_id", "created_at"],
    ]
    assert _rows() == rows

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    assert sorted(_indexes_starting_with_publisher().values()) == [["publisher_id", "created_at"]]
    assert _rows() == rows

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
