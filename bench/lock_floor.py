"""SQLite's own share of an order's write lock: the order's statements replayed without Django.

The census (`bench/census.py`) measures how long `order_place` holds SQLite's write lock per
order. This script asks how much of that SQLite itself needs: it records the statements and
parameters of one gateway order's write transaction, then replays them on a plain `sqlite3`
connection to the same database (the same pragmas as pressrun's), each replay a transaction of
its own from `BEGIN IMMEDIATE` to `COMMIT` (then 4 and 16 orders per transaction), with
fresh values where the schema requires them: the invoice, the customer's token and the task
ids, made before `BEGIN` as intake makes them, and the new order's id, put in between the
statements wherever two recorded orders differ by their own ids. Nothing else runs between
the statements, so what it measures is about the least any Python code could hold the lock
for with these rows and indexes. Batches of pressrun's own `order_place` alternate with the
replay's, so a busy machine weighs on both alike.

Reported per order: the lock held by `order_place` (flock to COMMIT, as in the census), the
replay's `BEGIN IMMEDIATE`..`COMMIT`, each replayed statement and the `COMMIT` apart (in a
pass of their own, so that reading the clock is not in the lock's figures), and the pages
the `COMMIT`s write to SQLite's log (log frames, counted between checkpoints). Log
checkpoints run between orders, outside the timing, as pressrun's checkpoint thread runs them
outside an order's transaction. The replay stops with an error if the kept rows' check or
the debit does not do what it did for pressrun, or a replayed order lacks its line.

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

from order_form import EMAIL, ORDER_FIELDS, PASSWORD

PRODUCT_ID = "66750"  # bench/run.py's first project
CHECKPOINT_EVERY = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides")
    parser.add_argument("--product", default=PRODUCT_ID, help="the product ordered (66750)")
    parser.add_argument(
        "--group",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 4, 16],
        help="orders per replayed transaction, comma-separated: 1,4,16",
    )
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory

    from pressrun.accounts.services import publisher_authenticate
    from pressrun.core.sqlite.base import _checkpointer
    from pressrun.core.task_backend import time_ordered_task_id
    from pressrun.gateway.fields import read_fields
    from pressrun.gateway.submit import build_order_request
    from pressrun.orders.models import Order, new_customer_token
    from pressrun.orders.services import order_place

    if connection.vendor != "sqlite":
        sys.exit("lock_floor.py measures SQLite's write lock: run it on a SQLite installation.")
    body = urlencode(
        {
            **ORDER_FIELDS,
            "CoLoginEmail": EMAIL,
            "CoLoginPassword": PASSWORD,
            "productid": options.product,
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

    # Two orders' write transactions, statement by statement, as the driver received them:
    # where their values differ by the order's own id, the replay puts the new order's id.
    def recorded_order() -> tuple[Order, list[tuple[str, list[Any]]]]:
        recorded: list[tuple[str, list[Any]]] = []

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            recorded.append((sql.replace("%s", "?"), list(params or ())))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            order = place()
        if not recorded or recorded[0][0] != "BEGIN IMMEDIATE":
            sys.exit(f"unexpected first statement: {recorded[:1]}")
        return order, recorded[1:]

    first, second = recorded_order(), recorded_order()
    template = _Template(
        first, second, new_task_id=time_ordered_task_id, new_token=new_customer_token
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
    cursor = database.cursor()

    def checkpoint() -> None:
        """The log emptied (its file kept, as pressrun's checkpoints keep it), once
        pressrun's own checkpoint thread is done."""
        _checkpointer.wait_idle(10.0)
        for _ in range(100):
            if cursor.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0] == 0:
                return
            time.sleep(0.01)
        sys.exit("the log could not be checkpointed: another connection is using it")

    lock = connection._write_lock  # type: ignore[attr-defined]
    per_statement: dict[str, float] = defaultdict(float)
    timed_singly = [0]
    placed = [0.0, 0.0, 0]  # lock s, wall s, orders
    replays = {group: [0.0, 0] for group in options.group}  # lock s, orders
    frames = {group: [0, 0] for group in options.group}  # log frames, orders

    def replay_batch(count: int, group: int) -> None:
        """`count` orders, `group` per transaction: only the statements between BEGIN
        IMMEDIATE and COMMIT are timed; each order's values are made before."""
        checkpoint()
        done = block_start = 0
        while done < count:
            orders = [template.fresh() for _ in range(min(group, count - done))]
            started = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            for statements in orders:
                template.write(cursor, statements)
            cursor.execute("COMMIT")
            replays[group][0] += time.perf_counter() - started
            replays[group][1] += len(orders)
            done += len(orders)
            if done == len(orders):
                template.confirm(cursor)
            if done - block_start >= CHECKPOINT_EVERY or done >= count:
                # Log frames written since the checkpoint before these orders.
                frames[group][0] += cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                frames[group][1] += done - block_start
                checkpoint()
                block_start = done

    def statements_timed(count: int) -> None:
        """One order per transaction, each statement timed apart (its own pass: the clock
        readings are not in the lock's figures)."""
        checkpoint()
        for done in range(1, count + 1):
            statements = template.fresh()
            started = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            lap = time.perf_counter()
            per_statement["BEGIN IMMEDIATE"] += lap - started
            template.write(cursor, statements, per_statement)
            lap = time.perf_counter()
            cursor.execute("COMMIT")
            per_statement["COMMIT"] += time.perf_counter() - lap
            if done % CHECKPOINT_EVERY == 0:
                checkpoint()
        timed_singly[0] += count

    for round_number in range(options.rounds):
        # The checkpoint thread's lock time counts too: it holds the lock to let the log
        # start again (core/sqlite/base.py), as SQLite's own checkpoint did inside a COMMIT.
        held = lock.held_seconds + _checkpointer.held_seconds
        started = time.perf_counter()
        for _ in range(options.orders):
            place()
        placed[0] += lock.held_seconds + _checkpointer.held_seconds - held
        placed[1] += time.perf_counter() - started
        placed[2] += options.orders
        # Each round in another order: none always comes right after pressrun's batch.
        shift = round_number % len(options.group)
        for group in options.group[shift:] + options.group[:shift]:
            replay_batch(options.orders, group)
        statements_timed(options.orders)

    result = {
        "orders_per_side": placed[2],
        "order_place_write_lock_ms": round(placed[0] / placed[2] * 1000, 4),
        "order_place_wall_ms": round(placed[1] / placed[2] * 1000, 4),
        "replay_write_lock_ms": {
            f"{group} per transaction": round(held / orders * 1000, 4)
            for group, (held, orders) in replays.items()
        },
        "replay_statements_us": {
            label: round(seconds / timed_singly[0] * 1e6, 1)
            for label, seconds in per_statement.items()
        },
        "log_frames_per_order": {
            f"{group} per transaction": round(written / orders, 2) if orders else None
            for group, (written, orders) in frames.items()
        },
        "note": "replay: the same statements on a plain sqlite3 connection, N orders per "
        "BEGIN IMMEDIATE..COMMIT, each order's values made before BEGIN; its statements "
        "timed apart in a pass of their own; order_place: pressrun's write lock (flock to "
        "COMMIT), one order per transaction",
    }
    print(json.dumps(result, indent=2))


