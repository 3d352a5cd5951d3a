"""`make bench`: pressrun's gateway throughput and latency, beside a minimal baseline.

For each database (SQLite in a fresh data dir; PostgreSQL in a fresh database created on the
local server and dropped afterwards, skipped with a notice when the server does not answer):

1. set up an installation the way an operator does (`pressrun migrate`, `createpublisher`,
   `createproject` x 3, `addcredit` with a large balance, so orders are charged and go
   PROCESSING) and start `pressrun serve` on a free port;
2. SubmitProductOrder: closed-loop keep-alive clients (bench/loadgen.py) POST orders with
   unique invoices at 1 (the unloaded cost of one order), 16 and 64 connections; accepted
   orders/s (`[SUCCESS]` replies only), latency percentiles and errors;
3. fill the database with --orders orders (and their lines) by bulk SQL, then time
   getOrderStatusByInvoice asking for 100 invoices: sequential calls on one connection, and
   16 concurrent connections; then SubmitProductOrder again, alternating with a second,
   new installation (cost flat with volume);
4. the same load against bench/baseline_app.py (plain WSGI + the database driver, served by
   the same server with the same settings: bench/baseline_server.py), so the numbers can be
   read against what the stack itself allows;
   before all that, the follow-ups: one `pressrun worker --batch` running every task of a
   few hundred orders (bench/follow_ups.py), the Shopify webhook burst with `pressrun
   worker` running (bench/webhook_burst.py), then the postage phase: a
   ShipStation-compatible station exporting 10,000 ready orders page by page and posting
   10,000 ShipNotices (bench/postage.py);
5. print a table and write everything to bench/results/<timestamp>.json.

`--quick` is a smoke run (20,000 orders, 3 s phases, 200 webhooks). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import follow_ups
import mixed_carts
import postage
import webhook_burst
from baseline_app import LINE_COLUMNS, ORDER_COLUMNS
from loadgen import run_load
from order_form import EMAIL, ORDER_FIELDS, PASSWORD
from pressrun.core import webfront

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
PRESSRUN = BIN / "pressrun"
RESULTS_DIR = BENCH / "results"
SECRET_KEY = "bench-fixed-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
CREDIT = "9999999.00"
# (title, media, packaging, unit price, project ID)
PROJECTS = (
    ("Greatest Hits (CD)", "cd", "sleeve", "4.50", 66750),
    ("Live in Concert (DVD)", "dvd", "dvd-case", "6.25", 66760),
    ("Complete Works (USB)", "usb", "usb-ecomailer", "9.00", 66770),
)
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
FILL_CHUNK = 50_000
STATUS_POOL = 500
TICKS = os.sysconf("SC_CLK_TCK")

# Targets stated by the issues (2-core machine). The first order-throughput target was
# 2,000/s; the write-path issue set 1,000/s on SQLite and 700/s on PostgreSQL, with the CPU
# per order and the write-lock time that allow it, and took the status call's p50 from 10 ms
# to 4 ms at 1M orders, with at most 1.5 ms of server CPU a call.
TARGET_ORDERS_PER_S = 1000
TARGET_POSTGRES_ORDERS_PER_S = 700
TARGET_SUBMIT_P99_MS = 50
TARGET_SUBMIT_CPU_MS = 1.5
TARGET_WRITE_LOCK_MS = 0.25
TARGET_STATUS_P50_MS = 4
TARGET_STATUS_CPU_MS = 1.5
TARGET_STATUS_ORDERS = 1_000_000
# "Cost flat with volume": submit at a full table within this much of submit at an empty one.
TARGET_VOLUME_SPREAD = 0.20


def say(text: str) -> None:
    print(text, flush=True)


# --- the machine ---------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    mem_kb = int(meminfo[meminfo.index("MemTotal:") + 1])
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} (kernel {platform.release()})"
    import django
    import granian
    import psycopg

    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "os": os_name,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "django": django.get_version(),
        "granian": granian.__version__,
        "psycopg": psycopg.__version__,
    }


def source_fingerprint() -> dict[str, Any]:
    """Which pressrun was measured: a digest of src/ (the code changes between runs)."""
    digest = hashlib.sha256()
    files = sorted((ROOT / "src").rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    newest = max((path.stat().st_mtime for path in files), default=0.0)
    return {
        "src_sha256": digest.hexdigest()[:16],
        "python_files": len(files),
        "newest_file": datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


# --- CPU accounting from /proc -------------------------------------------------------------
def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far)."""
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / TICKS)
    return stats


def _tree_cpu(stats: dict[int, tuple[int, str, float]], root: int) -> float:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][2]
        todo.extend(children.get(pid, []))
    return total


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _our_postgres_cpu(stats: dict[int, tuple[int, str, float]], database_name: str) -> float:
    """CPU of the PostgreSQL backends connected to the benchmark's own database."""
    return sum(_our_postgres_backends(stats, database_name).values())


def _our_postgres_backends(
    stats: dict[int, tuple[int, str, float]], database_name: str, *, clients_only: bool = False
) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the benchmark's own database
    (`clients_only`: not its autovacuum workers, whose title names the database too)."""
    backends = {}
    for pid, (_, name, cpu) in stats.items():
        if name != "postgres":
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if database_name.encode() in title and not (clients_only and b"autovacuum" in title):
            backends[pid] = cpu
    return backends


def make_probe(server_pid: int, database: Database) -> Callable[[], dict[str, Any]]:
    def probe() -> dict[str, Any]:
        stats = _proc_stats()
        busy, total = _machine_ticks()
        postgres = 0.0
        if database.kind == "postgresql":
            postgres = _our_postgres_cpu(stats, database.name)
        return {
            "server_cpu_s": _tree_cpu(stats, server_pid),
            "postgres_cpu_s": postgres,
            "machine_busy": busy,
            "machine_total": total,
            "db": database.counters(),
        }

    return probe


def derive(phase: dict[str, Any]) -> dict[str, Any]:
    """Add per-request server / database / machine CPU figures from the two probes.

    `other_cpu_pct_of_machine` is the CPU used meanwhile by processes that are not part of
    the benchmark (neither the client, nor the server, nor its PostgreSQL backends): on a
    shared machine it says how much of the two cores the measurement did not have.
    """
    first, last = phase.pop("probe_open"), phase.pop("probe_close")
    wall = phase["window_wall_s"] or 1e-9
    completed = phase["completed"] or 1
    cores = os.cpu_count() or 1
    server = last["server_cpu_s"] - first["server_cpu_s"]
    postgres = last["postgres_cpu_s"] - first["postgres_cpu_s"]
    total_ticks = (last["machine_total"] - first["machine_total"]) or 1
    busy_ticks = last["machine_busy"] - first["machine_busy"]
    busy_s = busy_ticks / TICKS
    other = max(0.0, busy_s - server - postgres - phase["client_cpu_s"])
    phase["server_cpu_pct_of_one_core"] = round(100 * server / wall, 1)
    phase["server_cpu_ms_per_request"] = round(1000 * server / completed, 3)
    phase["postgres_cpu_pct_of_one_core"] = round(100 * postgres / wall, 1)
    phase["postgres_cpu_ms_per_request"] = round(1000 * postgres / completed, 3)
    phase["machine_busy_pct"] = round(100 * busy_ticks / total_ticks, 1)
    phase["other_cpu_pct_of_machine"] = round(100 * other / (wall * cores), 1)
    if first["db"] and last["db"]:
        phase["db_per_request"] = {
            key: round((last["db"][key] - first["db"][key]) / completed, 2) for key in first["db"]
        }
    return phase


def cpu_reference_ms() -> float:
    """Best of three timings of a fixed pure-Python loop: how fast this CPU is right now.

    Shared and virtual machines vary; comparing this number between runs tells whether a
    difference came from the code or from the machine.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


