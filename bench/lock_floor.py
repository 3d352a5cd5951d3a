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

With `--writer-clients 1,2,4`, the replay is also run by that many processes at once, each
writing its own orders one per transaction as pressrun's web processes do, and then sent by
them (statements and values, pickled) to one writer process of its own, which writes what
has arrived together (at most 16 orders) in one transaction, each order in a savepoint, and
answers each after the COMMIT: throughput, lock per order, orders per transaction and the CPU
per order of all the processes, the sockets' and pickling's included (`writer_process`).

The replayed orders are real rows of the benchmark database (an order, its line, its events,
its ledger entry, the debit; task rows too, should intake write any: it has written none since
the placed orders' relay, `orders.relay`), like the census's own orders.

Usage, against a benchmark installation kept by `bench/run.py --keep` (SQLite):

    PRESSRUN_DATA_DIR=/tmp/pressrun-bench-sqlite-XXXX \\
    PRESSRUN_SECRET_KEY=bench-fixed-secret-key-not-for-production-0123456789abcdef \\
    python bench/lock_floor.py [--orders 3000] [--rounds 3] [--writer-clients 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import queue
import resource
import selectors
import socket
import sqlite3
import struct
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast
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
    parser.add_argument(
        "--writer-clients",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[],
        help="also compare, for each number of client processes (e.g. 1,2,4,8), the replay "
        "written by each client itself with the replay sent to one writer process that "
        "groups what arrives together (`writer_process` in the report); off by default",
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

    # Checkpoints between orders, never inside a COMMIT (pressrun's thread does them).
    database = _connect(str(settings.DATABASES["default"]["NAME"]))
    cursor = database.cursor()

    def checkpoint() -> None:
        """The log emptied (its file kept, as pressrun's checkpoints keep it), once
        pressrun's own checkpoint thread is done."""
        _checkpointer.wait_idle(10.0)
        _whole_log_copied(database, "RESTART")

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
    if options.writer_clients:
        # No checkpoint of pressrun's thread may be running in the child processes forked
        # next: they inherit this process's memory, not its threads.
        if not _checkpointer.wait_idle(10.0):
            sys.exit("pressrun's checkpoint thread did not finish")
        database.close()
        connection.close()
        name = str(settings.DATABASES["default"]["NAME"])
        result["writer_process"] = {
            f"{clients} clients": _compare(template, name, clients, options.orders, options.rounds)
            for clients in options.writer_clients
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


# The writer-process comparison (`--writer-clients`): what a writer of its own would give
# and cost, with the replay's statements standing for intake's.

# As pressrun's processes do: a PASSIVE checkpoint every 100 commits of a process, after its
# write lock is released (never SQLite's own, inside a COMMIT).
CHECKPOINT_EVERY_COMMITS = 100
MAX_GROUP = 16
_LENGTH = struct.Struct("!I")
_EACH, _WRITER = "each client writing", "one writer process"


def _compare(
    template: _Template, name: str, clients: int, orders: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """The two ways, `rounds` times each, in turns (the first way first in even rounds),
    from an emptied log each time; figures over all rounds."""
    totals: dict[str, defaultdict[str, float]] = {
        _EACH: defaultdict(float),
        _WRITER: defaultdict(float),
    }
    for round_number in range(rounds):
        ways = [(_EACH, _clients_writing), (_WRITER, _writer_process)]
        for label, way in ways if round_number % 2 == 0 else reversed(ways):
            _empty_log(name)
            for key, value in way(template, name, clients, orders).items():
                totals[label][key] += value
    report = {}
    for label, total in totals.items():
        figures = {
            "orders_per_s": round(total["orders"] / total["wall"]),
            "write_lock_ms_per_order": round(total["held"] / total["orders"] * 1000, 4),
            "cpu_ms_per_order": round(total["cpu"] / total["orders"] * 1000, 4),
        }
        if label == _WRITER:
            figures["orders_per_transaction"] = round(total["orders"] / total["transactions"], 2)
            # How often the writer lost its core to another process (it may hold the lock).
            figures["writer_preempted_per_transaction"] = round(
                total["preempted"] / total["transactions"], 2
            )
        report[label] = figures
    return report


def _connect(name: str) -> sqlite3.Connection:
    """A connection for the replay, with the pragmas pressrun's connections get (its
    settings' `init_command`); SQLite's own checkpoints off, the replay checkpoints outside
    the lock, as pressrun's processes do."""
    from django.conf import settings

    database = sqlite3.connect(name, isolation_level=None)
    database.executescript(settings.DATABASES["default"]["OPTIONS"]["init_command"])
    database.execute("PRAGMA wal_autocheckpoint=0")
    return database


def _checkpoint(database: sqlite3.Connection) -> None:
    database.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _whole_log_copied(database: sqlite3.Connection, mode: str) -> None:
    """A `RESTART` or `TRUNCATE` checkpoint, waited for while another connection still
    reads the log; stops the replay after a second."""
    for _ in range(100):
        if database.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0] == 0:
            return
        time.sleep(0.01)
    sys.exit("the log could not be checkpointed: another connection is using it")


def _empty_log(name: str) -> None:
    database = sqlite3.connect(name, isolation_level=None)
    try:
        _whole_log_copied(database, "TRUNCATE")
    finally:
        database.close()


def _usage() -> tuple[float, int]:
    """This process's CPU seconds, and how often the system took its core away."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_nivcsw


def _unique(template: _Template, tag: str) -> None:
    """The child's invoices apart from every other's (the replay numbers them in turn)."""
    template.invoice = f"{template.invoice}~{tag}"
    template.serial = 0


def _wait(start: Any) -> None:
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        sys.exit("a replaying process did not start")


def _clients_writing(template: _Template, name: str, clients: int, orders: int) -> dict[str, float]:
    """`clients` processes, each writing its own orders one per transaction, as pressrun's
    web processes do."""
    from pressrun.core.sqlite.base import WriteLock, write_lock_path

    context = multiprocessing.get_context("fork")
    start = context.Barrier(clients + 1)
    reports = context.Queue()

    def client(number: int) -> None:
        _unique(template, f"direct-{clients}-{number}-{uuid.uuid4().hex[:6]}")
        database = _connect(name)
        cursor = database.cursor()
        lock = WriteLock(write_lock_path(name))
        _wait(start)
        cpu, _ = _usage()
        for done in range(1, orders + 1):
            statements = template.fresh()
            lock.acquire()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                template.write(cursor, statements)
                cursor.execute("COMMIT")
            finally:
                lock.release()
            if done % CHECKPOINT_EVERY_COMMITS == 0:
                _checkpoint(database)
        reports.put((lock.held_seconds, _usage()[0] - cpu))

    children = [context.Process(target=client, args=(number,)) for number in range(clients)]
    for child in children:
        child.start()
    started = _started(start, children)
    done = _collect(reports, children, len(children))
    return {
        "wall": time.perf_counter() - started,
        "orders": clients * orders,
        "held": sum(held for held, _ in done),
        "cpu": sum(cpu for _, cpu in done),
    }


def _started(start: Any, processes: list[Any]) -> float:
    """Once every process is ready: the clock's reading as they begin."""
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        for process in processes:
            process.kill()
        sys.exit("a replaying process did not start")
    return time.perf_counter()


def _collect(reports: Any, processes: list[Any], count: int) -> list[Any]:
    """`count` reports from `processes`, which are then joined; stops the replay should one
    of them end without its report (a failed check, `_Template.write`)."""
    done: list[Any] = []
    deadline = time.monotonic() + 600
    while len(done) < count:
        try:
            done.append(reports.get(timeout=1.0))
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                for process in processes:
                    process.kill()
                sys.exit(f"a replaying process failed (exit codes {failed}) or took too long")
    for process in processes:
        process.join()
    return done


def _writer_process(template: _Template, name: str, clients: int, orders: int) -> dict[str, float]:
    """`clients` processes sending each order's statements and values (pickled, the SQL
    included, as a protocol without a statement cache would) over a socket to one writer
    process, which writes whatever has arrived (at most 16 orders) in one transaction, each
    order in a savepoint of its own, and answers each after the COMMIT. Each order's failure
    would stop the replay: the savepoints' cost is measured, not what they are for (one
    order rolled back alone)."""
    from pressrun.core.sqlite.base import WriteLock, write_lock_path

    context = multiprocessing.get_context("fork")
    pairs = [socket.socketpair() for _ in range(clients)]
    start = context.Barrier(clients + 1)
    reports = context.Queue()

    def writer() -> None:
        for own, theirs in pairs:
            theirs.close()  # else the clients' ends would never read as closed here
            own.setblocking(False)
        database = _connect(name)
        # A savepoint keeps a copy of every page it changes (about 120 KiB an order), which
        # SQLite writes to a temporary file past 64 KiB: in memory, as a writer would.
        database.execute("PRAGMA temp_store=MEMORY")
        cursor = database.cursor()
        lock = WriteLock(write_lock_path(name))
        selector = selectors.DefaultSelector()
        buffers = {}
        for own, _ in pairs:
            selector.register(own, selectors.EVENT_READ)
            buffers[own] = bytearray()
        open_sockets, transactions, written = len(pairs), 0, 0
        cpu, preempted = _usage()
        while open_sockets:
            arrived: list[tuple[socket.socket, Any]] = []
            for key, _ in selector.select():
                peer = cast(socket.socket, key.fileobj)
                chunk = peer.recv(1 << 20)
                if not chunk:
                    selector.unregister(peer)
                    open_sockets -= 1
                    continue
                buffer = buffers[peer]
                buffer += chunk
                while len(buffer) >= 4:
                    (size,) = _LENGTH.unpack_from(buffer)
                    if len(buffer) < 4 + size:
                        break
                    # From this replay's own children, over a socket pair made here.
                    message = pickle.loads(bytes(buffer[4 : 4 + size]))  # noqa: S301
                    arrived.append((peer, message))
                    del buffer[: 4 + size]
            for first in range(0, len(arrived), MAX_GROUP):
                group = arrived[first : first + MAX_GROUP]
                lock.acquire()
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    for _, statements in group:
                        cursor.execute("SAVEPOINT one_order")
                        template.write(cursor, [params for _, params in statements])
                        cursor.execute("RELEASE one_order")
                    cursor.execute("COMMIT")
                finally:
                    lock.release()
                transactions += 1
                written += len(group)
                for peer, _ in group:
                    peer.setblocking(True)
                    peer.sendall(b"committd")
                    peer.setblocking(False)
                if transactions % CHECKPOINT_EVERY_COMMITS == 0:
                    _checkpoint(database)
        used, switched = _usage()
        reports.put(
            ("writer", lock.held_seconds, used - cpu, transactions, written, switched - preempted)
        )

    def client(number: int) -> None:
        _unique(template, f"writer-{clients}-{number}-{uuid.uuid4().hex[:6]}")
        for index, (own, theirs) in enumerate(pairs):
            own.close()
            if index != number:
                theirs.close()
        peer = pairs[number][1]
        _wait(start)
        cpu, _ = _usage()
        for _ in range(orders):
            statements = template.fresh()
            payload = pickle.dumps(list(zip(template.sql, statements, strict=True)), protocol=5)
            peer.sendall(_LENGTH.pack(len(payload)) + payload)
            answer = b""
            while len(answer) < 8:
                chunk = peer.recv(8 - len(answer))
                if not chunk:
                    sys.exit("the writer went away")
                answer += chunk
        peer.close()
        reports.put(("client", 0.0, _usage()[0] - cpu, 0, 0, 0))

    writing = context.Process(target=writer)
    writing.start()
    children = [context.Process(target=client, args=(number,)) for number in range(clients)]
    for child in children:
        child.start()
    for own, theirs in pairs:
        own.close()
        theirs.close()
    started = _started(start, [*children, writing])
    done = _collect(reports, [*children, writing], clients + 1)
    wall = time.perf_counter() - started
    _, held, _, transactions, written, preempted = next(r for r in done if r[0] == "writer")
    if written != clients * orders:
        sys.exit(f"the writer wrote {written} orders of {clients * orders}")
    return {
        "wall": wall,
        "orders": written,
        "held": held,
        "cpu": sum(report[2] for report in done),
        "transactions": transactions,
        "preempted": preempted,
    }


def _label(sql: str) -> str:
    words = sql.split()
    if words[0] == "INSERT":
        return f"INSERT {words[2].strip(chr(34))}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1].strip(chr(34))}"
    return "SELECT (the kept rows' check)" if words[0] == "SELECT" else words[0]


if __name__ == "__main__":
    main()
