"""Time status-call metering (`status_call_record`) against the publisher's call volume.

The census (`bench/census.py`) times one metering call inside a full benchmark run; this
looks at metering alone, at several numbers of calls already made in the last 24 hours, so
its cost against daily volume is visible. Run it against a migrated installation (its
environment names the data dir and the database); it adds one publisher per volume.

It works on both metering designs — one record per call (`StatusCall`) and hourly counters
(`StatusCallHour`) — so an A/B needs only the other code on the path and `pressrun migrate`
to its migrations: the earlier calls are written straight into whichever table exists,
spread evenly over the last 24 hours. Prints one JSON object: per volume, the statements of
one call, the time per call (p50, mean), this process's CPU per call (on SQLite all of the
work; on PostgreSQL without the server's), and how long the write transaction lasts (on
SQLite: the write lock is held).

Usage: python bench/metering.py [CALLS_PER_DAY,...] (default 0,1000,10000,100000)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from datetime import timedelta
from typing import Any

ROUNDS = int(os.environ.get("BENCH_METERING_ROUNDS", "300"))


def main() -> None:
    volumes = [
        int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "0,1000,10000,100000").split(",")
    ]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from pressrun.accounts.services import publisher_create
    from pressrun.billing import models as billing_models
    from pressrun.billing.services import ledger_credit, status_call_record

    per_call = hasattr(billing_models, "StatusCall")
    result: dict[str, Any] = {
        "design": "one record per call" if per_call else "hourly counters",
        "database": connection.vendor,
        "rounds": ROUNDS,
        "volumes": {},
    }
    stamp = int(time.time())
    # When the write transaction began: SQLite's BEGIN IMMEDIATE (the write lock), else the
    # first write. It ends when status_call_record returns, after COMMIT.
    write_started: list[float] = []

    def recorder(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not write_started and sql.split(" ", 1)[0] in ("BEGIN", "UPDATE", "INSERT", "WITH"):
            write_started.append(time.perf_counter())
        return execute(sql, params, many, context)

    for volume in volumes:
        publisher = publisher_create(
            email=f"metering-{stamp}-{volume}@example.com", password=secrets.token_urlsafe()
        )
        ledger_credit(
            publisher_id=publisher.id, amount=Decimal(1_000_000), description="b", actor="b"
        )
        now = timezone.now()
        step = timedelta(hours=24) / max(volume, 1)
        moments = [now - timedelta(hours=24) + step * (i + 1) for i in range(volume)]
        if per_call:
            model: Any = billing_models.StatusCall  # type: ignore[attr-defined]
            model.objects.bulk_create(
                (model(publisher_id=publisher.id, at=at) for at in moments), batch_size=5000
            )
        else:
            hours: dict[Any, int] = {}
            for at in moments:
                hour = at.replace(minute=0, second=0, microsecond=0)
                hours[hour] = hours.get(hour, 0) + 1
            billing_models.StatusCallHour.objects.bulk_create(
                billing_models.StatusCallHour(publisher_id=publisher.id, hour_start=h, calls=n)
                for h, n in hours.items()
            )
        with CaptureQueriesContext(connection) as queries:
            status_call_record(publisher_id=publisher.id)
        walls, holds = [], []
        cpu_start = time.process_time()
        for _ in range(ROUNDS):
            write_started.clear()
            start = time.perf_counter()
            with connection.execute_wrapper(recorder):
                status_call_record(publisher_id=publisher.id)
            finished = time.perf_counter()
            walls.append(finished - start)
            holds.append(finished - write_started[0])
        cpu = time.process_time() - cpu_start
        walls.sort()
        holds.sort()
        result["volumes"][str(volume)] = {
            "statements": len(queries.captured_queries),
            "p50_ms": round(walls[len(walls) // 2] * 1000, 3),
            "mean_ms": round(sum(walls) / len(walls) * 1000, 3),
            "client_cpu_ms": round(cpu * 1000 / ROUNDS, 3),
            "write_transaction_p50_ms": round(holds[len(holds) // 2] * 1000, 3),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
