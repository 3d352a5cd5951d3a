"""bench/census.py runs to its end against a small benchmark installation on the suite's
database and reports what the benchmark's report reads: the statements of an order and of a
status call, the write's time, and on SQLite the write lock per order. (It once stopped on
PostgreSQL when intake's write changed shape; only a full benchmark run showed it.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.live import scratch_database_name

ROOT = Path(__file__).resolve().parent.parent
FILLED = 300


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.setattr(sys, "argv", ["bench/run.py", "--quick"])
    import run  # bench/run.py

    options = run.parse_args()
    options.census_rounds = 12
    options.census_status_rounds = 2
    options.orders = FILLED  # the status calls ask for invoices of the filled orders
    return run, options


def test_the_census_reports_an_order_and_a_status_call(
    bench: tuple[Any, Any], tmp_path: Path
) -> None:
    run, options = bench
    url = os.environ.get("PRESSRUN_DATABASE_URL", "")
    kind = "postgresql" if url else "sqlite"
    database = run.Database(
        kind=kind, data_dir=tmp_path, admin_url=url, name=scratch_database_name("census")
    )
    env = run.base_environment(tmp_path)
    if kind == "postgresql":
        env["PRESSRUN_DATABASE_URL"] = database.url
    installation = run.Installation(database=database, env=env, options=options)
    database.create()
    try:
        installation.setup()
        run.fill(database, installation.publisher_id, FILLED)
        report = run.census(installation, options)
    finally:
        database.drop()

    assert "error" not in report, report.get("error")
    statements = [sql.split()[0].upper() for sql in report["submit_queries"]]
    if kind == "postgresql":
        # Every row of the order and its debit as one statement, its own transaction, which
        # requires the publisher, the product and the shipping rate that the process kept
        # unchanged (none of them is read again).
        assert statements == ["WITH"]
    else:
        # The order, its line, its ledger entry, its two events (no task row: orders.relay).
        assert statements.count("INSERT") == 5
        assert statements.count("UPDATE") == 1
    assert len(report["status_queries"]) >= 2
    assert report["write_transaction_ms"]["mean"] > 0
    write_path = report["write_path"]
    assert write_path["configured"] == "prepared statements"
    for name in ("prepared statements", "ORM in the transaction"):
        assert write_path[name]["order_place_ms"] > 0
        if kind == "sqlite":
            # One transaction per order, and the lock held for part of it.
            assert write_path[name]["transactions_per_order"] == 1.0
            assert (
                0 < write_path[name]["write_lock_ms_per_order"] < write_path[name]["order_place_ms"]
            )
    if kind == "sqlite":
        # Every Shopify delivery made its order, in one transaction, whose lock it held for
        # part of its processing (its parse comes before).
        delivery = write_path["shopify_delivery"]
        assert delivery["orders_created"] == delivery["deliveries"]
        assert delivery["transactions_per_delivery"] == 1.0
        assert 0 < delivery["write_lock_ms_per_delivery"] < delivery["ms_per_delivery"]
    # The orders it placed were relayed to their follow-ups, and what that cost per order is
    # reported; on SQLite with the write lock it held, part of its CPU.
    relay = write_path["relay"]
    assert relay["orders"] > 0
    assert relay["cpu_ms_per_order"] > 0
    if kind == "sqlite":
        assert relay["write_lock_ms_per_order"] > 0
