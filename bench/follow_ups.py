"""The work an order leaves for `pressrun worker`, measured: `make bench`'s follow-ups phase.

The submit phases measure what answering an order costs the serving processes; they run no
worker, so the orders pile up unrelayed (`orders.relay`: the worker queues each order's
follow-ups, the customer's notification and the address check, then the email's sending).
On one machine the worker shares the cores with the web processes, so what a machine
sustains depends on both. This phase measures the worker's part:

1. `pressrun worker --batch` runs on the new installation's queue (empty: this phase comes
   first), twice: the second run's CPU is a batch worker's fixed cost (start, its first
   poll, the periodic tasks it schedules), subtracted below;
2. `--follow-up-orders` orders (500; 200 with `--quick`) are placed through `pressrun serve`
   at 16 connections, and the server is stopped;
3. `pressrun worker --batch` relays those orders, runs every task that queues and exits
   when nothing is left: its CPU (the process's own, from `wait4`; on PostgreSQL its
   backend's too) less the fixed cost, divided by the orders, is the worker's CPU an order,
   every task of its follow-ups included; the tasks it ran are counted by kind, a periodic
   sweep that came due meanwhile apart (its CPU is in the worker's: a few milliseconds).

Usage: by bench/run.py (`--no-follow-ups` skips it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

PRESSRUN = Path(sys.executable).parent / "pressrun"
WORKER_TIMEOUT_SECONDS = 900.0
FINISHED = ("SUCCESSFUL", "FAILED")


class Database(Protocol):
    kind: str
    name: str
    data_dir: Path

    def connect(self) -> Any: ...

    def scalar(self, sql: str) -> Any: ...


class Installation(Protocol):
    database: Database
    env: dict[str, str]


def _finished_tasks(database: Database) -> dict[str, int]:
    """Finished task rows by task path (their module's last two names); a task queued for a
    date (a periodic sweep that came due, a retry) under "scheduled: " and its path, apart
    from the orders' own tasks, which are queued without one."""
    connection = database.connect()
    try:
        rows = connection.execute(
            "SELECT task_path, run_after < '9000-01-01', COUNT(*) "
            "FROM django_tasks_database_dbtaskresult "
            f"WHERE status IN ('{FINISHED[0]}', '{FINISHED[1]}') GROUP BY 1, 2"
        ).fetchall()
    finally:
        connection.close()
    return {
        ("scheduled: " if dated else "") + ".".join(path.split(".")[-2:]): count
        for path, dated, count in rows
    }


def _batch_worker(
    installation: Installation, postgres_cpu: Callable[[], dict[int, float]]
) -> dict[str, float]:
    """`pressrun worker --batch` until it exits: its wall time and CPU seconds (its own and,
    on PostgreSQL, what the database's backends used meanwhile: sampled while they live,
    since a backend's account goes with it when the worker disconnects)."""
    log = installation.database.data_dir / "follow-ups-worker.log"
    backends_before = postgres_cpu()
    backends_seen: dict[int, float] = {}
    started = time.perf_counter()
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [str(PRESSRUN), "worker", "--batch"],
            env=installation.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
        while True:
            pid, status, usage = os.wait4(worker.pid, os.WNOHANG)
            backends_seen.update(postgres_cpu())
            if pid:
                break
            if time.monotonic() > deadline:
                worker.kill()
                raise RuntimeError("`pressrun worker --batch` did not finish its tasks in time")
            time.sleep(0.05)
    exit_code = os.waitstatus_to_exitcode(status)
    if exit_code != 0:
        raise RuntimeError(
            f"`pressrun worker --batch` exited {exit_code}:\n"
            f"{log.read_text(errors='replace')[-3000:]}"
        )
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "database_cpu_s": sum(
            cpu - backends_before.get(backend, 0.0) for backend, cpu in backends_seen.items()
        ),
    }


def measure(
    installation: Installation,
    options: argparse.Namespace,
    say: Callable[[str], None],
    place_orders: Callable[[int], dict[str, Any]],
    postgres_cpu: Callable[[], dict[int, float]],
) -> dict[str, Any]:
    """The phase (see the module's docstring). `place_orders(n)` places n orders through a
    running `pressrun serve` and returns the load phase; `postgres_cpu()` is the CPU seconds
    each live backend of the benchmark database has used so far, by process id (none on
    SQLite)."""
    database = installation.database
    _batch_worker(installation, postgres_cpu)  # the first start queues the periodic tasks
    fixed = _batch_worker(installation, postgres_cpu)
    finished_before = _finished_tasks(database)
    emails_before = database.scalar("SELECT COUNT(*) FROM notifications_outgoingemail")
    orders = options.follow_up_orders
    placed = place_orders(orders)
    if placed["ok"] != orders:
        raise RuntimeError(f"{placed['ok']} of {orders} orders were accepted: {placed}")
    run = _batch_worker(installation, postgres_cpu)
    finished_after = _finished_tasks(database)
    ran = {
        path: count - finished_before.get(path, 0)
        for path, count in sorted(finished_after.items())
        if count != finished_before.get(path, 0)
    }
    tasks = sum(count for path, count in ran.items() if not path.startswith("scheduled: "))
    worker_cpu = max(run["cpu_s"] - fixed["cpu_s"], 0.0)
    database_cpu = max(run["database_cpu_s"] - fixed["database_cpu_s"], 0.0)
    result = {
        "orders": orders,
        "placed": placed,
        "tasks_run": ran,
        "tasks_per_order": round(tasks / orders, 2),
        "emails_queued": database.scalar("SELECT COUNT(*) FROM notifications_outgoingemail")
        - emails_before,
        "batch_worker_fixed": {key: round(value, 3) for key, value in fixed.items()},
        "batch_worker": {key: round(value, 3) for key, value in run.items()},
        "worker_cpu_ms_per_order": round(worker_cpu / orders * 1000, 3),
        "worker_cpu_ms_per_task": round(worker_cpu / tasks * 1000, 3) if tasks else None,
        "database_cpu_ms_per_order": round(database_cpu / orders * 1000, 3),
        "tasks_per_s": round(tasks / max(run["wall_s"] - fixed["wall_s"], 1e-9), 1),
    }
    say(
        f"    {orders} orders' follow-ups: {tasks} tasks ({result['tasks_per_order']} an "
        f"order: {', '.join(f'{path} {count}' for path, count in ran.items())}), "
        f"{result['emails_queued']} emails queued; worker CPU "
        f"{result['worker_cpu_ms_per_order']} ms an order "
        f"({result['worker_cpu_ms_per_task']} ms a task)"
        + (
            f" + database {result['database_cpu_ms_per_order']} ms"
            if database.kind == "postgresql"
            else ""
        )
        + f", {result['tasks_per_s']} tasks/s"
    )
    return result
