"""bench/bench_run.py reads what the SQLite writer says when it stops (`pressrun sqlitewriter`'s
last line) into the scaling phase's figures, and the write-lock target counts the served
writer's lock per order beside the in-process one."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_the_writers_last_words_after_the_offset_are_its_figures(
    bench_run: Any, tmp_path: Path
) -> None:
    log = tmp_path / "pressrun.log"
    earlier = (
        "SQLite writer stopped: 10 orders in 10 transactions (1.00 a transaction), write lock "
        "held 0.005 s (0.500 ms an order)\n"
    )
    log.write_text(earlier)
    offset = log.stat().st_size
    assert bench_run.writer_stats(log, offset) is None  # nothing said since
    with log.open("a") as out:
        out.write(
            "[INFO] Granian shutdown completed\nSQLite writer stopped: 400 orders in 100 "
            "transactions (4.00 a transaction), write lock held 0.080 s (0.200 ms an order)\n"
        )
    assert bench_run.writer_stats(log, offset) == {
        "orders": 400,
        "transactions": 100,
        "orders_per_transaction": 4.0,
        "write_lock_ms_per_order": 0.2,
    }


def test_the_write_lock_target_counts_the_served_writer(bench_run: Any) -> None:
    def phase(lock_ms: float) -> dict[str, Any]:
        return {"sqlite_writer": {"write_lock_ms_per_order": lock_ms}}

    results = {
        "databases": {
            "sqlite": {
                "census": {
                    "write_path": {"prepared statements": {"write_lock_ms_per_order": 0.35}}
                },
                "scaling": {"pressrun-writer": {"1": phase(0.4), "4": phase(0.22)}},
            }
        }
    }
    [row] = [r for r in bench_run.targets(results) if "write lock" in r["target"]]
    assert row["met"] is True
    assert row["measured"].startswith("0.220 ms (the writer process")
    assert "in-process 0.350 ms" in row["measured"]
    assert "the served writer process 0.400 (1 processes), 0.220 (4 processes)" in row["measured"]
