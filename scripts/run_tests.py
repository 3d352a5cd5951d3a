"""`make test`: static checks, then the whole suite on SQLite and on PostgreSQL.

PostgreSQL is used when it answers at PRESSRUN_TEST_POSTGRES_URL (default: the local server,
user postgres). When it does not, the PostgreSQL run is skipped with a loud notice, unless
PRESSRUN_REQUIRE_ALL=1 (CI), where that is a failure.

The two halves run at the same time, each in its own process with its own data dir; each
half's output is printed, whole, when it ends. PRESSRUN_TEST_SERIAL=1 runs them one after
the other with their output as it comes. The browser tests (tests/ui) and the documents'
shell blocks run in the SQLite half only (POSTGRES_HALF_ARGS says why). Within a half,
pytest-xdist spreads the test files over PRESSRUN_TEST_WORKERS processes (default 2),
each with its own data dir (tests/conftest.py) and, on PostgreSQL, its own test database.

Nothing is left behind: every file the run makes goes under one scratch directory (the
checks' data dir, the reports, pytest's temporary directories, the compiled modules of
every Python process (`bytecode_cache_environment`) and the system temporary directory of
every process the run starts, through TMPDIR), which is removed at the end, on
failure and on Ctrl-C or SIGTERM alike. Before removing it the run checks that the suite
cleaned up after itself: a file left in its temporary directory, or a PostgreSQL database
created by the tests for this run (their names carry PRESSRUN_TEST_RUN_ID) still there, fails
the run and is named (the databases are then dropped).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "PRESSRUN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_ALL = os.environ.get("PRESSRUN_REQUIRE_ALL") == "1"
SERIAL = os.environ.get("PRESSRUN_TEST_SERIAL") == "1"
# The browser tests run in the SQLite half only: what they prove (what a browser shows and
# does: layout, scripts, forms, the Content Security Policy) does not depend on the
# database, SQLite is what `make run` serves, and every view and rule behind them is tested
# on PostgreSQL too by the in-process and end-to-end tests. Chromium is the suite's
# heaviest user of the two cores; running it twice bought nothing.
# The documents' shell blocks (tests/test_docs_shell.py) run in the SQLite half only, for the
# same reason and one more: they run as a reader runs them, and the installations the
# documents show are SQLite ones (operations.md's and warehouses.md's examples make a
# scratch installation in a new data dir, operations.md asking to leave
# PRESSRUN_DATABASE_URL unset; the cart guides talk to a `make run` installation). Run on
# PostgreSQL they proved each command on that database a second time, which the in-process
# and end-to-end tests already do, for a seventh of the half's time.
POSTGRES_HALF_ARGS = ("--ignore=tests/ui", "--ignore=tests/test_docs_shell.py")
# pytest-xdist workers per half. The suite is CPU-bound: two per half keep about 1.8 of two
# cores busy, and three per half took as long.
WORKERS = int(os.environ.get("PRESSRUN_TEST_WORKERS") or "2")
_print_lock = threading.Lock()
# Tests name the PostgreSQL databases they create with this tag (tests/live.py).
RUN_ID_VARIABLE = "PRESSRUN_TEST_RUN_ID"


def banner(text: str) -> None:
    line = "=" * 78
    print(f"\n{line}\n{text}\n{line}", flush=True)


def run(title: str, command: list[str], env: dict[str, str] | None = None) -> bool:
    banner(title)
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode == 0


def _psycopg_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def postgres_available() -> str:
    """'' when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(_psycopg_url(POSTGRES_URL), connect_timeout=3):
            return ""
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def run_databases(run_id: str) -> list[str]:
    """The PostgreSQL databases that tests created for this run and that still exist."""
    import psycopg

    with psycopg.connect(_psycopg_url(POSTGRES_URL), connect_timeout=3) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE strpos(datname, %s) > 0 ORDER BY datname",
            [f"_{run_id}_"],
        ).fetchall()
    return [name for (name,) in rows]


def drop_databases(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(POSTGRES_URL), autocommit=True) as connection:
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


def pytest_run(
    title: str,
    env: dict[str, str],
    report: Path,
    basetemp: Path,
    log: Path | None = None,
    *,
    args: tuple[str, ...] = (),
) -> tuple[bool, dict[str, int]]:
    """One half of the suite (`args`: more pytest arguments). With `log`, its output goes
    there and is printed whole when it ends (so two halves running at once do not
    interleave); without, as it comes."""
    command = [str(BIN / "python"), "-m", "pytest", "-p", "no:cacheprovider", *args]
    command += [f"--junitxml={report}", f"--basetemp={basetemp}"]
    if WORKERS > 1:
        # Whole files per worker: the tests of one file share its fixtures (and the
        # end-to-end tests one started service per worker), as they do in a serial run.
        command += ["-n", str(WORKERS), "--dist", "loadfile"]
    if log is None:
        ok = run(title, command, env)
    else:
        with _print_lock:
            print(f"started: {title} (its output follows when it ends)", flush=True)
        with log.open("wb") as output:
            ok = (
                subprocess.run(
                    command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, check=False
                ).returncode
                == 0
            )
        with _print_lock:
            banner(title)
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if report.exists():
        suite = ET.parse(report).getroot()
        suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
        if suite is not None:
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts = {"passed": tests - failed - skipped, "failed": failed, "skipped": skipped}
    return ok, counts


