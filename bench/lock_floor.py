"""SQLite's own share of an order's write lock: the order's statements replayed without Django.

The census (`bench/census.py`) measures how long `order_place` holds SQLite's write lock per
order. This script asks how much of that SQLite itself needs: it records the statements and
parameters of one gateway order's write transaction, then replays them on a plain `sqlite3`
connection to the same database (the same pragmas as pressrun's), each replay a transaction of
its own from `BEGIN IMMEDIATE` to `COMMIT`, with fresh values where the schema requires them
(the invoice, the customer's token, the task ids, the new order's id in the rows that name it).
Nothing runs between the statements but the loop that sends them, so what it measures is the
least any Python code could hold the lock for with these rows and indexes, one order per
transaction. Batches of pressrun's own `order_place` alternate with the replay's, so a busy
machine weighs on both alike.

Reported per order: the lock held by `order_place` (flock to COMMIT, as in the census), the
replay's `BEGIN IMMEDIATE`..`COMMIT`, each replayed statement and the `COMMIT` apart, and the
pages the `COMMIT` writes to SQLite's log (log frames, counted between checkpoints). Log
checkpoints run between orders, outside the timing, as pressrun's checkpoint thread runs them
outside an order's transaction.

The replayed orders are real rows of the benchmark database (an order, its line, its events,
its ledger entry, its two queued tasks, the debit), like the census's own orders.

Usage, against a benchmark installation kept by `bench/run.py --keep` (SQLite):

    PRESSRUN_DATA_DIR=/tmp/pressrun-bench-sqlite-XXXX \\
    PRESSRUN_SECRET_KEY=bench-fixed-secret-key-not-for-production-0123456789abcdef \\
    python bench/lock_floor.py [--orders 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

EMAIL = "bench@example.com"
PASSWORD = "bench password 0123"  # noqa: S105 - bench/run.py's throwaway account
PRODUCT_ID = "66750"  # bench/run.py's first project
CHECKPOINT_EVERY = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--orders", type=int, default=3000, help="orders per round and side (a multiple of 200)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides")
    parser.add_argument("--product", default=PRODUCT_ID, help="the product ordered (66750)")
    parser.add_argument(
        "--group",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 4, 16],
        help="orders per replayed transaction, comma-separated (each divides 200): 1,4,16",
    )
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory

    from pressrun.accounts.services import publisher_authenticate
    from pressrun.core.task_backend import time_ordered_task_id
    from pressrun.gateway.fields import read_fields
    from pressrun.gateway.submit import build_order_request
    from pressrun.orders.models import Order, new_customer_token
    from pressrun.orders.services import order_place

    if connection.vendor != "sqlite":
        sys.exit("lock_floor.py measures SQLite's write lock: run it on a SQLite installation.")
    body = urlencode(
        {
            "ordermethod": "url",
            "source": "cdfulfill",
            "CoLoginEmail": EMAIL,
            "CoLoginPassword": PASSWORD,
            "productid": options.product,
            "quantity": "1",
            "mode": "prod",
            "typeMailMethod": "standard",
            "name": "Ann Example",
            "addr": "1 Main St",
            "city": "Austin",
            "st": "TX",
            "zip": "78701",
            "country": "US",
            "email": "ann@example.com",
            "Invoice": "unused",
        }
    )
    request = RequestFactory(HTTP_HOST="127.0.0.1").post(
        "/gateway/order", body, content_type="application/x-www-form-urlencoded"
    )
    fields = read_fields(request)
    publisher = publisher_authenticate(email=EMAIL, password=PASSWORD, client_address="127.0.0.1")
    run_id = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))

    def place() -> Order:
        invoice = f"FLOOR-{run_id}-{next(counter)}"
        return order_place(
            request=build_order_request({**fields, "invoice": invoice}, publisher.id),
            publisher=publisher,
        )

    for _ in range(50):
        place()

    # One order's write transaction, statement by statement, as the driver received it.
    recorded: list[tuple[str, list[Any]]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        recorded.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        order = place()
    statements = [(sql.replace("%s", "?"), params) for sql, params in recorded]
    if not statements or statements[0][0] != "BEGIN IMMEDIATE":
        sys.exit(f"unexpected first statement: {statements[:1]}")
    statements = statements[1:]
    template = _Template(
        statements, order, new_task_id=time_ordered_task_id, new_token=new_customer_token
    )

    database = sqlite3.connect(
        str(settings.DATABASES["default"]["NAME"]), isolation_level=None, check_same_thread=False
    )
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA cache_size=-65536",
        "PRAGMA mmap_size=0",
        # Checkpoints between orders, never inside a COMMIT (pressrun's thread does them).
        "PRAGMA wal_autocheckpoint=0",
    ):
        database.execute(pragma)

    lock = connection._write_lock  # type: ignore[attr-defined]
    per_statement: dict[str, float] = defaultdict(float)
    placed = [0.0, 0.0, 0]  # lock s, wall s, orders
    replays = {group: [0.0, 0] for group in options.group}  # lock s, orders
    frames = {group: [0, 0] for group in options.group}  # log frames, orders

    def replay_batch(count: int, group: int) -> None:
        cursor = database.cursor()
        done = 0
        while done < count:
            if done % CHECKPOINT_EVERY == 0:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            started = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            lap = time.perf_counter()
            per_statement["BEGIN IMMEDIATE"] += lap - started
            for _ in range(group):
                order_id = None
                for index, (sql, params) in enumerate(template.statements):
                    bound = template.bind(index, params, order_id)
                    before = time.perf_counter()
                    cursor.execute(sql, bound)
                    lap = time.perf_counter()
                    if group == 1:
                        per_statement[template.labels[index]] += lap - before
                    if index == template.order_index:
                        order_id = cursor.lastrowid
            cursor.execute("COMMIT")
            finished = time.perf_counter()
            if group == 1:
                per_statement["COMMIT"] += finished - lap
            replays[group][0] += finished - started
            replays[group][1] += group
            done += group
            if done % CHECKPOINT_EVERY == 0:
                # Log frames written since the checkpoint before these orders.
                frames[group][0] += cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                frames[group][1] += CHECKPOINT_EVERY

    for _ in range(options.rounds):
        held, started = lock.held_seconds, time.perf_counter()
        for _ in range(options.orders):
            place()
        placed[0] += lock.held_seconds - held
        placed[1] += time.perf_counter() - started
        placed[2] += options.orders
        for group in options.group:
            replay_batch(options.orders, group)

    singles = replays[1][1] if 1 in replays else 0
    result = {
        "orders_per_side": placed[2],
        "order_place_write_lock_ms": round(placed[0] / placed[2] * 1000, 4),
        "order_place_wall_ms": round(placed[1] / placed[2] * 1000, 4),
        "replay_write_lock_ms": {
            f"{group} per transaction": round(held / orders * 1000, 4)
            for group, (held, orders) in replays.items()
        },
        "replay_statements_us": {
            label: round(seconds / singles * 1e6, 1) for label, seconds in per_statement.items()
        }
        if singles
        else {},
        "log_frames_per_order": {
            f"{group} per transaction": round(written / orders, 2) if orders else None
            for group, (written, orders) in frames.items()
        },
        "note": "replay: the same statements on a plain sqlite3 connection, N orders per "
        "BEGIN IMMEDIATE..COMMIT; order_place: pressrun's write lock (flock to COMMIT), "
        "one order per transaction",
    }
    print(json.dumps(result, indent=2))


class _Template:
    """The recorded statements of one order, and how each replay makes its values fresh."""

    def __init__(
        self,
        statements: list[tuple[str, list[Any]]],
        order: Any,
        *,
        new_task_id: Callable[[], uuid.UUID],
        new_token: Callable[[], str],
    ) -> None:
        self.new_task_id = new_task_id
        self.new_token = new_token
        self.statements = statements
        self.labels = [_label(sql) for sql, _ in statements]
        self.order_index = next(
            i
            for i, (sql, _) in enumerate(statements)
            if sql.startswith('INSERT INTO "orders_order"')
        )
        self.order_id = order.id
        self.invoice = order.invoice
        self.customer_token = order.customer_token
        self.task_ids = {
            value
            for sql, params in statements
            if sql.startswith('INSERT INTO "django_tasks_database_dbtaskresult"')
            for value in params[:1]
        }
        self.serial = 0

    def bind(self, index: int, params: list[Any], order_id: int | None) -> list[Any]:
        """`params` of statement `index` for a new replay: fresh unique texts and task ids, and
        the new order's id where the recorded order's stood."""
        if index == self.order_index:
            self.serial += 1
        bound = []
        old_id_text = str(self.order_id)
        for value in params:
            if isinstance(value, str):
                if value in self.task_ids:
                    value = self.new_task_id().hex
                elif value == self.customer_token:
                    # Made as intake makes it: where a new token goes in its index matters.
                    value = self.new_token()
                elif value == self.invoice:
                    value = f"{value}~{self.serial}"
                elif order_id is not None and old_id_text in value:
                    value = value.replace(old_id_text, str(order_id))
            elif order_id is not None and value == self.order_id and type(value) is int:
                value = order_id
            bound.append(value)
        return bound


def _label(sql: str) -> str:
    words = sql.split()
    if words[0] == "INSERT":
        return f"INSERT {words[2].strip(chr(34))}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1].strip(chr(34))}"
    return "SELECT (the kept rows' check)" if words[0] == "SELECT" else words[0]


if __name__ == "__main__":
    main()
