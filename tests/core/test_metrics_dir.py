"""`pressrun serve`'s metrics directory: its own, empty, named in PROMETHEUS_MULTIPROC_DIR for
its processes; those of servers no longer running removed; removed again when it stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import values

from pressrun.core.metrics_dir import (
    MULTIPROCESS_DIR_VARIABLE,
    metrics_dir_prepare,
    metrics_dir_remove,
)


@pytest.fixture(autouse=True)
def _restore(monkeypatch: pytest.MonkeyPatch) -> None:
    # What `prepare` changes in this process is put back afterwards.
    monkeypatch.delenv(MULTIPROCESS_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)


def exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_server_gets_an_empty_directory_of_its_own(tmp_path: Path) -> None:
    stale = tmp_path / "metrics" / f"serve-{exited_pid()}"
    stale.mkdir(parents=True)
    (stale / "counter_123.db").write_bytes(b"old counts")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as running:
        other_server = tmp_path / "metrics" / f"serve-{running.pid}"
        other_server.mkdir()
        (tmp_path / "metrics" / "serve-not-a-pid").mkdir()
        try:
            own = metrics_dir_prepare(tmp_path)
            assert own == tmp_path / "metrics" / f"serve-{os.getpid()}"
            assert list(own.iterdir()) == []
            assert os.environ[MULTIPROCESS_DIR_VARIABLE] == str(own)
            # Another server still running keeps its counts; the dead ones' are gone.
            assert sorted(path.name for path in (tmp_path / "metrics").iterdir()) == sorted(
                [own.name, other_server.name]
            )
        finally:
            running.kill()
    # prometheus-client, imported before, now makes metrics that count across processes.
    assert getattr(values.ValueClass, "_multiprocess", False) is True

    metrics_dir_remove(own)
    assert not own.exists()
    assert MULTIPROCESS_DIR_VARIABLE not in os.environ


def test_counts_left_under_this_pid_by_a_dead_server_are_cleared(tmp_path: Path) -> None:
    mine = tmp_path / "metrics" / f"serve-{os.getpid()}"
    mine.mkdir(parents=True)
    (mine / "counter_1.db").write_bytes(b"a dead server's")
    assert list(metrics_dir_prepare(tmp_path).iterdir()) == []
