"""The index behind the status call's read of orders by invoice (orders migration 0011).

On SQLite `order_publisher_invoice` holds every column `order_by_invoices` returns, so the
read is answered from the index alone, without a random page of the orders table for each
order. A later migration that rebuilds the orders table on SQLite makes its indexes from the
models' state, which names only (publisher, invoice): these tests then fail, and the wider
index is to be made again. On PostgreSQL the index stays (publisher, invoice)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from pressrun.orders.selectors import OrderStatusRow, order_by_invoices

pytestmark = pytest.mark.django_db

LEADING = ["publisher_id", "invoice"]


def index_columns() -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "orders_order")
    return list(constraints["order_publisher_invoice"]["columns"])


def test_the_status_index_holds_what_the_status_read_returns_on_sqlite() -> None:
    columns = index_columns()
    assert columns[:2] == LEADING
    if connection.vendor == "sqlite":
        # Every column the read returns, in its order; `id` is SQLite's rowid, which every
        # index holds.
        returned = [name for name in OrderStatusRow._fields if name not in ("id", "invoice")]
        assert columns == [*LEADING, *returned]
        assert len(returned) == 7
    else:
        assert columns == LEADING


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="SQLite's plan; PostgreSQL's index is (publisher, invoice), checked above",
)
def test_the_status_read_uses_the_index_alone_on_sqlite() -> None:
    sent: list[tuple[str, list[Any]]] = []

    def record(execute: Any, sql: str, params: Any, *args: Any) -> Any:
        sent.append((sql, list(params)))
        return execute(sql, params, *args)

    with connection.execute_wrapper(record):
        order_by_invoices(publisher_id=1, invoices=[f"INV-{number}" for number in range(100)])
    [(sql, params)] = sent
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
    assert "USING COVERING INDEX order_publisher_invoice" in plan, plan