class Canary:
    """`loadgen.py canary` running beside a phase: the CPU's speed under that phase's load,
    in the units of `cpu_reference_ms` (the median, scaled to the reference loop)."""

    def __init__(self) -> None:
        self.reading = 0.0
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by __exit__
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Canary:
        self._process = subprocess.Popen(
            [sys.executable, str(BENCH / "loadgen.py"), "canary"],
            stdout=self._file,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._file.seek(0)
        values = sorted(float(v) for v in self._file.read().split() if v)
        self._file.close()
        if values:
            # The canary loop is a third of the reference loop.
            self.reading = round(values[len(values) // 2] * 3, 2)


def background_busy_pct(probe: Callable[[], dict[str, Any]], seconds: float = 1.0) -> float:
    """CPU used by unrelated processes, in % of the machine, while the benchmark is idle."""
    before = probe()
    time.sleep(seconds)
    after = probe()
    busy_s = (after["machine_busy"] - before["machine_busy"]) / TICKS
    ours = (after["server_cpu_s"] - before["server_cpu_s"]) + (
        after["postgres_cpu_s"] - before["postgres_cpu_s"]
    )
    total_s = (after["machine_total"] - before["machine_total"]) / TICKS
    return round(100 * max(0.0, busy_s - ours) / (total_s or 1), 1)


# --- processes -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                # start_new_session made this group ours: the master and its workers only.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def tracebacks(self) -> int:
        try:
            return self.log.read_text(errors="replace").count("Traceback")
        except OSError:
            return 0


def start_server(
    *, name: str, command: list[str], port: int, env: dict[str, str], log: Path, health: str
) -> Server:
    """Start `command` in its own session, logging to `log`; return once `health` answers."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name=name, process=process, port=port, log=log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail(log)}")
        if health == "tcp":
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return server
        else:
            with contextlib.suppress(urllib.error.URLError, OSError):
                url = f"http://127.0.0.1:{port}{health}"
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- databases -----------------------------------------------------------------------------
@dataclass
class Database:
    kind: str  # "sqlite" or "postgresql"
    data_dir: Path
    admin_url: str = ""
    name: str = ""
    _stats_connection: Any = field(default=None, repr=False)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "pressrun.sqlite3"

    def web_threads(self, requested: int | None) -> int:
        """Threads per web process: as asked, else what `pressrun serve` itself defaults to on
        this database (PRESSRUN_WEB_THREADS: 1 on SQLite, the loop's own, 2 on PostgreSQL)."""
        if requested is not None:
            return requested
        return webfront.default_threads(postgresql=self.kind == "postgresql")

    def web_processes(self, requested: int | None) -> int:
        """Web processes: as asked, else what `pressrun serve` itself defaults to on this
        database (PRESSRUN_WEB_PROCESSES: 2 on SQLite, 2 per core on PostgreSQL)."""
        if requested is not None:
            return requested
        return webfront.default_processes(postgresql=self.kind == "postgresql")

    @property
    def url(self) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + self.name))

    @property
    def baseline_url(self) -> str:
        return f"sqlite:///{self.sqlite_path}" if self.kind == "sqlite" else self.url

    def create(self) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.name}"')

    def close_stats(self) -> None:
        if self._stats_connection is not None:
            self._stats_connection.close()
            self._stats_connection = None

    def drop(self) -> None:
        self.close_stats()
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self) -> Any:
        if self.kind == "sqlite":
            return sqlite3.connect(self.sqlite_path, timeout=60, isolation_level=None)
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def counters(self) -> dict[str, int]:
        """PostgreSQL's counters for the benchmark database (transactions, rows...)."""
        if self.kind != "postgresql":
            return {}
        if self._stats_connection is None:
            self._stats_connection = self.connect()
        row = self._stats_connection.execute(
            "SELECT pg_stat_clear_snapshot(), xact_commit, xact_rollback, tup_returned, "
            "tup_fetched, tup_inserted, tup_updated, blks_read, blks_hit "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        keys = (
            "xact_commit",
            "xact_rollback",
            "tup_returned",
            "tup_fetched",
            "tup_inserted",
            "tup_updated",
            "blks_read",
            "blks_hit",
        )
        return dict(zip(keys, row[1:], strict=True))

    def scalar(self, sql: str) -> Any:
        connection = self.connect()
        try:
            return connection.execute(sql).fetchone()[0]
        finally:
            connection.close()


def postgres_unavailable(url: str) -> str:
    """'' when PostgreSQL answers at `url`, else why not."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return ""
    except Exception as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__


# --- the bulk fill -------------------------------------------------------------------------
def _order_rows(
    kind: str, first_id: int, count: int, publisher_id: int, projects: list[tuple[int, str]]
) -> Iterator[tuple[Any, ...]]:
    """(id, *ORDER_COLUMNS) rows; a mix of statuses like a live account's history."""
    sqlite = kind == "sqlite"
    null = None if sqlite else "\\N"
    no = 0 if sqlite else "f"
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=30 * count)
    shipping = "1.25"
    for i in range(count):
        created = start + timedelta(seconds=30 * i)
        stamp = created.strftime("%Y-%m-%d %H:%M:%S") + ("" if sqlite else "+00")
        _, price = projects[i % len(projects)]
        total = f"{float(price) + 1.25:.2f}"
        kind_of = i % 20
        mode, status, state, charged, error, ship_date, tracking = (
            "prod",
            "PROCESSING",
            "ready",
            stamp,
            "",
            null,
            "",
        )
        if kind_of == 0:
            status, state, charged = "HOLD", "", null
        elif kind_of == 1:
            status, state = "ERROR", "address_error"
            error = "Street not found; please confirm the address."
        elif kind_of == 2:
            mode, status, state, charged = "test", "TEST", "", null
        elif kind_of < 10:
            status, state = "SHIPPED", "shipped"
            ship_date = (created + timedelta(days=1)).strftime("%Y-%m-%d")
            tracking = f"9400{i:018d}"
        yield (
            first_id + i,
            publisher_id,
            mode,
            status,
            f"BULK{i:07d}",
            "gateway",
            "",
            f"customer{i}@example.com",
            f"Customer {i}",
            "",
            f"{i % 9999 + 1} Main Street",
            "Austin",
            "TX",
            "78701",
            "US",
            "standard",
            "standard",
            "",
            null,
            no,
            null,
            price,
            shipping,
            total,
            charged,
            error,
            ship_date,
            tracking,
            stamp,
            stamp,
            f"bulk-{first_id + i}",  # customer_token: unique, never used by the benchmark
            "",  # store
            state,
            stamp if state else null,  # fulfillment_updated_at
            "USPS" if state == "shipped" else "",
            "",
            "",  # address_check_note
        )


def _line_rows(
    kind: str, first_id: int, first_line_id: int, count: int, projects: list[tuple[int, str]]
) -> Iterator[tuple[Any, ...]]:
    """(id, *LINE_COLUMNS) rows, one line per filled order."""
    suffix = "" if kind == "sqlite" else "+00"
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=30 * count)
    for i in range(count):
        project_id, price = projects[i % len(projects)]
        stamp = (start + timedelta(seconds=30 * i)).strftime("%Y-%m-%d %H:%M:%S") + suffix
        mode = "test" if i % 20 == 2 else "prod"
        yield (
            first_line_id + i,
            first_id + i,
            project_id,
            1,
            1,
            price,
            mode,
            f"BULK{i:07d}",
            "",
            stamp,
        )


def fill(database: Database, publisher_id: int, count: int) -> dict[str, Any]:
    """Insert `count` orders (one line each) for the publisher, as fast as the driver allows.

    The tables' secondary indexes are dropped first and created again afterwards (a sort is
    much faster than a million B-tree inserts); the schema ends exactly as migrated.
    """
    started = time.perf_counter()
    tables = ("orders_order", "orders_orderline")
    order_columns = ("id", *ORDER_COLUMNS)
    line_columns = ("id", *LINE_COLUMNS)
    connection = database.connect()
    try:
        projects = [
            (int(pid), f"{float(price):.2f}")
            for pid, price in connection.execute(
                "SELECT id, price FROM catalog_project ORDER BY id"
            ).fetchall()
        ]
        first_id = (
            int(connection.execute("SELECT COALESCE(MAX(id), 0) FROM orders_order").fetchone()[0])
            + 1
        )
        first_line_id = (
            int(
                connection.execute("SELECT COALESCE(MAX(id), 0) FROM orders_orderline").fetchone()[
                    0
                ]
            )
            + 1
        )
        orders = _order_rows(database.kind, first_id, count, publisher_id, projects)
        lines = _line_rows(database.kind, first_id, first_line_id, count, projects)
        if database.kind == "sqlite":
            indexes = connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN {tables}"
            ).fetchall()
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA cache_size=-524288")
            connection.execute("BEGIN IMMEDIATE")
            for name, _ in indexes:
                connection.execute(f'DROP INDEX "{name}"')
            marks = ", ".join("?" * len(order_columns))
            connection.executemany(
                f"INSERT INTO orders_order ({', '.join(order_columns)}) VALUES ({marks})", orders
            )
            inserted = time.perf_counter()
            marks = ", ".join("?" * len(line_columns))
            connection.executemany(
                f"INSERT INTO orders_orderline ({', '.join(line_columns)}) VALUES ({marks})",
                lines,
            )
            lines_done = time.perf_counter()
            for _, sql in indexes:
                connection.execute(sql)
            connection.execute("COMMIT")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            index_names = [name for name, _ in indexes]
        else:
            connection.autocommit = False
            connection.execute("SET session_replication_role = replica")  # no FK triggers
            connection.execute("SET maintenance_work_mem = '512MB'")
            indexes = connection.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
                "current_schema() AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM "
                "pg_constraint c WHERE c.conname = i.indexname)",
                [list(tables)],
            ).fetchall()
            for name, _ in indexes:
                connection.execute(f'DROP INDEX "{name}"')
            with connection.cursor() as cursor:
                for table, columns, rows in (
                    ("orders_order", order_columns, orders),
                    ("orders_orderline", line_columns, lines),
                ):
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        buffer = []
                        for row in rows:
                            buffer.append("\t".join(map(str, row)))
                            if len(buffer) >= FILL_CHUNK:
                                copy.write("\n".join(buffer) + "\n")
                                buffer.clear()
                        if buffer:
                            copy.write("\n".join(buffer) + "\n")
                    if table == "orders_order":
                        inserted = time.perf_counter()
            lines_done = time.perf_counter()
            for _, sql in indexes:
                connection.execute(sql)
            for table in tables:
                connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
            connection.commit()
            connection.autocommit = True
            connection.execute("VACUUM ANALYZE orders_order")
            connection.execute("VACUUM ANALYZE orders_orderline")
            index_names = [name for name, _ in indexes]
        total_orders = int(connection.execute("SELECT COUNT(*) FROM orders_order").fetchone()[0])
    finally:
        connection.close()
    finished = time.perf_counter()
    return {
        "orders_inserted": count,
        "orders_in_table": total_orders,
        "seconds": round(finished - started, 1),
        "orders_seconds": round(inserted - started, 1),
        "lines_seconds": round(lines_done - inserted, 1),
        "indexes_and_finish_seconds": round(finished - lines_done, 1),
        "indexes_rebuilt": sorted(index_names),
    }


