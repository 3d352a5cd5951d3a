"""`make test` (scripts/run_tests.py) leaves nothing behind in the temporary directory.

The checks and the suites are replaced by stand-ins that behave like them (they run in the
environment `make test` gives them, and may leave files or databases behind): what is tested
is the runner's own bookkeeping.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "run_tests.py"


@pytest.fixture
def run_tests(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_tests_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "run", lambda title, command, env=None: True)
    monkeypatch.setattr(module, "postgres_available", lambda: "no server in this test")
    # As on a machine without PostgreSQL outside CI (CI's PRESSRUN_REQUIRE_ALL=1 would make
    # the stand-in's missing server a failure of its own).
    monkeypatch.setattr(module, "REQUIRE_ALL", False)
    return module


class Suite:
    """Stands in for one pytest run: records its environment and command, may leave files."""

    def __init__(self, leave: str = "", interrupt: bool = False) -> None:
        self.leave = leave
        self.interrupt = interrupt
        self.seen: list[dict[str, Any]] = []

    def __call__(
        self,
        title: str,
        env: dict[str, str],
        report: Path,
        basetemp: Path,
        log: Path | None = None,
        *,
        args: tuple[str, ...] = (),
    ) -> tuple[bool, dict[str, int]]:
        self.seen.append({"env": env, "report": report, "basetemp": basetemp, "log": log})
        temp = Path(env["TMPDIR"])
        assert temp.is_dir()
        basetemp.mkdir()
        (basetemp / "test_something0").mkdir()  # pytest's own tmp_path dirs
        report.write_text("<testsuite tests='1' failures='0' errors='0' skipped='0'/>")
        if self.leave:
            (temp / self.leave).mkdir()
            (temp / self.leave / "server.log").write_text("left")
        if self.interrupt:
            raise KeyboardInterrupt
        return True, {"passed": 1, "failed": 0, "skipped": 0}


def test_a_clean_run_removes_everything_it_made(
    run_tests: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = Suite()
    monkeypatch.setattr(run_tests, "pytest_run", suite)
    assert run_tests.main() == 0
    (seen,) = suite.seen
    work = Path(seen["env"]["TMPDIR"]).parent
    # Everything lived under one scratch directory, which is gone.
    assert Path(seen["env"]["PRESSRUN_DATA_DIR"]).parent == work
    assert seen["basetemp"].parent == work
    assert seen["report"].parent == work
    # Every process of the run compiles its modules into the scratch directory, never into
    # the checkout, even where the environment said not to write them at all.
    assert Path(seen["env"]["PYTHONPYCACHEPREFIX"]).parent == work
    assert "PYTHONDONTWRITEBYTECODE" not in seen["env"]
    assert work.name.startswith("pressrun-test-")
    assert not work.exists()
    assert seen["env"]["PRESSRUN_TEST_RUN_ID"].isalnum()
    assert "all green" in capsys.readouterr().out


def test_files_the_suite_leaves_in_the_temporary_directory_fail_the_run(
    run_tests: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = Suite(leave="pressrun-e2e-data")
    monkeypatch.setattr(run_tests, "pytest_run", suite)
    assert run_tests.main() == 1
    out = capsys.readouterr().out
    assert "the tests left files in the temporary directory:" in out
    assert "pressrun-e2e-data/\n  pressrun-e2e-data/server.log" in out
    assert "FAILED: files left in the temporary directory" in out
    assert not Path(suite.seen[0]["env"]["TMPDIR"]).parent.exists()


def test_an_interrupted_run_still_removes_its_scratch_directory(
    run_tests: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = Suite(leave="half-done", interrupt=True)
    monkeypatch.setattr(run_tests, "pytest_run", suite)
    with pytest.raises(KeyboardInterrupt):
        run_tests.main()
    assert not Path(suite.seen[0]["env"]["TMPDIR"]).parent.exists()


def test_sigterm_ends_the_run_like_ctrl_c(run_tests: ModuleType) -> None:
    made: list[Path] = []

    def terminated_run() -> None:
        with run_tests.scratch_directory() as work:
            made.append(work)
            os.kill(os.getpid(), run_tests.signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        terminated_run()
    assert len(made) == 1
    assert not made[0].exists()


def test_the_real_pytest_run_puts_its_temporary_directories_in_the_scratch_directory(
    run_tests: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commands: list[list[str]] = []
    monkeypatch.setattr(run_tests, "run", lambda title, command, env=None: commands.append(command))
    run_tests.pytest_run("suite", {}, tmp_path / "report.xml", tmp_path / "pytest-sqlite")
    assert f"--basetemp={tmp_path / 'pytest-sqlite'}" in commands[0]


def test_postgresql_databases_left_by_the_tests_fail_the_run_and_are_dropped(
    run_tests: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = os.environ.get("PRESSRUN_DATABASE_URL", "").strip()
    if not url:
        pytest.skip("runs on PostgreSQL (PRESSRUN_DATABASE_URL)")
    import psycopg

    from tests.live import _PostgresDatabase, scratch_database_name

    monkeypatch.setattr(run_tests, "POSTGRES_URL", url)
    monkeypatch.setattr(run_tests, "postgres_available", lambda: "")
    unrelated = _PostgresDatabase(url, f"pressrun_e2e_{uuid.uuid4().hex[:12]}")
    unrelated.create()
    left: list[str] = []

    def suite(
        title: str,
        env: dict[str, str],
        report: Path,
        basetemp: Path,
        log: Path | None = None,
        *,
        args: tuple[str, ...] = (),
    ) -> tuple[bool, dict[str, int]]:
        if "PRESSRUN_DATABASE_URL" in env:
            monkeypatch.setenv("PRESSRUN_TEST_RUN_ID", env["PRESSRUN_TEST_RUN_ID"])
            database = _PostgresDatabase(url, scratch_database_name("e2e"))
            database.create()  # and, as a crashed test would, never dropped
            left.append(database.name)
        return True, {"passed": 1, "failed": 0, "skipped": 0}

    monkeypatch.setattr(run_tests, "pytest_run", suite)
    try:
        assert run_tests.main() == 1
        out = capsys.readouterr().out
        assert f"left PostgreSQL databases behind (now dropped): {left[0]}" in out
        with psycopg.connect(run_tests._psycopg_url(url)) as connection:
            names = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        assert left[0] not in names
        # Another run's database (another engineer's, another CI job's) is left alone.
        assert unrelated.name in names
    finally:
        unrelated.drop()


def test_the_two_halves_run_at_once_each_with_its_own_data_dir_and_log(
    run_tests: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_tests, "postgres_available", lambda: "")
    monkeypatch.setattr(run_tests, "run_databases", lambda run_id: [])
    monkeypatch.setattr(run_tests, "SERIAL", False)
    both_started = threading.Barrier(2, timeout=10)
    seen: list[dict[str, Any]] = []

    def suite(
        title: str,
        env: dict[str, str],
        report: Path,
        basetemp: Path,
        log: Path | None = None,
        *,
        args: tuple[str, ...] = (),
    ) -> tuple[bool, dict[str, int]]:
        seen.append({"title": title, "data": env["PRESSRUN_DATA_DIR"], "log": log, "args": args})
        both_started.wait()  # raises BrokenBarrierError when run one after the other
        return True, {"passed": 1, "failed": 0, "skipped": 0}

    monkeypatch.setattr(run_tests, "pytest_run", suite)
    assert run_tests.main() == 0
    assert sorted(half["title"] for half in seen) == [
        "test suite on PostgreSQL",
        "test suite on SQLite",
    ]
    assert len({half["data"] for half in seen}) == 2
    assert all(half["log"] is not None for half in seen)
    # The browser tests and the documents' shell blocks run in the SQLite half only.
    args = {half["title"]: half["args"] for half in seen}
    assert args == {
        "test suite on SQLite": (),
        "test suite on PostgreSQL": ("--ignore=tests/ui", "--ignore=tests/test_docs_shell.py"),
    }
