"""bench/lock_floor.py replays an order's write on a plain sqlite3 connection: each replayed
order is a whole order (its line, its two events, its ledger entry, its two tasks naming it,
its debit), made unique where the schema requires, so the floor it reports is the cost of
the rows pressrun really writes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.live import scratch_database_name

ROOT = Path(__file__).resolve().parent.parent
PLACED_BEFORE_THE_RECORDING = 52  # the warm-up's 50 orders and the two recorded

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's write lock: the suite's SQLite half runs it"
)


def test_the_replayed_orders_are_whole_orders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.setattr(sys, "argv", ["bench/run.py", "--quick"])
    import run  # bench/run.py

    options = run.parse_args()
    database = run.Database(
        kind="sqlite", data_dir=tmp_path, admin_url="", name=scratch_database_name("floor")
    )
    installation = run.Installation(
        database=database, env=run.base_environment(tmp_path), options=options
    )
    database.create()
    installation.setup()
    finished = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "lock_floor.py"), "--orders", "200"),
            *("--rounds", "1", "--group", "1,16", "--product", str(installation.project_ids[0])),
            *("--writer-clients", "2"),
        ],
        env=installation.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report: dict[str, Any] = json.loads(finished.stdout)
    assert report["orders_per_side"] == 200
    assert set(report["replay_write_lock_ms"]) == {"1 per transaction", "16 per transaction"}
    assert all(held > 0 for held in report["replay_write_lock_ms"].values())
    assert report["order_place_write_lock_ms"] > 0
    assert report["replay_statements_us"]["COMMIT"] > 0
    frames = report["log_frames_per_order"]
    # An order dirties a leaf of each of its tables and indexes; sixteen in a transaction
    # share most of them.
    assert 15 < frames["1 per transaction"] < 60
    assert 0 < frames["16 per transaction"] < frames["1 per transaction"] / 2

    # Two processes writing 200 orders each, then sending them to a writer process.
    compared = report["writer_process"]["2 clients"]
    assert compared["each client writing"]["orders_per_s"] > 0
    assert compared["one writer process"]["orders_per_s"] > 0
    assert 1 <= compared["one writer process"]["orders_per_transaction"] <= 2
    assert compared["one writer process"]["cpu_ms_per_order"] > 0

    rows = sqlite3.connect(tmp_path / "pressrun.sqlite3")
    # Placed by pressrun; replayed one and sixteen a transaction; replayed with each statement
    # timed; replayed by two processes, then through the writer process.
    orders = PLACED_BEFORE_THE_RECORDING + 200 + 2 * 200 + 200 + 2 * 2 * 200
    (count,) = rows.execute("SELECT COUNT(*) FROM orders_order").fetchone()
    assert count == orders
    for kind in ("direct", "writer"):
        (count,) = rows.execute(
            "SELECT COUNT(DISTINCT invoice) FROM orders_order WHERE invoice LIKE ?",
            (f"%~{kind}-2-%",),
        ).fetchone()
        assert count == 2 * 200, kind
    # Every order has what intake writes for a paid gateway order, naming that order.
    for table, per_order in (
        ("orders_orderline", 1),
        ("orders_orderevent", 2),
        ("billing_ledgerentry", 1),
    ):
        grouped = rows.execute(
            f"SELECT COUNT(*) FROM orders_order o WHERE (SELECT COUNT(*) FROM {table} t "
            "WHERE t.order_id = o.id) = ?",
            (per_order,),
        ).fetchone()[0]
        assert grouped == orders, table
    # Each order's follow-ups wait for the worker's relay on its placed event: no task row.
    (pending,) = rows.execute(
        "SELECT COUNT(DISTINCT order_id) FROM orders_orderevent "
        "WHERE kind = 'placed' AND relay_pending = 1"
    ).fetchone()
    assert pending == orders
    (tasks,) = rows.execute("SELECT COUNT(*) FROM django_tasks_database_dbtaskresult").fetchone()
    assert tasks == 0
    # Each customer token made afresh, as intake makes it, not derived from the recorded one.
    recorded = rows.execute(
        "SELECT customer_token FROM orders_order ORDER BY id LIMIT 1"
    ).fetchone()
    tokens = [token for (token,) in rows.execute("SELECT customer_token FROM orders_order")]
    assert len(set(tokens)) == orders
    assert not [t for t in tokens if t != recorded[0] and t.startswith(recorded[0][:8])]
    descriptions = rows.execute(
        "SELECT COUNT(*) FROM billing_ledgerentry WHERE description = 'Order ' || order_id"
    ).fetchone()[0]
    assert descriptions == orders
    # The debits: every order's total, from the credit added at set-up.
    balance, charged = rows.execute(
        "SELECT (SELECT balance FROM accounts_publisher), "
        "(SELECT SUM(total_cost) FROM orders_order)"
    ).fetchone()
    assert Decimal(str(balance)) == Decimal(run.CREDIT) - Decimal(str(charged))