# --- one database's run --------------------------------------------------------------------
def base_environment(data_dir: Path, settings_module: str = "") -> dict[str, str]:
    # Nothing from the caller's own pressrun settings leaks into the benchmark installation.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PRESSRUN_", "BENCH_")) and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        {
            "PRESSRUN_DATA_DIR": str(data_dir),
            "PRESSRUN_SECRET_KEY": SECRET_KEY,
            "PYTHONUNBUFFERED": "1",
            # The webhook burst is one publisher's, as many deliveries as asked for: the
            # service is measured with its rate-limit count taken, never with its refusals.
            "PRESSRUN_CART_DELIVERIES_PER_MINUTE": "1000000",
            # Likewise the postage phase: one station posts its ShipNotices as fast as the
            # service answers them (some 50 to 80 a second, over the default 1,200 a minute).
            "PRESSRUN_WAREHOUSE_REQUESTS_PER_MINUTE": "1000000",
        }
    )
    if settings_module:
        # A what-if: pressrun with a settings variant kept in bench/ (src/ is not touched).
        env["DJANGO_SETTINGS_MODULE"] = settings_module
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH), env.get("PYTHONPATH")]))
    return env


@dataclass
class Installation:
    database: Database
    env: dict[str, str]
    options: argparse.Namespace
    publisher_id: int = 0
    project_ids: tuple[int, ...] = ()

    def pressrun(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [str(PRESSRUN), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`pressrun {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout.strip()

    def setup(self) -> None:
        self.pressrun("migrate", "--no-input", "-v", "0")
        self.publisher_id = int(
            self.pressrun("createpublisher", "--email", EMAIL, "--password", PASSWORD)
        )
        ids = []
        for title, media, packaging, price, project_id in PROJECTS:
            args = ["createproject", "--publisher", str(self.publisher_id), "--title", title]
            args += ["--media", media, "--packaging", packaging, "--price", price]
            args += ["--project-id", str(project_id)]
            ids.append(int(self.pressrun(*args)))
        self.project_ids = tuple(ids)
        self.pressrun("addcredit", "--publisher", str(self.publisher_id), "--amount", CREDIT)

    def start(
        self, app: str, *, processes: int | None = None, env: dict[str, str] | None = None
    ) -> Server:
        """Start `app` ("pressrun" or "baseline") with the benchmark's processes and threads
        (or `processes`), pressrun with `env` added to its environment."""
        port = free_port()
        processes_text = str(processes or self.database.web_processes(self.options.processes))
        threads = str(self.database.web_threads(self.options.threads))
        log = self.database.data_dir / f"{app}.log"
        if app == "pressrun":
            command = [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)]
            command += ["--processes", processes_text, "--threads", threads]
            return start_server(
                name="pressrun serve",
                command=command,
                port=port,
                env={**self.env, **(env or {})},
                log=log,
                health="/health",
            )
        # The same server, processes and threads as `pressrun serve` (bench/baseline_server.py).
        command = [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(port)]
        command += ["--processes", processes_text, "--threads", threads]
        env = dict(
            self.env,
            BENCH_DATABASE=self.database.baseline_url,
            BENCH_PUBLISHER_ID=str(self.publisher_id),
        )
        return start_server(
            name="baseline server",
            command=command,
            port=port,
            env=env,
            log=log,
            health="/health",
        )


def _request_head(path: str, port: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
    ).encode()


def classify_submit(status: int, body: bytes) -> str | None:
    if status == 200 and b"[SUCCESS]" in body:
        return None
    at = body.find(b"ERRCODE#")
    return body[at : at + 14].decode() if at >= 0 else f"HTTP {status}"


def classify_status(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    found = body.count(b"<ErrorNum>0</ErrorNum>")
    if found == 100:
        return None
    for piece in body.split(b"<ErrorNum>")[1:]:
        number = piece.split(b"<", 1)[0].decode()
        if number != "0":
            return f"ErrorNum {number}"
    return f"{found} of 100 sections"


def submit_builder(port: int, project_ids: tuple[int, ...]) -> Callable[[int, int], bytes]:
    """Every request a new order with a unique invoice, rotating over the three projects."""
    token = uuid.uuid4().hex[:8]
    common = urlencode({**ORDER_FIELDS, "CoLoginEmail": EMAIL, "CoLoginPassword": PASSWORD})
    head = _request_head("/gateway/order", port)
    products = [str(pid) for pid in project_ids]

    def build(connection: int, sequence: int) -> bytes:
        body = (
            f"{common}&productid={products[sequence % len(products)]}"
            f"&Invoice={token}-{connection}-{sequence}"
        ).encode()
        return b"%s%d\r\n\r\n%s" % (head, len(body), body)

    return build


def status_builder(port: int, filled: int) -> Callable[[int, int], bytes]:
    """Requests for 100 random invoices among the filled orders (a prebuilt pool)."""
    rng = random.Random(42)
    head = _request_head("/gateway/status", port)
    pool = []
    for _ in range(STATUS_POOL):
        invoices = "[*|*]".join(f"BULK{i:07d}" for i in rng.sample(range(filled), 100))
        body = urlencode(
            {
                "function": "getOrderStatusByInvoice",
                "CoLoginEmail": EMAIL,
                "CoLoginPassword": PASSWORD,
                "Invoice": invoices,
            }
        ).encode()
        pool.append(b"%s%d\r\n\r\n%s" % (head, len(body), body))

    def build(connection: int, sequence: int) -> bytes:
        return pool[(connection * 131 + sequence) % len(pool)]

    return build


def phase_line(app: str, label: str, phase: dict[str, Any]) -> str:
    latency = phase["latency"]
    return (
        f"    {app:<9} {label:<16} {phase['ok_per_s']:>8.1f}/s  p50 {latency['p50_ms']:>7.2f} ms"
        f"  p99 {latency['p99_ms']:>7.2f} ms  err {phase['errors']:>3}"
        f"  server {phase['server_cpu_ms_per_request']:.2f} ms CPU/req"
        f"  client {phase['client_cpu_pct_of_one_core']:.0f}%"
        f"  others {phase['other_cpu_pct_of_machine']:.0f}%"
        f"  cpu-ref {phase['cpu_reference_ms']:.0f}/{phase['cpu_under_load_ms']:.0f} ms"
    )


@dataclass
class Measurement:
    """One server under one load: the fixed parts of a phase."""

    server: Server
    database: Database
    options: argparse.Namespace

    def run(
        self,
        *,
        build: Callable[[int, int], bytes],
        classify: Callable[[int, bytes], str | None],
        connections: int,
        duration_s: float,
        max_requests: int | None = None,
    ) -> dict[str, Any]:
        probe = make_probe(self.server.process.pid, self.database)
        background = background_busy_pct(probe)
        reference = cpu_reference_ms()
        with Canary() as canary:
            phase = derive(
                run_load(
                    host="127.0.0.1",
                    port=self.server.port,
                    build=build,
                    classify=classify,
                    connections=connections,
                    warmup_s=self.options.warmup,
                    duration_s=duration_s,
                    max_requests=max_requests,
                    probe=probe,
                )
            )
        phase["background_busy_pct_before"] = background
        phase["cpu_reference_ms"] = reference
        phase["cpu_under_load_ms"] = canary.reading
        if background > 15:
            say(
                f"    note: other processes used {background:.0f}% of the machine just before "
                "this phase; the numbers below may be lower than on a quiet machine"
            )
        return phase


def status_phases(
    installation: Installation, app: str, options: argparse.Namespace
) -> dict[str, Any]:
    """Sequential calls on one connection, then concurrent connections, for one server."""
    server = installation.start(app)
    try:
        measure = Measurement(server=server, database=installation.database, options=options)
        sequential = measure.run(
            build=status_builder(server.port, options.orders),
            classify=classify_status,
            connections=1,
            duration_s=options.sequential_cap,
            max_requests=options.status_calls,
        )
        say(phase_line(app, f"{sequential['completed']} sequential", sequential))
        concurrent = measure.run(
            build=status_builder(server.port, options.orders),
            classify=classify_status,
            connections=options.status_connections,
            duration_s=options.duration,
        )
        say(phase_line(app, f"{options.status_connections} conn", concurrent))
    finally:
        server.stop()
    return {
        "sequential": sequential,
        "concurrent": concurrent,
        "server_tracebacks": server.tracebacks(),
    }


# The what-if variants of the scaling phase: pressrun's environment for each.
WRITE_PATH_VARIANTS = {
    "pressrun": {"PRESSRUN_INTAKE_PREPARED_WRITES": "1"},
    "pressrun-orm-write": {"PRESSRUN_INTAKE_PREPARED_WRITES": "0"},
    # SQLite only: the web processes' orders written by one writer process.
    "pressrun-writer": {"PRESSRUN_SQLITE_WRITER": "1"},
}
SQLITE_ONLY_VARIANTS = {"pressrun-writer"}
_WRITER_STOPPED = re.compile(
    r"SQLite writer stopped: (\d+) orders in (\d+) transactions .*?write lock held ([\d.]+) s"
)


def writer_stats(log: Path, offset: int) -> dict[str, Any] | None:
    """What the SQLite writer of a server logging to `log` from `offset` on wrote, as it said
    when it stopped (`pressrun sqlitewriter`): its orders, transactions and the write lock's
    time per order, from BEGIN IMMEDIATE to COMMIT."""
    with log.open("rb") as text:
        text.seek(offset)
        found = _WRITER_STOPPED.findall(text.read().decode(errors="replace"))
    if not found:
        return None
    orders, transactions, seconds = (int(found[-1][0]), int(found[-1][1]), float(found[-1][2]))
    return {
        "orders": orders,
        "transactions": transactions,
        "orders_per_transaction": round(orders / transactions, 2) if transactions else 0.0,
        "write_lock_ms_per_order": round(1000 * seconds / orders, 4) if orders else None,
    }


def scaling_phases(
    installation: Installation, apps: list[str], options: argparse.Namespace
) -> dict[str, Any]:
    """SubmitProductOrder at one load with 1, 2, 4... web processes: whether throughput grows
    with processes, or one lock (SQLite's write lock) holds it where it is. pressrun runs with
    its intake write as configured and with the ORM inside the transaction (the what-if
    switch), the baseline beside them. The order of the variants alternates at every step and
    the whole sweep repeats `--scaling-rounds` times, so a machine that gets busier weighs on
    all alike; each cell reports the medians of its rounds."""
    variants = [
        name
        for name in WRITE_PATH_VARIANTS
        if "pressrun" in apps
        and (name not in SQLITE_ONLY_VARIANTS or installation.database.kind == "sqlite")
    ]
    variants += [app for app in apps if app != "pressrun"]
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {str(p): [] for p in options.scaling} for name in variants
    }
    step = 0
    for round_number in range(1, options.scaling_rounds + 1):
        for processes in options.scaling:
            order = variants if step % 2 == 0 else list(reversed(variants))
            step += 1
            for name in order:
                app = "pressrun" if name in WRITE_PATH_VARIANTS else name
                log = installation.database.data_dir / f"{app}.log"
                offset = log.stat().st_size if log.exists() else 0
                server = installation.start(
                    app, processes=processes, env=WRITE_PATH_VARIANTS.get(name)
                )
                try:
                    measure = Measurement(
                        server=server, database=installation.database, options=options
                    )
                    phase = measure.run(
                        build=submit_builder(server.port, installation.project_ids),
                        classify=classify_submit,
                        connections=options.scaling_connections,
                        duration_s=options.duration,
                    )
                finally:
                    server.stop()
                phase["server_tracebacks"] = server.tracebacks()
                written = writer_stats(server.log, offset) if name in SQLITE_ONLY_VARIANTS else None
                line = phase_line(name, f"{processes} proc r{round_number}", phase)
                if written is not None:
                    phase["sqlite_writer"] = written
                    line += (
                        f" | writer: lock {written['write_lock_ms_per_order']} ms an order, "
                        f"{written['orders_per_transaction']} a transaction"
                    )
                rounds[name][str(processes)].append(phase)
                say(line)
    return {
        name: {
            processes: {
                "ok_per_s": statistics.median(p["ok_per_s"] for p in phases),
                "latency": {
                    "p50_ms": statistics.median(p["latency"]["p50_ms"] for p in phases),
                    "p99_ms": statistics.median(p["latency"]["p99_ms"] for p in phases),
                },
                "server_cpu_ms_per_request": statistics.median(
                    p["server_cpu_ms_per_request"] for p in phases
                ),
                "errors": sum(p["errors"] for p in phases),
                "rounds": phases,
                **_writer_medians(phases),
            }
            for processes, phases in by_processes.items()
        }
        for name, by_processes in rounds.items()
    }


VOLUME_ROUNDS = 2


def volume_phases(
    installation: Installation, apps: list[str], options: argparse.Namespace, connections: int
) -> dict[str, Any]:
    """SubmitProductOrder with the filled table, alternating with the same load on a second
    installation set up as the first was (a new database, its tables almost empty), so that
    "cost flat with volume" compares phases minutes apart, not a phase at the run's start
    with one at its end: this machine's cores change speed over minutes (docs/performance.md,
    "nineteenth round"). The baseline runs once, on the filled table. Returns
    `submit_filled` and `submit_new`: app -> {"16": the first round, "16 r2": ...}."""
    database = installation.database
    fresh_dir = database.data_dir / "volume-new"
    fresh_dir.mkdir(exist_ok=True)
    fresh_database = Database(
        kind=database.kind,
        data_dir=fresh_dir,
        admin_url=database.admin_url,
        name=f"{database.name}_new",
    )
    env = base_environment(fresh_dir, options.settings)
    if database.kind == "postgresql":
        env["PRESSRUN_DATABASE_URL"] = fresh_database.url
    fresh = Installation(database=fresh_database, env=env, options=options)
    filled: dict[str, Any] = {"pressrun": {}}
    new: dict[str, Any] = {"pressrun": {}}
    fresh_database.create()
    try:
        fresh.setup()
        for round_number in range(1, VOLUME_ROUNDS + 1):
            key = str(connections) if round_number == 1 else f"{connections} r{round_number}"
            sides = [("filled", installation, filled), ("new", fresh, new)]
            for label, where, runs in sides if round_number % 2 else sides[::-1]:
                server = where.start("pressrun")
                try:
                    measure = Measurement(server=server, database=where.database, options=options)
                    phase = measure.run(
                        build=submit_builder(server.port, where.project_ids),
                        classify=classify_submit,
                        connections=connections,
                        duration_s=options.duration,
                    )
                finally:
                    server.stop()
                phase["server_tracebacks"] = server.tracebacks()
                runs["pressrun"][key] = phase
                say(phase_line("pressrun", f"{label} r{round_number}", phase))
    finally:
        fresh_database.drop()
        shutil.rmtree(fresh_dir, ignore_errors=True)
    for app in apps:
        if app == "pressrun":
            continue
        server = installation.start(app)
        try:
            measure = Measurement(server=server, database=database, options=options)
            phase = measure.run(
                build=submit_builder(server.port, installation.project_ids),
                classify=classify_submit,
                connections=connections,
                duration_s=options.duration,
            )
            say(phase_line(app, f"{connections} conn", phase))
        finally:
            server.stop()
        filled[app] = {str(connections): phase, "server_tracebacks": server.tracebacks()}
    return {"submit_filled": filled, "submit_new": new}


def _writer_medians(phases: list[dict[str, Any]]) -> dict[str, Any]:
    written = [p["sqlite_writer"] for p in phases if p.get("sqlite_writer")]
    if not written or any(w["write_lock_ms_per_order"] is None for w in written):
        return {}
    return {
        "sqlite_writer": {
            "write_lock_ms_per_order": statistics.median(
                w["write_lock_ms_per_order"] for w in written
            ),
            "orders_per_transaction": statistics.median(
                w["orders_per_transaction"] for w in written
            ),
        }
    }


def short_plan(plan: str) -> str:
    """The plan on one line, each step cut short (PostgreSQL repeats the 100 invoices)."""
    return " | ".join(
        line.strip()[:90] + ("..." if len(line.strip()) > 90 else "") for line in plan.splitlines()
    )


def explain_status(database: Database, publisher_id: int, filled: int) -> str:
    """The plan of the status select (the SQL Django generates, 100 invoices)."""
    invoices = [f"BULK{i:07d}" for i in random.Random(1).sample(range(filled), 100)]
    columns = "id, invoice, mode, status, name, error_description, ship_date, shipping_method"
    mark = "?" if database.kind == "sqlite" else "%s"
    sql = (
        f"SELECT {columns} FROM orders_order WHERE publisher_id = {mark} "
        f"AND invoice IN ({', '.join([mark] * len(invoices))}) ORDER BY id"
    )
    prefix = "EXPLAIN QUERY PLAN " if database.kind == "sqlite" else "EXPLAIN "
    connection = database.connect()
    try:
        rows = connection.execute(prefix + sql, [publisher_id, *invoices]).fetchall()
    finally:
        connection.close()
    return "\n".join(str(row[-1]) for row in rows)


def run_database(kind: str, options: argparse.Namespace, token: str) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"pressrun-bench-{kind}-"))
    database = Database(
        kind=kind,
        data_dir=data_dir,
        admin_url=options.postgres_url,
        name=f"pressrun_bench_{token}",
    )
    env = base_environment(data_dir, options.settings)
    if kind == "postgresql":
        env["PRESSRUN_DATABASE_URL"] = database.url
    installation = Installation(database=database, env=env, options=options)
    apps = ["pressrun"] if options.no_baseline else ["pressrun", "baseline"]
    result: dict[str, Any] = {"data_dir": str(data_dir)}
    if kind == "postgresql":
        result["database"] = database.name
        result["server_version"] = database_version(options.postgres_url)
    database.create()
    try:
        say(f"[{kind}] setting up (migrate, createpublisher, createproject x3, addcredit)")
        started = time.perf_counter()
        installation.setup()
        result["setup_seconds"] = round(time.perf_counter() - started, 1)
        result["publisher_id"] = installation.publisher_id
        result["project_ids"] = list(installation.project_ids)

        # First: the worker's batch then starts from an empty queue, not from the tasks of
        # every order the submit phases placed.
        if not (
            options.no_follow_ups
            or options.webhooks_only
            or options.postage_only
            or options.mixed_carts_only
        ):
            say(
                f"[{kind}] follow-ups: {options.follow_up_orders} orders placed, then "
                "`pressrun worker --batch` runs every task they queued"
            )
            result["follow_ups"] = follow_ups_phase(installation, options)
            if options.follow_ups_only:
                return result
        if not options.no_webhooks and not options.postage_only:
            say(
                f"[{kind}] Shopify webhook burst: {options.webhook_deliveries} deliveries at "
                f"{options.webhook_connections} connections, server + worker"
            )
            result["webhook_burst"] = webhook_burst.measure(installation, apps, options, say)
        if mixed_carts.wanted(options):
            say(f"[{kind}] mixed cart orders: Shopify orders for projects and a pushing warehouse")
            result["mixed_carts"] = mixed_carts.measure(installation, apps, options, say)
            if options.mixed_carts_only:
                return result
        if options.webhooks_only:
            return result

        if not options.no_postage:
            say(
                f"[{kind}] postage: {options.postage_orders:,} ready orders, Custom Store export "
                f"and shipnotify at {options.postage_connections} connections"
            )
            unwarmed = argparse.Namespace(**{**vars(options), "warmup": 0.0})
            result["postage"] = postage.measure(
                installation,
                options,
                say,
                lambda server: Measurement(server=server, database=database, options=unwarmed),
            )
        if options.postage_only:
            return result

        say(f"[{kind}] SubmitProductOrder, {options.warmup:g} s warm-up + {options.duration:g} s")
        result["submit"] = {}
        for app in apps:
            server = installation.start(app)
            try:
                measure = Measurement(server=server, database=database, options=options)
                runs: dict[str, Any] = {}
                for connections in options.connections:
                    phase = measure.run(
                        build=submit_builder(server.port, installation.project_ids),
                        classify=classify_submit,
                        connections=connections,
                        duration_s=options.duration,
                    )
                    runs[str(connections)] = phase
                    say(phase_line(app, f"{connections} conn", phase))
            finally:
                server.stop()
            runs["server_tracebacks"] = server.tracebacks()
            result["submit"][app] = runs

        if options.scaling:
            say(
                f"[{kind}] scaling: SubmitProductOrder at {options.scaling_connections} "
                f"connections with {', '.join(map(str, options.scaling))} web processes "
                f"({database.web_threads(options.threads)} threads each); intake's write both "
                "ways, interleaved"
            )
            result["scaling"] = scaling_phases(installation, apps, options)

        say(f"[{kind}] filling {options.orders:,} orders (bulk SQL)")
        result["fill"] = fill(database, installation.publisher_id, options.orders)
        say(
            f"    {result['fill']['orders_in_table']:,} orders in the table; fill took "
            f"{result['fill']['seconds']} s"
        )
        result["status_plan"] = explain_status(database, installation.publisher_id, options.orders)
        say(f"    status select plan: {short_plan(result['status_plan'])}")

        say(f"[{kind}] getOrderStatusByInvoice with 100 invoices")
        # Metering keeps one counter row per publisher and hour (billing.StatusCallHour).
        calls_before = database.scalar("SELECT COALESCE(SUM(calls), 0) FROM billing_statuscallhour")
        result["status"] = {app: status_phases(installation, app, options) for app in apps}
        result["status_calls_metered"] = {
            "before": calls_before,
            "after": database.scalar("SELECT COALESCE(SUM(calls), 0) FROM billing_statuscallhour"),
            "charged": database.scalar(
                "SELECT COALESCE(SUM(charged), 0) FROM billing_statuscallhour"
            ),
        }

        if not options.no_submit_filled:
            connections = 16 if 16 in options.connections else options.connections[-1]
            say(
                f"[{kind}] SubmitProductOrder again, {connections} connections, with "
                f"{result['fill']['orders_in_table']:,} orders in the table, alternating "
                f"{VOLUME_ROUNDS} times with a new installation's almost empty one"
            )
            result.update(volume_phases(installation, apps, options, connections))

        say(f"[{kind}] census: queries per call and in-process step timings")
        result["census"] = census(installation, options)
        if kind == "sqlite":
            say(f"[{kind}] lock floor: an order's statements replayed by sqlite3 alone")
            result["lock_floor"] = lock_floor(installation, options)

        if kind == "sqlite" and not options.no_analyze:
            # Not pressrun's configuration: what the status call costs once SQLite has table
            # statistics (PRAGMA optimize / ANALYZE), the first fix docs/performance.md proposes.
            say(f"[{kind}] what-if: the same status calls after ANALYZE (planner statistics)")
            connection = database.connect()
            try:
                connection.execute("ANALYZE")
            finally:
                connection.close()
            result["status_plan_after_analyze"] = explain_status(
                database, installation.publisher_id, options.orders
            )
            say(f"    status select plan: {short_plan(result['status_plan_after_analyze'])}")
            result["status_after_analyze"] = {
                app: status_phases(installation, app, options) for app in apps
            }
    finally:
        if options.keep:
            # The database too, so the in-process scripts (census, status_steps) can be run
            # against it again: drop it by hand when done.
            database.close_stats()
            kept = f" and the database {database.url}" if kind == "postgresql" else ""
            say(f"[{kind}] kept {data_dir}{kept}")
        else:
            database.drop()
            shutil.rmtree(data_dir, ignore_errors=True)
    return result


def follow_ups_phase(installation: Installation, options: argparse.Namespace) -> dict[str, Any]:
    """bench/follow_ups.py: the orders placed through `pressrun serve` at 16 connections,
    every request counted (no warm-up)."""
    database = installation.database
    unwarmed = argparse.Namespace(**{**vars(options), "warmup": 0.0})

    def place_orders(count: int) -> dict[str, Any]:
        server = installation.start("pressrun")
        try:
            measure = Measurement(server=server, database=database, options=unwarmed)
            return measure.run(
                build=submit_builder(server.port, installation.project_ids),
                classify=classify_submit,
                connections=16,
                duration_s=600.0,
                max_requests=count,
            )
        finally:
            server.stop()

    def postgres_cpu() -> dict[int, float]:
        if database.kind != "postgresql":
            return {}
        return _our_postgres_backends(_proc_stats(), database.name, clients_only=True)

    return follow_ups.measure(installation, options, say, place_orders, postgres_cpu)


def database_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        return str(connection.execute("SHOW server_version").fetchone()[0])


def census(installation: Installation, options: argparse.Namespace) -> dict[str, Any]:
    env = dict(
        installation.env,
        BENCH_CENSUS_ROUNDS=str(options.census_rounds),
        BENCH_CENSUS_STATUS_ROUNDS=str(options.census_status_rounds),
    )
    arguments = [EMAIL, PASSWORD, str(installation.project_ids[0])]
    arguments += [f"census{uuid.uuid4().hex[:8]}", str(options.orders)]
    # census.py's report is its output's last line.
    return script_report("census.py", arguments, env, last_line=True)


def script_report(
    script: str, arguments: list[str], env: dict[str, str], *, last_line: bool = False
) -> dict[str, Any]:
    """Run a measuring script of this folder on an installation and read its JSON report
    (the whole output, or its last line); what went wrong, as `{"error": …}`, when it failed,
    took over 30 minutes or printed no report, so one failed measure leaves the run's other
    figures standing."""
    try:
        result = subprocess.run(
            [sys.executable, str(BENCH / script), *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": "did not finish within 30 minutes"}
    if result.returncode != 0:
        return {"error": (result.stderr or result.stdout)[-3000:] or f"exit {result.returncode}"}
    lines = result.stdout.strip().splitlines()
    try:
        data: dict[str, Any] = json.loads(lines[-1] if last_line and lines else result.stdout)
    except json.JSONDecodeError:
        return {"error": f"not a report: {result.stdout[-3000:]!r}"}
    return data


# Client processes in lock_floor.py's comparison of a writer process of its own with each
# process writing its own orders (the replay's statements, no Python between them).
WRITER_CLIENTS = "1,2,4"


def lock_floor(installation: Installation, options: argparse.Namespace) -> dict[str, Any]:
    """bench/lock_floor.py on this installation: how long SQLite alone holds its write lock
    for an order's statements, one and several orders per transaction, beside order_place;
    and what one writer process grouping the orders of 1, 2 and 4 client processes would
    give and cost against each client writing its own."""
    arguments = ["--orders", str(options.lock_floor_orders), "--rounds", "2"]
    arguments += ["--product", str(installation.project_ids[0]), "--writer-clients", WRITER_CLIENTS]
    return script_report("lock_floor.py", arguments, installation.env)


def calibrate_client(options: argparse.Namespace) -> dict[str, Any]:
    """The client against a server that answers instantly: the client's own ceiling."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="pressrun-bench-null-", suffix=".log")[1])
    command = [sys.executable, str(BENCH / "loadgen.py"), "null-server", "--port", str(port)]
    server = start_server(
        name="null server",
        command=command,
        port=port,
        env=dict(os.environ),
        log=log,
        health="tcp",
    )
    try:
        phase = run_load(
            host="127.0.0.1",
            port=port,
            build=submit_builder(port, (66750, 66760, 66770)),
            classify=classify_submit,
            connections=16,
            warmup_s=min(options.warmup, 1.0),
            duration_s=min(options.duration, 3.0),
            probe=make_probe(server.process.pid, Database(kind="none", data_dir=Path())),
        )
    finally:
        server.stop()
        log.unlink(missing_ok=True)
    return derive(phase)


# --- report --------------------------------------------------------------------------------
def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sqlite = results["databases"].get("sqlite", {})
    submit = sqlite.get("submit", {}).get("pressrun", {}).get("16")
    if submit:
        rate, p99 = submit["ok_per_s"], submit["latency"]["p99_ms"]
        rows.append(
            {
                "target": f"SQLite: >= {TARGET_ORDERS_PER_S} accepted orders/s at 16 connections",
                "measured": f"{rate:.0f}/s",
                "met": rate >= TARGET_ORDERS_PER_S,
                "gap": f"{rate / TARGET_ORDERS_PER_S:.0%} of target",
            }
        )
        rows.append(
            {
                "target": f"SQLite: submit p99 <= {TARGET_SUBMIT_P99_MS} ms at 16 connections",
                "measured": f"{p99:.1f} ms",
                "met": p99 <= TARGET_SUBMIT_P99_MS,
                "gap": f"{p99 / TARGET_SUBMIT_P99_MS:.1f}x the limit",
            }
        )
        cpu = submit["server_cpu_ms_per_request"]
        rows.append(
            {
                "target": f"SQLite: server CPU per order <= {TARGET_SUBMIT_CPU_MS} ms "
                "at 16 connections",
                "measured": f"{cpu:.2f} ms",
                "met": cpu <= TARGET_SUBMIT_CPU_MS,
                "gap": f"{cpu / TARGET_SUBMIT_CPU_MS:.1f}x the limit",
            }
        )
    write_path = sqlite.get("census", {}).get("write_path", {})
    lock = write_path.get("prepared statements", {})
    if "write_lock_ms_per_order" in lock:
        held = lock["write_lock_ms_per_order"]
        grouped = {
            threads: numbers["write_lock_ms_per_order"]
            for threads, numbers in write_path.get("group_commit", {}).items()
            if isinstance(numbers, dict)
        }
        # The measure: per order, amortized over a group (the least of the thread
        # counts tried), beside one order per transaction.
        best = min(grouped.items(), key=lambda item: item[1], default=None)
        amortized = best[1] if best is not None and best[1] < held else held
        floor = sqlite.get("lock_floor", {}).get("replay_write_lock_ms", {})
        # What the replay's writer process held it for, per number of client processes (a
        # what-if: pressrun has no writer process).
        through_writer = {
            clients.split()[0]: modes["one writer process"]["write_lock_ms_per_order"]
            for clients, modes in sqlite.get("lock_floor", {}).get("writer_process", {}).items()
        }
        # What pressrun's own writer process held it for, served (PRESSRUN_SQLITE_WRITER),
        # by web processes: groups form once several processes send orders together.
        served_writer = {
            processes: phase["sqlite_writer"]["write_lock_ms_per_order"]
            for processes, phase in sqlite.get("scaling", {}).get("pressrun-writer", {}).items()
            if phase.get("sqlite_writer")
        }
        best_writer = min(served_writer.items(), key=lambda item: item[1], default=None)
        by_writer = best_writer is not None and best_writer[1] < amortized
        measured = min(amortized, best_writer[1]) if best_writer else amortized
        rows.append(
            {
                "target": f"SQLite: write lock held <= {TARGET_WRITE_LOCK_MS} ms per order "
                "(census, amortized over a group)",
                "measured": (
                    f"{measured:.3f} ms (the writer process, PRESSRUN_SQLITE_WRITER, served "
                    f"with {best_writer[0]} web processes); in-process "
                    if by_writer and best_writer
                    else ""
                )
                + f"{amortized:.3f} ms"
                + (
                    f" ({best[0]}, grouped; {held:.3f} ms one order per transaction)"
                    if amortized != held and best
                    else ""
                )
                + (
                    "; SQLite alone "
                    + ", ".join(f"{ms:.3f} ({group})" for group, ms in floor.items())
                    if floor
                    else ""
                )
                + (
                    "; the replay through a writer process "
                    + ", ".join(f"{ms:.3f} ({n} processes)" for n, ms in through_writer.items())
                    if through_writer
                    else ""
                )
                + (
                    "; the served writer process "
                    + ", ".join(f"{ms:.3f} ({n} processes)" for n, ms in served_writer.items())
                    if served_writer
                    else ""
                ),
                "met": measured <= TARGET_WRITE_LOCK_MS,
                "gap": f"{measured / TARGET_WRITE_LOCK_MS:.1f}x the limit",
            }
        )
    postgres = results["databases"].get("postgresql", {})
    submit = postgres.get("submit", {}).get("pressrun", {}).get("16")
    if submit:
        rate = submit["ok_per_s"]
        rows.append(
            {
                "target": f"PostgreSQL: >= {TARGET_POSTGRES_ORDERS_PER_S} accepted orders/s at "
                "16 connections",
                "measured": f"{rate:.0f}/s",
                "met": rate >= TARGET_POSTGRES_ORDERS_PER_S,
                "gap": f"{rate / TARGET_POSTGRES_ORDERS_PER_S:.0%} of target",
            }
        )
    for kind, data in results["databases"].items():
        status = data.get("status", {}).get("pressrun", {}).get("sequential")
        if not status:
            continue
        p50 = status["latency"]["p50_ms"]
        filled = data["fill"]["orders_in_table"]
        note = "" if filled >= TARGET_STATUS_ORDERS else f" (only {filled:,} orders: smoke run)"
        gap = f"{p50 / TARGET_STATUS_P50_MS:.1f}x the limit"
        analyzed = data.get("status_after_analyze", {}).get("pressrun", {}).get("sequential")
        if analyzed:
            gap += f"; {analyzed['latency']['p50_ms']:.2f} ms after ANALYZE"
        rows.append(
            {
                "target": f"{kind}: 100-invoice status p50 <= {TARGET_STATUS_P50_MS} ms at 1M "
                f"orders{note}",
                "measured": f"{p50:.2f} ms",
                "met": p50 <= TARGET_STATUS_P50_MS,
                "gap": gap,
            }
        )
        cpu = status["server_cpu_ms_per_request"]
        database_cpu = status.get("postgres_cpu_ms_per_request")
        rows.append(
            {
                "target": f"{kind}: 100-invoice status server CPU <= {TARGET_STATUS_CPU_MS} ms "
                "a call",
                "measured": f"{cpu:.2f} ms"
                + (f" (+ {database_cpu:.2f} ms in PostgreSQL)" if database_cpu else ""),
                "met": cpu <= TARGET_STATUS_CPU_MS,
                "gap": f"{cpu / TARGET_STATUS_CPU_MS:.1f}x the limit",
            }
        )
    for kind, data in results["databases"].items():
        filled_runs = _phases_at(data.get("submit_filled", {}).get("pressrun", {}), "16")
        new_runs = _phases_at(data.get("submit_new", {}).get("pressrun", {}), "16")
        if not new_runs:
            # A run from before the alternating phases: the first submit phase stands for the
            # almost empty table.
            new_runs = _phases_at(data.get("submit", {}).get("pressrun", {}), "16")[:1]
        if not (filled_runs and new_runs):
            continue
        filled = data["fill"]["orders_in_table"]
        note = "" if filled >= TARGET_STATUS_ORDERS else f" (only {filled:,} orders: smoke run)"
        after = statistics.median(phase["ok_per_s"] for phase in filled_runs)
        before = statistics.median(phase["ok_per_s"] for phase in new_runs)
        spread = abs(after - before) / max(before, 1e-9)

        def listed(phases: list[dict[str, Any]]) -> str:
            return ", ".join(f"{phase['ok_per_s']:.0f}" for phase in phases)

        rows.append(
            {
                "target": f"{kind}: submit at 16 connections with {filled:,} orders in the table "
                f"within {TARGET_VOLUME_SPREAD:.0%} of an almost empty table{note}",
                "measured": f"{listed(filled_runs)}/s against {listed(new_runs)}/s"
                + (" (alternating; medians compared)" if len(new_runs) > 1 else ""),
                "met": spread <= TARGET_VOLUME_SPREAD,
                "gap": f"{spread:.0%} apart",
            }
        )
    rows.extend(webhook_burst.targets(results))
    rows.extend(mixed_carts.targets(results))
    return rows


def _phases_at(runs: dict[str, Any], connections: str) -> list[dict[str, Any]]:
    """The phases of `runs` (one app's) at `connections`: its first round, then the others
    ("16", "16 r2", ...)."""
    return [
        phase
        for name, phase in runs.items()
        if isinstance(phase, dict) and (name == connections or name.startswith(f"{connections} r"))
    ]


def _rows(data: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(call, app, load, phase) for every measured phase of one database."""
    for call, key in (
        ("submit", "submit"),
        ("submit@filled", "submit_filled"),
        ("submit@new", "submit_new"),
        ("status", "status"),
        ("status+ANALYZE", "status_after_analyze"),
    ):
        for app, runs in data.get(key, {}).items():
            for name, phase in runs.items():
                if not isinstance(phase, dict):
                    continue
                if name == "sequential":
                    load = f"{phase['completed']} sequential"
                else:
                    load = f"{phase['connections']} conn"
                    if " r" in name:
                        load += f" {name.split()[-1]}"
                yield call, app, load, phase


def print_report(results: dict[str, Any]) -> None:
    machine = results["machine"]
    say("")
    say("=" * 118)
    say(
        f"pressrun benchmark  {results['started_at']}  {machine['cores']} cores "
        f"{machine['cpu_model']}, {machine['ram_gib']} GiB, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}"
    )
    say(f"command: {results['command']}")
    source = results["pressrun_source"]
    say(f"pressrun source: src/ sha256 {source['src_sha256']}, newest file {source['newest_file']}")
    calibration = results["client_calibration"]
    say(
        f"client ceiling (16 connections against an instant server): "
        f"{calibration['ok_per_s']:.0f} req/s, {calibration['client_cpu_us_per_request']:.0f} "
        "us client CPU per request"
    )
    header = (
        f"  {'call':<14} {'app':<9} {'load':<15} {'ok/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'err':>4} {'srv ms/req':>10} {'db ms/req':>9} {'client':>6} {'others':>6} "
        f"{'cpu-ref':>9}"
    )
    for kind, data in results["databases"].items():
        say("-" * 118)
        if "skipped" in data:
            say(f"{kind}: SKIPPED - {data['skipped']}")
            continue
        if "error" in data:
            say(f"{kind}: FAILED - {data['error'][:500]}")
            continue
        filled = data.get("fill", {}).get("orders_in_table", 0)
        if "submit" in data:
            say(f"{kind} ({filled:,} orders in the table for the status calls)")
            say(header)
        else:
            say(kind)
        for call, app, load, phase in _rows(data):
            latency = phase["latency"]
            say(
                f"  {call:<14} {app:<9} {load:<15} {phase['ok_per_s']:>8.1f} "
                f"{latency['p50_ms']:>8.2f} {latency['p99_ms']:>8.2f} {phase['errors']:>4} "
                f"{phase['server_cpu_ms_per_request']:>10.2f} "
                f"{phase['postgres_cpu_ms_per_request']:>9.2f} "
                f"{phase['client_cpu_pct_of_one_core']:>5.0f}% "
                f"{phase['other_cpu_pct_of_machine']:>5.0f}% "
                f"{phase['cpu_reference_ms']:>4.0f}/{phase['cpu_under_load_ms']:<4.0f}"
            )
        follow = data.get("follow_ups")
        if follow:
            say(
                f"  follow-ups: {follow['orders']} orders left "
                f"{follow['tasks_per_order']} tasks an order; one batch worker ran them at "
                f"{follow['worker_cpu_ms_per_order']:.2f} ms CPU an order "
                f"({follow['worker_cpu_ms_per_task'] or 0:.2f} ms a task"
                + (
                    f", database {follow['database_cpu_ms_per_order']:.2f} ms an order"
                    if follow["database_cpu_ms_per_order"]
                    else ""
                )
                + f"), {follow['tasks_per_s']:.0f} tasks/s"
            )
        census_data = data.get("census", {})
        if "settings" in census_data:
            used = census_data["settings"]
            say(
                f"  pressrun ran with CONN_MAX_AGE={used['CONN_MAX_AGE']}, "
                f"CONN_HEALTH_CHECKS={used['CONN_HEALTH_CHECKS']}; orders migrations: "
                + ", ".join(m for m in census_data["migrations"] if m.startswith("orders."))
            )
        if "submit_queries" in census_data:
            say(
                f"  census: {len(census_data['submit_queries'])} SQL statements per order, "
                f"{len(census_data['status_queries'])} per status call; in-process "
                f"{census_data['submit_test_client_ms']:.2f} ms per order, "
                f"{census_data['status_test_client_ms']:.2f} ms per status call "
                "(single thread, no HTTP)"
            )
        write_path = census_data.get("write_path", {})
        for variant in ("prepared statements", "ORM in the transaction"):
            numbers = write_path.get(variant)
            if numbers and "write_lock_ms_per_order" in numbers:
                say(
                    f"  census write lock ({variant}): {numbers['write_lock_ms_per_order']:.3f} "
                    f"ms per order held (BEGIN IMMEDIATE to COMMIT), a ceiling of "
                    f"{numbers['lock_ceiling_orders_per_second']:,} orders/s; order_place "
                    f"{numbers['order_place_ms']:.3f} ms"
                )
        for threads, numbers in write_path.get("group_commit", {}).items():
            if isinstance(numbers, dict):
                say(
                    f"  census write lock (group commit, {threads}): "
                    f"{numbers['write_lock_ms_per_order']:.3f} ms per order held, "
                    f"{numbers['orders_per_transaction']:.2f} orders per transaction, "
                    f"{numbers['wall_ms_per_order']:.3f} ms per order in all"
                )
        relay = write_path.get("relay")
        if isinstance(relay, dict):
            lock_held = (
                f", {relay['write_lock_ms_per_order']:.3f} ms of the write lock"
                if "write_lock_ms_per_order" in relay
                else ""
            )
            say(
                f"  census: the worker's relay of the placed orders (their email and address "
                f"check queued): {relay['cpu_ms_per_order']:.3f} ms of CPU{lock_held} per order "
                f"({relay['orders']} orders)"
            )
        delivery = write_path.get("shopify_delivery")
        if isinstance(delivery, dict):
            say(
                "  census write lock (a Shopify delivery processed, one at a time): "
                f"{delivery['write_lock_ms_per_delivery']:.3f} ms per delivery held, "
                f"{delivery['ms_per_delivery']:.3f} ms per delivery in all "
                f"({delivery['orders_created']} of {delivery['deliveries']} made their order)"
            )
        if "smallest_write_transaction_ms" in write_path:
            say(
                "  census: a write transaction of one row costs "
                f"{write_path['smallest_write_transaction_ms']:.3f} ms (BEGIN, COMMIT and the "
                "lock hand-off alone)"
            )
        floor = data.get("lock_floor", {})
        if "replay_write_lock_ms" in floor:
            held = floor["replay_write_lock_ms"]
            frames = floor.get("log_frames_per_order", {})
            say(
                "  lock floor (the order's statements replayed by sqlite3, no Python between "
                "them): "
                + ", ".join(
                    f"{ms:.3f} ms per order at {group.split()[0]} per transaction "
                    f"({frames.get(group) or 0:.1f} log frames)"
                    for group, ms in held.items()
                )
                + f"; order_place {floor['order_place_write_lock_ms']:.3f} ms in the same minutes"
            )
            for clients, modes in floor.get("writer_process", {}).items():
                direct, writer = modes["each client writing"], modes["one writer process"]
                say(
                    f"  the replay by {clients.split()[0]} processes: each writing its own orders "
                    f"{direct['orders_per_s']:,}/s, lock {direct['write_lock_ms_per_order']:.3f}"
                    f" ms, CPU {direct['cpu_ms_per_order']:.3f} ms per order; through one "
                    f"writer process {writer['orders_per_s']:,}/s, lock "
                    f"{writer['write_lock_ms_per_order']:.3f} ms "
                    f"({writer['orders_per_transaction']:.1f} per transaction), CPU "
                    f"{writer['cpu_ms_per_order']:.3f} ms per order, the writer preempted "
                    f"{writer['writer_preempted_per_transaction']:.2f} times per transaction"
                )
        elif "error" in floor:
            last_lines = floor["error"].strip().splitlines() or ["(no output)"]
            say(f"  lock floor failed: {last_lines[-1]}")
        for app, runs in data.get("scaling", {}).items():
            say(
                f"  scaling {app:<19} "
                + "  ".join(
                    f"{processes} proc {phase['ok_per_s']:.0f}/s p99 "
                    f"{phase['latency']['p99_ms']:.0f} ms"
                    + (
                        f" (lock {phase['sqlite_writer']['write_lock_ms_per_order']:.3f} ms)"
                        if phase.get("sqlite_writer")
                        else ""
                    )
                    for processes, phase in runs.items()
                )
            )
        for line in postage.report_lines(data):
            say(line)
        for line in webhook_burst.report_lines(data):
            say(line)
        for line in mixed_carts.report_lines(data):
            say(line)
    say("-" * 118)
    say(
        "ok/s: accepted orders ([SUCCESS]) or complete status replies per second; srv/db ms/req: "
        "CPU of the server processes / of its PostgreSQL backends per request; client: the "
        "load generator's CPU in % of one core; others: CPU taken by unrelated processes in % "
        "of the machine; cpu-ref: a fixed Python loop's time before / during the phase (CPU time, "
        "lower = faster cores; this machine's cores vary by up to 2x over minutes)"
    )
    say("targets")
    for row in results["targets"]:
        verdict = "MET" if row["met"] else "MISSED"
        say(f"  {verdict:<7} {row['target']}: {row['measured']} ({row['gap']})")
    say("=" * 118)


# --- main ----------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="pressrun gateway benchmark (see docs/performance.md)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 20k orders, 3 s phases")
    parser.add_argument("--orders", type=int, help="orders to fill (default 1,000,000)")
    parser.add_argument("--duration", type=float, help="seconds measured per phase (10)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per phase (3)")
    parser.add_argument(
        "--connections",
        default="1,16,64",
        help="SubmitProductOrder concurrency levels, comma-separated (1,16,64)",
    )
    parser.add_argument("--status-calls", type=int, help="sequential status calls (1,000)")
    parser.add_argument("--status-connections", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PRESSRUN_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="server to create the benchmark database on (PRESSRUN_BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="web processes (default: pressrun serve's own, 2 on SQLite, 2 per core on PostgreSQL)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per process (default: pressrun serve's own, 1 on SQLite, 2 on PostgreSQL)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="measure pressrun only")
    parser.add_argument(
        "--settings",
        default="",
        metavar="MODULE",
        help="what-if: run pressrun with this settings module, looked up in bench/ first "
        "(e.g. one that does `from pressrun.settings import *` and changes one value)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary data dirs (and the PostgreSQL database)",
    )
    parser.add_argument(
        "--no-analyze", action="store_true", help="skip the SQLite after-ANALYZE status what-if"
    )
    parser.add_argument(
        "--no-submit-filled",
        action="store_true",
        help="skip SubmitProductOrder with the filled table (cost flat with volume)",
    )
    parser.add_argument(
        "--webhook-deliveries", type=int, help="Shopify deliveries in the burst (1000)"
    )
    parser.add_argument("--webhook-connections", type=int, default=32)
    parser.add_argument("--no-webhooks", action="store_true", help="skip the webhook burst")
    parser.add_argument(
        "--webhooks-only", action="store_true", help="only the webhook burst, no gateway phases"
    )
    parser.add_argument(
        "--postage-orders", type=int, help="ready orders exported and shipped (10,000)"
    )
    parser.add_argument("--postage-connections", type=int, default=16)
    parser.add_argument("--no-postage", action="store_true", help="skip the postage phase")
    parser.add_argument(
        "--follow-up-orders",
        type=int,
        help="orders whose follow-up tasks one batch worker runs (500)",
    )
    parser.add_argument(
        "--no-follow-ups", action="store_true", help="skip the follow-ups phase (the worker)"
    )
    parser.add_argument("--follow-ups-only", action="store_true", help="only the follow-ups phase")
    parser.add_argument(
        "--scaling",
        default="1,2,4",
        help="web process counts of the scaling phase (1,2,4; empty to skip it)",
    )
    parser.add_argument("--scaling-connections", type=int, default=16)
    parser.add_argument(
        "--scaling-rounds", type=int, default=1, help="sweeps of the scaling phase (1)"
    )
    parser.add_argument(
        "--postage-only", action="store_true", help="only the postage phase (no gateway phases)"
    )
    mixed_carts.add_arguments(parser)
    options = parser.parse_args()
    quick = options.quick
    defaults = {
        "orders": 20_000 if quick else 1_000_000,
        "duration": 3.0 if quick else 10.0,
        "warmup": 1.0 if quick else 3.0,
        # The sequential calls' server CPU is read in the kernel's 10 ms ticks, per process: 200
        # calls (about 0.3 s of CPU on fast cores) left it a few percent off, 1,000 do not.
        "status_calls": 50 if quick else 1000,
        "webhook_deliveries": 200 if quick else 1000,
        "postage_orders": 1000 if quick else 10_000,
        "follow_up_orders": 200 if quick else 500,
    }
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)
    options.census_rounds = 50 if quick else 300
    options.census_status_rounds = 10 if quick else 20
    options.lock_floor_orders = 600 if quick else 2000  # per round and side, a multiple of 200
    # The sequential status run stops after --status-calls calls or this many seconds.
    options.sequential_cap = 20.0 if quick else 60.0
    options.connections = [int(c) for c in options.connections.split(",") if c.strip()]
    options.scaling = [int(c) for c in options.scaling.split(",") if c.strip()]
    options.databases = [d.strip() for d in options.databases.split(",") if d.strip()]
    if options.orders < 100:
        parser.error("--orders must be at least 100 (each status call asks for 100 invoices)")
    unknown = set(options.databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    options.postgres_url = options.postgres_url.replace("postgres://", "postgresql://", 1)
    return options


def main() -> int:
    options = parse_args()
    started = datetime.now(UTC)
    token = uuid.uuid4().hex[:12]
    results: dict[str, Any] = {
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]]),
        "options": {k: v for k, v in vars(options).items() if k != "postgres_url"},
        "machine": machine_info(),
        "pressrun_source": source_fingerprint(),
        "databases": {},
    }
    processes = options.processes or (
        f"{webfront.default_processes(postgresql=False)} (SQLite) / "
        f"{webfront.default_processes(postgresql=True)} (PostgreSQL)"
    )
    threads = options.threads or (
        f"{webfront.default_threads(postgresql=False)} (SQLite) / "
        f"{webfront.default_threads(postgresql=True)} (PostgreSQL)"
    )
    say(f"pressrun benchmark: {processes} processes x {threads} threads")
    if options.settings:
        say(f"WHAT-IF RUN: pressrun uses the settings module {options.settings}, not its own")
    say("calibrating the client against an instant server")
    results["client_calibration"] = calibrate_client(options)
    calibration = results["client_calibration"]
    say(
        f"    {calibration['ok_per_s']:.0f} req/s, {calibration['client_cpu_us_per_request']:.0f}"
        " us client CPU per request"
    )
    failed = False
    for kind in options.databases:
        if kind == "postgresql":
            reason = postgres_unavailable(options.postgres_url)
            if reason:
                say(
                    f"[postgresql] SKIPPED: no PostgreSQL server answers at "
                    f"{urlsplit(options.postgres_url).netloc} ({reason}). Start one or set "
                    "PRESSRUN_BENCH_POSTGRES_URL."
                )
                results["databases"][kind] = {"skipped": reason}
                continue
        try:
            results["databases"][kind] = run_database(kind, options, token)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            failed = True
            say(f"[{kind}] FAILED: {exc}")
            results["databases"][kind] = {"error": str(exc)}
    results["targets"] = targets(results)
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print_report(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    suffix = ("-quick" if options.quick else "") + (
        f"-{options.settings}" if options.settings else ""
    )
    path = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}{suffix}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    say(f"raw results: {path.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
