"""In-process look at one SubmitProductOrder and one 100-invoice status call.

Run by `bench/run.py` against a benchmark installation (its environment names the data dir
and database). Prints one JSON object:

- the SQL statements each call runs (after the credential cache is warm);
- the time per call through Django's test client (full middleware stack and view, no HTTP
  server, no other load), single-threaded;
- the same work split into its steps by calling pressrun's functions directly, so the
  per-request cost can be attributed (parsing, credential check, intake, rendering...);
- for SQLite, how long an order's transaction holds the database write lock, per order, for
  intake's write compiled before the transaction and with the ORM inside it (alternating),
  and how long processing one Shopify delivery (routing and intake in one transaction)
  holds it;
- what the worker's relay of the placed orders (`orders.relay`: their notification and
  address check queued) costs per order, in CPU and (SQLite) write lock;
- the smallest write transaction (what a group commit could save) and the credential
  check's row read, compiled once and built per call;
- the plan the database chooses for the status select.

Usage: python bench/census.py EMAIL PASSWORD PROJECT_ID INVOICE_PREFIX FILLED_COUNT
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from order_form import ORDER_FIELDS

ROUNDS = int(os.environ.get("BENCH_CENSUS_ROUNDS", "300"))
# The placed orders relayed (the submit phases before the census leave thousands waiting).
RELAYED_AT_MOST = 2000
# Status calls can take a second each when the plan is bad at a million orders.
STATUS_ROUNDS = int(os.environ.get("BENCH_CENSUS_STATUS_ROUNDS", "20"))
# The columns orders/selectors.py asks for.
SELECTED = (
    "id",
    "invoice",
    "mode",
    "status",
    "name",
    "error_description",
    "ship_date",
    "shipping_method",
    "tracking_id",
    "created_at",
)


def _timed(function: Callable[[], Any], rounds: int) -> float:
    """Mean milliseconds per call of `function` over `rounds` calls (after one warm call)."""
    function()
    start = time.perf_counter()
    for _ in range(rounds):
        function()
    return round((time.perf_counter() - start) * 1000 / rounds, 4)


def _shopify_delivery_lock(
    publisher: Any, project_id: int, lock: Any, checkpoints_held: Callable[[], float]
) -> dict[str, Any]:
    """The write lock held per Shopify delivery processed (`delivery_process`), one at a time,
    each a cart order with two lines of the census's project, as the webhook burst sends."""
    from pressrun.carts.models import Cart, Outcome
    from pressrun.carts.services import delivery_process, delivery_receive
    from pressrun.catalog.models import Project
    from pressrun.catalog.services import project_update

    project = Project.objects.get(id=project_id)
    project_update(project=project, ecommerce_ids="{CENSUS-CD}{CENSUS-CD-2}")
    topic = sorted(publisher.shopify_topic_set)[0]
    shop = "census.myshopify.com"
    rounds = max(ROUNDS // 3, 10)
    ids = []
    for number in range(rounds + 1):
        order_id = 2**60 + 9_000_000 + number + random.randrange(10**9) * 1000
        body = json.dumps(
            {
                "id": order_id,
                "name": f"#C{order_id}",
                "email": "census@example.com",
                "test": False,
                "line_items": [
                    {"id": 1, "sku": "CENSUS-CD", "title": "CD", "quantity": 1},
                    {"id": 2, "sku": "CENSUS-CD-2", "title": "CD", "quantity": 2},
                ],
                "shipping_address": {
                    "name": "Census Buyer",
                    "address1": "1 Main Street",
                    "city": "Louisville",
                    "province_code": "KY",
                    "zip": "40202",
                    "country_code": "US",
                },
                "shipping_lines": [{"title": "Standard Shipping", "code": "Standard"}],
            }
        ).encode()
        delivery, _ = delivery_receive(
            cart=Cart.SHOPIFY,
            publisher=publisher,
            headers={"X-Shopify-Shop-Domain": shop},
            body=body,
            topic=topic,
            delivery_id=f"census-{order_id}",
            external_key=f"{shop}:{order_id}",
        )
        ids.append(delivery.id)
    delivery_process(delivery_id=ids[0])  # warm
    held, holds, checkpointing = lock.held_seconds, lock.holds, checkpoints_held()
    started = time.perf_counter()
    outcomes = [delivery_process(delivery_id=i).outcome for i in ids[1:]]
    wall = time.perf_counter() - started
    held = lock.held_seconds - held + checkpoints_held() - checkpointing
    return {
        "write_lock_ms_per_delivery": round(held / rounds * 1000, 4),
        "transactions_per_delivery": round((lock.holds - holds) / rounds, 3),
        "ms_per_delivery": round(wall / rounds * 1000, 4),
        "deliveries": rounds,
        "orders_created": outcomes.count(Outcome.ORDER_CREATED),
    }


def main() -> None:
    email, password, project_id, prefix, filled = sys.argv[1:6]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext

    from pressrun.accounts.services import publisher_authenticate
    from pressrun.billing.services import status_call_record
    from pressrun.gateway.fields import read_fields
    from pressrun.gateway.status import StatusSection, render_status_xml, split_invoices
    from pressrun.gateway.submit import build_order_request, check_source, render_success
    from pressrun.orders.models import Order
    from pressrun.orders.selectors import order_by_invoices
    from pressrun.orders.services import order_place

    client = Client(HTTP_HOST="127.0.0.1")
    factory = RequestFactory(HTTP_HOST="127.0.0.1")
    counter = iter(range(10_000_000))
    form = "application/x-www-form-urlencoded"
    base = {
        **ORDER_FIELDS,
        "CoLoginEmail": email,
        "CoLoginPassword": password,
        "productid": project_id,
    }

    def submit_body() -> str:
        return urlencode({**base, "Invoice": f"{prefix}-{next(counter)}"})

    def submit() -> bytes:
        response = client.post("/gateway/order", submit_body(), content_type=form)
        assert b"[SUCCESS]" in response.content, response.content[:300]
        return response.content

    filled_count = int(filled)
    rng = random.Random(7)

    def invoices() -> list[str]:
        return [f"BULK{i:07d}" for i in rng.sample(range(filled_count), 100)]

    def status_body() -> str:
        return urlencode(
            {
                "function": "getOrderStatusByInvoice",
                "CoLoginEmail": email,
                "CoLoginPassword": password,
                "Invoice": "[*|*]".join(invoices()),
            }
        )

    def status() -> bytes:
        response = client.post("/gateway/status", status_body(), content_type=form)
        assert response.content.count(b"<ErrorNum>0</ErrorNum>") == 100, response.content[:300]
        return response.content

    from django.conf import settings
    from django.db.migrations.recorder import MigrationRecorder

    database = settings.DATABASES["default"]
    result: dict[str, Any] = {
        "vendor": connection.vendor,
        # The settings that shape the numbers, as pressrun actually ran them.
        "settings": {
            "CONN_MAX_AGE": database.get("CONN_MAX_AGE", 0),
            "CONN_HEALTH_CHECKS": database.get("CONN_HEALTH_CHECKS", False),
            "OPTIONS": {k: str(v) for k, v in database.get("OPTIONS", {}).items()},
            "WEB_PROCESSES": settings.WEB_PROCESSES,
            "WEB_THREADS": settings.WEB_THREADS,
            "CREDENTIAL_CACHE_SECONDS": settings.CREDENTIAL_CACHE_SECONDS,
            "STATUS_CALLS_FREE_PER_DAY": settings.STATUS_CALLS_FREE_PER_DAY,
        },
        "migrations": sorted(
            f"{app}.{name}"
            for app, name in MigrationRecorder.Migration.objects.values_list("app", "name")
            if app in {"orders", "billing", "accounts", "catalog", "core"}
        ),
    }

    # The first call pays for the full password hash (then cached) and for lazy imports;
    # the second reads the publisher's row that later ones take from memory (PostgreSQL).
    start = time.perf_counter()
    submit()
    result["first_submit_ms"] = round((time.perf_counter() - start) * 1000, 1)
    submit()

    with CaptureQueriesContext(connection) as captured:
        submit()
    result["submit_queries"] = [q["sql"] for q in captured.captured_queries]
    status()
    with CaptureQueriesContext(connection) as captured:
        status()
    result["status_queries"] = [q["sql"][:300] for q in captured.captured_queries]

    result["submit_test_client_ms"] = _timed(submit, ROUNDS)
    result["status_test_client_ms"] = _timed(status, STATUS_ROUNDS)

    # The same submit, step by step.
    request = factory.post("/gateway/order", submit_body(), content_type=form)
    fields = read_fields(request)
    publisher = publisher_authenticate(email=email, password=password, client_address="127.0.0.1")

    def place() -> Any:
        fresh = {**fields, "invoice": f"{prefix}-{next(counter)}"}
        return order_place(request=build_order_request(fresh, publisher.id), publisher=publisher)

    order = place()
    steps = {
        "read_fields": _timed(
            lambda: read_fields(factory.post("/gateway/order", submit_body(), content_type=form)),
            ROUNDS,
        ),
        "check_source": _timed(lambda: check_source(fields), ROUNDS),
        "publisher_authenticate (cache hit)": _timed(
            lambda: publisher_authenticate(
                email=email, password=password, client_address="127.0.0.1"
            ),
            ROUNDS,
        ),
        "build_order_request": _timed(lambda: build_order_request(fields, publisher.id), ROUNDS),
        "order_place": _timed(place, ROUNDS),
        "render_success": _timed(lambda: render_success(order), ROUNDS),
    }
    result["submit_steps_ms"] = steps

    # How long the write transaction of one order lasts (SQLite: the database write lock).
    marks: list[tuple[str, float, float]] = []

    def recorder(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, *args)
        finally:
            marks.append((sql.split(" ", 1)[0], started, time.perf_counter()))

    holds = []
    in_statements = []
    for _ in range(100):
        marks.clear()
        with connection.execute_wrapper(recorder):
            place()
        finished = time.perf_counter()
        # Writes start with the first statement that writes: the debit on SQLite (UPDATE
        # accounts_publisher, run first there), the order's INSERT on PostgreSQL, or there
        # the one statement that writes all of intake's rows (WITH ... INSERT ...). The
        # commit follows the last.
        first_write = next(
            i for i, mark in enumerate(marks) if mark[0].upper() in ("UPDATE", "INSERT", "WITH")
        )
        holds.append(finished - marks[first_write][1])
        in_statements.append(sum(end - begin for _, begin, end in marks[first_write:]))
    holds.sort()
    result["write_transaction_ms"] = {
        "p50": round(holds[len(holds) // 2] * 1000, 3),
        "mean": round(sum(holds) / len(holds) * 1000, 3),
        "of_which_in_sql_statements_mean": round(sum(in_statements) / len(in_statements) * 1000, 3),
        "note": "from the start of the first write (SQLite: the debit; PostgreSQL: the "
        "order's INSERT, or the one statement of all the rows) to the return of order_place, "
        "i.e. including COMMIT; on SQLite the write lock is held from BEGIN IMMEDIATE, a "
        "little earlier",
    }

    # The write lock itself (SQLite): from the moment this connection has it (just before
    # BEGIN IMMEDIATE) to COMMIT, summed by the backend and divided by the orders placed. One
    # writer, no waiting: this is the least each order holds the lock, which bounds the
    # throughput of every process together at 1000 / ms_per_order orders per second.
    # Intake's write is measured both ways (settings.INTAKE_PREPARED_WRITES), in alternating
    # batches, so a busy machine weighs on both alike.
    from django.conf import settings as live_settings

    lock = getattr(connection, "_write_lock", None)

    def checkpoints_held() -> float:
        """How long this process's checkpoint thread has held the write lock (copying what
        the log gained while it checkpointed, so the log can start again): part of what
        the orders cost the lock."""
        if lock is None:
            return 0.0
        from pressrun.core.sqlite import base as sqlite_base

        return sqlite_base._checkpointer.held_seconds

    configured = live_settings.INTAKE_PREPARED_WRITES
    variants = {"prepared statements": True, "ORM in the transaction": False}
    totals = {name: [0.0, 0.0, 0, 0] for name in variants}  # lock s, wall s, orders, holds
    batch = max(ROUNDS // 6, 10)
    for _ in range(6):
        for name, prepared in variants.items():
            live_settings.INTAKE_PREPARED_WRITES = prepared
            held, holds = (lock.held_seconds, lock.holds) if lock is not None else (0.0, 0)
            checkpointing = checkpoints_held()
            started = time.perf_counter()
            for _ in range(batch):
                place()
            totals[name][1] += time.perf_counter() - started
            if lock is not None:
                totals[name][0] += lock.held_seconds - held + checkpoints_held() - checkpointing
                totals[name][3] += lock.holds - holds
            totals[name][2] += batch
    live_settings.INTAKE_PREPARED_WRITES = configured
    result["write_path"] = {
        name: {
            "order_place_ms": round(wall / orders * 1000, 4),
            **(
                {
                    "write_lock_ms_per_order": round(held / orders * 1000, 4),
                    "transactions_per_order": round(holds / orders, 3),
                    "lock_ceiling_orders_per_second": round(orders / held) if held else None,
                }
                if lock is not None
                else {}
            ),
            "orders": orders,
        }
        for name, (held, wall, orders, holds) in totals.items()
    }
    result["write_path"]["configured"] = "prepared statements" if configured else "ORM"
    if lock is not None:
        result["write_path"]["note"] = (
            "write lock: flock held, BEGIN IMMEDIATE .. COMMIT, per order placed by "
            "order_place, and by the checkpoint thread meanwhile; one thread, no contention"
        )

    # The placed orders' relay (orders/relay.py): the worker's share of what intake no longer
    # does in its transaction (queue the orders' notification and address check). The orders
    # placed above wait for it; per order relayed, its CPU and (SQLite) the write lock held.
    from pressrun.orders.relay import placed_orders_relay

    held = lock.held_seconds if lock is not None else 0.0
    cpu = time.process_time()
    relayed = 0
    while relayed < RELAYED_AT_MOST and (handed := placed_orders_relay()):
        relayed += handed
    if relayed:
        result["write_path"]["relay"] = {
            "cpu_ms_per_order": round((time.process_time() - cpu) / relayed * 1000, 4),
            **(
                {"write_lock_ms_per_order": round((lock.held_seconds - held) / relayed * 1000, 4)}
                if lock is not None
                else {}
            ),
            "orders": relayed,
        }

    # Group commit (core/group_commit.py, SQLite's default): threads of this process place
    # orders at once, as a serving process's threads do under load; the orders that arrive
    # while a group holds the lock share the next transaction. Per order: the write lock
    # held (summed over the threads' connections), the orders per transaction, the wall time.
    if lock is not None and live_settings.INTAKE_GROUP_COMMIT:
        import threading

        from pressrun.orders import services as intake

        group_commit = intake._intake_group
        grouped: dict[str, Any] = {}
        for threads in (1, 4, 8):
            per_thread = max(ROUNDS // threads, 10)
            held_by: list[tuple[float, int]] = []
            start_line = threading.Barrier(threads)

            def placer(
                per_thread: int = per_thread,
                start_line: Any = start_line,
                held_by: list[tuple[float, int]] = held_by,
            ) -> None:
                own = connection._lock()  # type: ignore[attr-defined]
                before = (own.held_seconds, own.holds)
                start_line.wait()
                for _ in range(per_thread):
                    place()
                held_by.append((own.held_seconds - before[0], own.holds - before[1]))
                connection.close()

            groups, works = group_commit.groups, group_commit.grouped_works
            workers = [threading.Thread(target=placer) for _ in range(threads)]
            checkpointing = checkpoints_held()
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall = time.perf_counter() - started
            held_by.append((checkpoints_held() - checkpointing, 0))
            orders = per_thread * threads
            transactions = group_commit.groups - groups
            grouped[f"{threads} threads"] = {
                "write_lock_ms_per_order": round(sum(h for h, _ in held_by) / orders * 1000, 4),
                "orders_per_transaction": round(
                    (group_commit.grouped_works - works) / max(transactions, 1), 2
                ),
                "wall_ms_per_order": round(wall / orders * 1000, 4),
                "orders": orders,
            }
        grouped["note"] = (
            "threads of one process placing orders at once (group commit); the write lock "
            "summed over their connections, per order"
        )
        result["write_path"]["group_commit"] = grouped

    # A cart's order (SQLite): how long processing one Shopify delivery holds the write lock
    # (its transaction: the delivery's outcome, the cart order's routing and intake inside
    # it), against an order from the gateway above. The census's project answers to a SKU.
    if lock is not None:
        result["write_path"]["shopify_delivery"] = _shopify_delivery_lock(
            publisher, int(project_id), lock, checkpoints_held
        )

    # What a group commit could save at most per order: the cost of a write transaction that
    # changes one row and nothing else (the lock hand-off, BEGIN, COMMIT and its WAL write;
    # on PostgreSQL the WAL flush at commit).
    from django.db import transaction

    def smallest_write() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE django_migrations SET applied = applied "
                "WHERE id = (SELECT MIN(id) FROM django_migrations)"
            )

    result["write_path"]["smallest_write_transaction_ms"] = _timed(smallest_write, ROUNDS)

    # The read behind every credential cache hit: the publisher row, through a queryset
    # built per call (as before) and through the statement compiled once (as now).
    from pressrun.accounts.models import Publisher
    from pressrun.accounts.services import _active_publisher

    result["credential_row_read_ms"] = {
        "queryset per call": _timed(
            lambda: Publisher.objects.filter(id=publisher.id, is_active=True).first(), ROUNDS
        ),
        "compiled once": _timed(lambda: _active_publisher.get(publisher.id), ROUNDS),
    }

    # The status call, step by step.
    wanted = invoices()
    text = "[*|*]".join(wanted)
    found = order_by_invoices(publisher_id=publisher.id, invoices=wanted)
    sections = [StatusSection(0, "", inv, found.get(inv)) for inv in wanted]
    result["status_steps_ms"] = {
        "split_invoices": _timed(lambda: split_invoices(text), ROUNDS),
        "publisher_authenticate (cache hit)": steps["publisher_authenticate (cache hit)"],
        "status_call_record": _timed(lambda: status_call_record(publisher_id=publisher.id), 50),
        "order_by_invoices (100 of the filled orders)": _timed(
            lambda: order_by_invoices(publisher_id=publisher.id, invoices=invoices()),
            STATUS_ROUNDS,
        ),
        "render_status_xml": _timed(lambda: render_status_xml(sections), 50),
    }
    query = Order.objects.filter(publisher_id=publisher.id, invoice__in=wanted).only(
        "id", "invoice", "mode", "status", "name"
    )
    result["status_select_plan"] = query.order_by("id").explain()
    # The same select without ORDER BY (order_by_invoices ranks the rows itself, so the
    # database's order does not matter): the plan and the time it would take. Many rounds, so
    # the page cache recovers from the slow plan's scans before the average settles.
    result["status_select_plan_without_order_by"] = query.order_by().explain()
    result["status_select_ms"] = {
        "without ORDER BY": _timed(
            lambda: list(
                Order.objects.filter(publisher_id=publisher.id, invoice__in=invoices())
                .only(*SELECTED)
                .order_by()
            ),
            ROUNDS,
        ),
        "as_written (ORDER BY id)": _timed(
            lambda: list(
                Order.objects.filter(publisher_id=publisher.id, invoice__in=invoices())
                .only(*SELECTED)
                .order_by("id")
            ),
            STATUS_ROUNDS,
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
