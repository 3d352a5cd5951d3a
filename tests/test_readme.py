"""The README's start section and its `make bench` description say what the code does."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from pressrun.core import webfront

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _paragraph_after(marker: str) -> str:
    start = README.index(marker)
    end = README.find("\n\n", start)
    return " ".join(README[start : end if end != -1 else None].split())


def test_the_pressrun_command_is_put_on_the_path_where_make_run_is_introduced() -> None:
    start = README.index("## Start")
    first_block_end = README.index("```", README.index("make test", start))
    following = " ".join(README[first_block_end : first_block_end + 600].split())
    assert "`source .venv/bin/activate`" in following
    assert "`.venv/bin/pressrun`" in following


@pytest.fixture
def bench_defaults(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.setattr(sys, "argv", ["bench/run.py"])
    monkeypatch.delenv("PRESSRUN_BENCH_POSTGRES_URL", raising=False)
    import run  # bench/run.py

    return run, run.parse_args()


def test_make_bench_is_described_as_it_runs(bench_defaults: Any) -> None:
    run, options = bench_defaults
    text = _paragraph_after("`make bench`")
    assert "running service" not in text
    assert "does not use a running `make run`" in text
    assert "SQLite in a temporary data dir" in text
    assert f"`{run.DEFAULT_POSTGRES_URL}`" in text
    assert "`pressrun_bench_<random>`" in text
    assert "removed afterwards" in text
    # pressrun serve's own defaults for each database
    assert options.processes is None
    assert options.threads is None
    assert webfront.default_threads(postgresql=False) == 1
    assert webfront.default_processes(postgresql=False) == 2
    assert "2 processes \u00d7 1 thread on SQLite" in text
    assert webfront.default_threads(postgresql=True) == 2
    assert webfront.default_processes(postgresql=True) == min(2 * webfront.usable_cores(), 16)
    assert "2 processes per core (at most 16) \u00d7 2 threads on PostgreSQL" in text
    assert f"{options.webhook_deliveries:,} signed Shopify webhooks" in text
    levels = [str(c) for c in options.connections]
    assert f"{', '.join(levels[:-1])} and {levels[-1]} connections" in text
    assert f"{options.warmup:.0f} s warm-up + {options.duration:.0f} s each" in text
    assert f"{options.orders:,} orders filled in" in text
    assert "status calls for 100 invoices" in text
    assert re.search(r"bench/results/<timestamp>\.json", text)
    assert options.databases == ["sqlite", "postgresql"]
