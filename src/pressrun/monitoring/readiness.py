"""What /readyz checks: the database answers, every migration is applied, a worker is alive,
and no due task has waited too long for one. Each check is a read of a few rows at most, so
a probe every few seconds costs nothing; none writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from pressrun.monitoring.selectors import task_queue, workers


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


# Once every migration is seen applied, it stays so for this process: the migrations on disk
# do not change while it runs. Until then the plan is worked out on each probe (about 10 ms).
_migrations_seen_applied = False


def _check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # The exception's class only: its text may name the server and the user.
        return CheckResult("database", False, f"unreachable ({type(exc).__name__})")
    return CheckResult("database", True, "answers")


def _check_migrations() -> CheckResult:
    global _migrations_seen_applied  # noqa: PLW0603 - one fact per process, learned once
    if not _migrations_seen_applied:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            first = plan[0][0]
            return CheckResult(
                "migrations",
                False,
                f"{len(plan)} not applied (first: {first.app_label}.{first.name}); "
                "run `pressrun migrate`",
            )
        _migrations_seen_applied = True
    return CheckResult("migrations", True, "all applied")


def _check_worker(now: datetime) -> CheckResult:
    seen = workers(now=now)
    limit = settings.WORKER_DEAD_AFTER_SECONDS
    if seen.alive:
        return CheckResult("worker", True, f"{seen.alive} alive")
    if seen.last_heartbeat_age_seconds is None:
        return CheckResult("worker", False, "no `pressrun worker` has ever sent a heartbeat")
    return CheckResult(
        "worker",
        False,
        f"no heartbeat for {seen.last_heartbeat_age_seconds:.0f} s (a worker counts as alive "
        f"for {limit} s after one: PRESSRUN_WORKER_DEAD_AFTER_SECONDS)",
    )


def _check_task_queue(now: datetime) -> CheckResult:
    queue = task_queue(now=now)
    limit = settings.READY_MAX_TASK_WAIT_SECONDS
    relay = f", {queue.unrelayed_orders} placed order(s) to relay" if queue.unrelayed_orders else ""
    waited = f"{queue.due} due{relay}, the oldest waiting {queue.oldest_due_wait_seconds:.0f} s"
    if queue.oldest_due_wait_seconds > limit:
        return CheckResult(
            "task queue",
            False,
            f"{waited} (more than {limit} s: PRESSRUN_READY_MAX_TASK_WAIT_SECONDS)",
        )
    return CheckResult("task queue", True, waited)


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """`check()`, or its failure when the database refuses the read (it went away between
    two checks; a table is missing before the first `pressrun migrate`)."""
    try:
        return check()
    except DatabaseError as exc:
        return CheckResult(name, False, f"could not be read ({type(exc).__name__})")


def readiness(*, now: datetime) -> list[CheckResult]:
    """Every check, in order. Without a database the others cannot be asked, and say so."""
    database = _check_database()
    if not database.ok:
        return [database] + [
            CheckResult(name, False, "not checked: the database is unreachable")
            for name in ("migrations", "worker", "task queue")
        ]
    return [
        database,
        _guarded("migrations", _check_migrations),
        _guarded("worker", lambda: _check_worker(now)),
        _guarded("task queue", lambda: _check_task_queue(now)),
    ]
