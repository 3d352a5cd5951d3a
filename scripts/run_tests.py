"""`make test`: static checks, then the whole suite on SQLite and on PostgreSQL.

PostgreSQL is used when it answers at PRESSRUN_TEST_POSTGRES_URL (default: the local server,
user postgres). When it does not, the PostgreSQL run is skipped with a loud notice, unless
PRESSRUN_REQUIRE_ALL=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "PRESSRUN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_ALL = os.environ.get("PRESSRUN_REQUIRE_ALL") == "1"


def banner(text: str) -> None:
    line = "=" * 78
    print(f"\n{line}\n{text}\n{line}", flush=True)


def run(title: str, command: list[str], env: dict[str, str] | None = None) -> bool:
    banner(title)
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode == 0


def postgres_available() -> str:
    """'' when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(
            POSTGRES_URL.replace("postgres://", "postgresql://"), connect_timeout=3
        ):
            return ""
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def pytest_run(title: str, env: dict[str, str], report: Path) -> tuple[bool, dict[str, int]]:
    ok = run(
        title,
        [str(BIN / "python"), "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}"],
        env,
    )
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


def main() -> int:
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
            "docs/gateway.md matches the error table",
            [str(BIN / "pressrun"), "gatewaydocs", "--check"],
        ),
    ]
    work = Path(tempfile.mkdtemp(prefix="pressrun-test-"))
    base_env = dict(os.environ, PRESSRUN_DATA_DIR=str(work / "data"))
    base_env.pop("PRESSRUN_DATABASE_URL", None)
    for title, command in checks:
        if not run(title, command, base_env):
            failures.append(title)

    totals = {"passed": 0, "failed": 0, "skipped": 0}
    ok, counts = pytest_run("test suite on SQLite", base_env, work / "sqlite.xml")
    if not ok:
        failures.append("tests on SQLite")
    for key in totals:
        totals[key] += counts[key]

    reason = postgres_available()
    if reason:
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {reason}"
        if REQUIRE_ALL:
            banner(f"FAILURE: {message} (PRESSRUN_REQUIRE_ALL=1)")
            failures.append("PostgreSQL unavailable")
        else:
            banner(f"SKIPPED LOUDLY: the PostgreSQL run of the suite. {message}")
    else:
        pg_env = dict(base_env, PRESSRUN_DATABASE_URL=POSTGRES_URL)
        ok, counts = pytest_run("test suite on PostgreSQL", pg_env, work / "postgres.xml")
        if not ok:
            failures.append("tests on PostgreSQL")
        for key in totals:
            totals[key] += counts[key]

    banner("summary: " + ("all green" if not failures else "FAILED: " + ", ".join(failures)))
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