def bytecode_cache_environment(work: Path) -> dict[str, str]:
    """Where every Python process of the run keeps its compiled modules: a cache under the
    scratch directory, shared by all of them.

    The suite starts many Python processes (servers, workers, `pressrun` commands, the
    documents' shell blocks). Where the environment says
    PYTHONDONTWRITEBYTECODE (some machines and CI images do) and the checkout has no
    compiled modules of its own (an editable install never compiles it), each of them
    compiled pressrun's source again: 0.2 s of a `pressrun` command's 0.8 s start, on a
    suite that keeps both cores busy. With this cache the first process compiles a module
    and the others read it; nothing is written into the checkout or the virtualenv. Its
    cost: with a prefix Python reads no other cache, so the run's first processes compile
    the standard library's and the packages' modules too (about 1.7 s of CPU for each
    process that starts before the cache has them), once a run."""
    return {"PYTHONPYCACHEPREFIX": str(work / "pycache")}


def left_behind(temp_dir: Path) -> list[str]:
    """What is still in the run's temporary directory (relative names, a few levels deep)."""
    if not temp_dir.is_dir():
        return []
    found = []
    for path in sorted(temp_dir.rglob("*")):
        relative = path.relative_to(temp_dir)
        if len(relative.parts) <= 2:
            found.append(str(relative) + ("/" if path.is_dir() else ""))
    return found


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the run like Ctrl-C does, so the scratch directory is still removed.
    raise KeyboardInterrupt


@contextmanager
def scratch_directory() -> Iterator[Path]:
    """The run's one scratch directory, removed afterwards whatever happens."""
    work = Path(tempfile.mkdtemp(prefix="pressrun-test-"))
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield work
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    with scratch_directory() as work:
        return _run_all(work)


def _run_all(work: Path) -> int:
    failures: list[str] = []
    checks = [
        ("ruff check", [str(BIN / "ruff"), "check", "src", "tests", "bench", "scripts"]),
        (
            "ruff format --check",
            [str(BIN / "ruff"), "format", "--check", "src", "tests", "bench", "scripts"],
        ),
        ("mypy", [str(BIN / "mypy")]),
        (
            "migrations are up to date",
            [str(BIN / "pressrun"), "makemigrations", "--check", "--dry-run"],
        ),
        (
            "docs/gateway.md matches the error tables and the status map",
            [str(BIN / "pressrun"), "gatewaydocs", "--check"],
        ),
    ]
    temp_dir = work / "tmp"
    temp_dir.mkdir()
    run_id = uuid.uuid4().hex[:12]
    base_env = dict(
        os.environ,
        PRESSRUN_DATA_DIR=str(work / "data"),
        TMPDIR=str(temp_dir),
        **{RUN_ID_VARIABLE: run_id},
        **bytecode_cache_environment(work),
    )
    base_env.pop("PRESSRUN_DATABASE_URL", None)
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    for title, command in checks:
        if not run(title, command, base_env):
            failures.append(title)

    totals = {"passed": 0, "failed": 0, "skipped": 0}
    halves = [
        (
            "test suite on SQLite",
            dict(base_env, PRESSRUN_DATA_DIR=str(work / "data-sqlite")),
            "sqlite",
        )
    ]
    reason = postgres_available()
    if reason:
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {reason}"
        if REQUIRE_ALL:
            banner(f"FAILURE: {message} (PRESSRUN_REQUIRE_ALL=1)")
            failures.append("PostgreSQL unavailable")
        else:
            banner(f"SKIPPED LOUDLY: the PostgreSQL run of the suite. {message}")
    else:
        halves.append(
            (
                "test suite on PostgreSQL",
                dict(
                    base_env,
                    PRESSRUN_DATA_DIR=str(work / "data-pg"),
                    PRESSRUN_DATABASE_URL=POSTGRES_URL,
                ),
                "pg",
            )
        )

    def run_half(title: str, env: dict[str, str], name: str) -> tuple[bool, dict[str, int]]:
        log = None if SERIAL or len(halves) == 1 else work / f"{name}.log"
        args = POSTGRES_HALF_ARGS if name == "pg" else ()
        return pytest_run(title, env, work / f"{name}.xml", work / f"pytest-{name}", log, args=args)

    try:
        with ThreadPoolExecutor(max_workers=1 if SERIAL else len(halves)) as pool:
            results = [pool.submit(run_half, *half) for half in halves]
            outcomes = [result.result() for result in results]
    finally:
        leftover_databases = run_databases(run_id) if len(halves) > 1 else []
        if leftover_databases:
            drop_databases(leftover_databases)
    for (title, _, _), (ok, counts) in zip(halves, outcomes, strict=True):
        if not ok:
            failures.append(title.replace("test suite", "tests"))
        for key in totals:
            totals[key] += counts[key]
    if leftover_databases:
        banner(
            "FAILURE: the tests left PostgreSQL databases behind (now dropped): "
            + ", ".join(leftover_databases)
        )
        failures.append("databases left behind")

    leftovers = left_behind(temp_dir)
    if leftovers:
        banner(
            "FAILURE: the tests left files in the temporary directory:\n  "
            + "\n  ".join(leftovers[:50])
        )
        failures.append("files left in the temporary directory")

    banner("summary: " + ("all green" if not failures else "FAILED: " + ", ".join(failures)))
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
