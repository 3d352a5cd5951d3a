"""bench/bench_run.py's "cost flat with volume" target compares the filled table's submit phases
with those of a new installation run alternately with them (medians), and still reads a run
from before the alternating phases (the first submit phase against the filled one)."""

from __future__ import annotations

from typing import Any


def _phase(ok_per_s: float) -> dict[str, Any]:
    return {"ok_per_s": ok_per_s, "connections": 16}


def _volume_row(bench_run: Any, data: dict[str, Any]) -> dict[str, Any]:
    rows = bench_run.targets({"databases": {"postgresql": data}})
    [row] = [row for row in rows if "orders in the table within" in row["target"]]
    return row


def test_the_alternating_phases_medians_are_compared(bench_run: Any) -> None:
    data = {
        "fill": {"orders_in_table": 1_085_553},
        # The run's first phase, on cores since slowed down, is not what is compared.
        "submit": {"pressrun": {"16": _phase(900.0)}},
        "submit_filled": {"pressrun": {"16": _phase(690.0), "16 r2": _phase(600.0)}},
        "submit_new": {"pressrun": {"16": _phase(700.0), "16 r2": _phase(640.0)}},
    }
    row = _volume_row(bench_run, data)
    assert row["measured"] == "690, 600/s against 700, 640/s (alternating; medians compared)"
    assert row["gap"] == "4% apart"  # 645 against 670
    assert row["met"] is True


def test_a_run_without_the_new_installations_phases_compares_the_first_phase(
    bench_run: Any,
) -> None:
    data = {
        "fill": {"orders_in_table": 1_085_553},
        "submit": {"pressrun": {"1": _phase(300.0), "16": _phase(742.0)}},
        "submit_filled": {"pressrun": {"16": _phase(464.0)}},
    }
    row = _volume_row(bench_run, data)
    assert row["measured"] == "464/s against 742/s"
    assert row["gap"] == "37% apart"
    assert row["met"] is False


def test_the_report_tells_the_rounds_apart(bench_run: Any) -> None:
    data = {
        "submit_filled": {"pressrun": {"16": _phase(690.0), "16 r2": _phase(600.0)}},
        "submit_new": {"pressrun": {"16": _phase(700.0), "16 r2": _phase(640.0)}},
    }
    loads = [(call, load) for call, _, load, _ in bench_run._rows(data)]
    assert loads == [
        ("submit@filled", "16 conn"),
        ("submit@filled", "16 conn r2"),
        ("submit@new", "16 conn"),
        ("submit@new", "16 conn r2"),
    ]