class _Template:
    """Two recorded orders' statements, and how each replay makes its values fresh: the
    invoice, the customer's token and the task ids as new as intake makes them, and the new
    order's id wherever the two recordings differ by their own ids."""

    def __init__(
        self,
        first: tuple[Any, list[tuple[str, list[Any]]]],
        second: tuple[Any, list[tuple[str, list[Any]]]],
        *,
        new_task_id: Callable[[], uuid.UUID],
        new_token: Callable[[], str],
    ) -> None:
        (order, statements), (other, other_statements) = first, second
        if [sql for sql, _ in statements] != [sql for sql, _ in other_statements]:
            sys.exit("two orders wrote different statements: nothing to replay")
        self.new_task_id = new_task_id
        self.new_token = new_token
        self.invoice = order.invoice
        self.serial = 0
        self.sql = [sql for sql, _ in statements]
        self.labels = [_label(sql) for sql in self.sql]
        self.order_index = next(
            i for i, sql in enumerate(self.sql) if sql.startswith('INSERT INTO "orders_order"')
        )
        task_ids = {
            params[0]
            for sql, params in statements
            if sql.startswith('INSERT INTO "django_tasks_database_dbtaskresult"')
        }
        own, others = str(order.id), str(other.id)
        # Per statement: its recorded values, and (position, kind, text parts) to redo.
        self.values: list[list[Any]] = []
        self.fresh_places: list[list[tuple[int, str]]] = []
        self.id_places: list[list[tuple[int, list[str] | None]]] = []
        for (_, params), (_, other_params) in zip(statements, other_statements, strict=True):
            fresh: list[tuple[int, str]] = []
            ids: list[tuple[int, list[str] | None]] = []
            for place, (value, other_value) in enumerate(zip(params, other_params, strict=True)):
                if value in task_ids:
                    fresh.append((place, "task"))
                elif value == order.customer_token:
                    fresh.append((place, "token"))
                elif value == order.invoice:
                    fresh.append((place, "invoice"))
                elif type(value) is int and value == order.id and other_value == other.id:
                    ids.append((place, None))
                elif (
                    isinstance(value, str)
                    and own in value
                    and isinstance(other_value, str)
                    and value.split(own) == other_value.split(others)
                ):
                    ids.append((place, value.split(own)))
            self.values.append(params)
            self.fresh_places.append(fresh)
            self.id_places.append(ids)
        if not any(self.id_places[self.order_index + 1 :]):
            sys.exit("no row after the order's names it: nothing to replay")

    def fresh(self) -> list[list[Any]]:
        """One new order's parameters, statement by statement, its id still to come."""
        self.serial += 1
        invoice = f"{self.invoice}~{self.serial}"
        token = self.new_token()
        made = []
        for values, places in zip(self.values, self.fresh_places, strict=True):
            params = list(values)
            for place, kind in places:
                if kind == "task":
                    params[place] = self.new_task_id().hex
                else:
                    params[place] = token if kind == "token" else invoice
            made.append(params)
        return made

    def write(self, cursor: sqlite3.Cursor, statements: list[list[Any]], timed: Any = None) -> None:
        """Run one order's statements, the new order's id put in where it goes."""
        order_id = 0
        for index, params in enumerate(statements):
            for place, parts in self.id_places[index]:
                params[place] = order_id if parts is None else str(order_id).join(parts)
            if timed is None:
                cursor.execute(self.sql[index], params)
            else:
                before = time.perf_counter()
                cursor.execute(self.sql[index], params)
                timed[self.labels[index]] += time.perf_counter() - before
            if index == self.order_index:
                order_id = cursor.lastrowid or 0
            elif self.sql[index].startswith("SELECT") and not all(cursor.fetchone()):
                sys.exit("the kept rows' check failed in the replay")
            elif self.sql[index].startswith("UPDATE") and cursor.rowcount != 1:
                sys.exit("the debit took nothing in the replay")

    def confirm(self, cursor: sqlite3.Cursor) -> None:
        """The last replayed order is whole: its line and the rows that name it."""
        order_id = cursor.execute("SELECT MAX(id) FROM orders_order").fetchone()[0]
        lines = cursor.execute(
            "SELECT COUNT(*) FROM orders_orderline WHERE order_id = ?", (order_id,)
        ).fetchone()[0]
        if lines != 1:
            sys.exit(f"the replayed order {order_id} has {lines} lines")


def _label(sql: str) -> str:
    words = sql.split()
    if words[0] == "INSERT":
        return f"INSERT {words[2].strip(chr(34))}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1].strip(chr(34))}"
    return "SELECT (the kept rows' check)" if words[0] == "SELECT" else words[0]


if __name__ == "__main__":
    main()
