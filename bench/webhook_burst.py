"""The Shopify webhook burst of `make bench`: a sale's worth of order webhooks at once.

Shopify gives a webhook 1 s to connect and 5 s for the whole request; anything but a 2xx in
time is a failure that it retries later, and it can send the same delivery more than once
(carts.md). This scenario sends `--webhook-deliveries` signed deliveries (1,000; 200 with
`--quick`), a tenth of them exact repeats of earlier ones (same `X-Shopify-Webhook-Id`, same
body), over `--webhook-connections` (32) keep-alive connections, to `pressrun serve` while
`pressrun worker` runs, and reports:

- answer latency p50 / p99 / max and every reply that was not a 2xx within 5 s;
- how many orders were created (must equal the number of distinct Shopify orders) and how
  the stored deliveries ended (outcome counts);
- seconds from the first request until the last order exists (its `created_at`), and until
  the last delivery was processed.

The same requests (with their own ids) then go to the framework-free baseline
(`baseline_app.py`), which checks the URL (and its token, when it has one) and the signature,
stores the delivery row (a repeat is dropped by the same unique constraint) and answers: the
floor for the answering part. The baseline has no worker, so it creates no orders.

Bodies and headers are shaped like Shopify's REST Order webhooks: the order id is above 2^53
and written as a bare JSON integer, the signature is base64 HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from loadgen import ProtocolError, latency_summary, read_response

PRESSRUN = Path(sys.executable).parent / "pressrun"
SHOPIFY_CONNECT_SECONDS = 1.0
SHOPIFY_TIMEOUT_SECONDS = 5.0
REPEAT_FRACTION = 0.10
TOPIC = "orders/paid"
SHOP_DOMAIN = "bench-burst.myshopify.com"
API_VERSION = "2025-01"
WEBHOOK_KEY = "bench-shopify-webhook-signing-key-0123456789abcdef"
# The first Shopify order id: above 2^53, so a float anywhere would change it.
FIRST_ORDER_ID = 2**60 + 5_000_000
PROCESSING_TIMEOUT_SECONDS = 900.0
WORKER_START_SECONDS = 60.0
STOP_SECONDS = 20.0
FAILURE_SAMPLES = 5
SEED = 1000


class Server(Protocol):
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None: ...
    def tracebacks(self) -> int: ...


class Database(Protocol):
    kind: str
    data_dir: Path

    def connect(self) -> Any: ...


class Installation(Protocol):
    """What bench/run.py's Installation offers this scenario."""

    database: Database
    env: dict[str, str]
    publisher_id: int
    project_ids: tuple[int, ...]

    def pressrun(self, *args: str, timeout: float = 600) -> str: ...
    def start(self, app: str) -> Server: ...


# --- the deliveries ------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    order_id: int
    body: bytes
    repeat: bool


def order_body(*, order_id: int, number: int, skus: list[tuple[str, int]]) -> bytes:
    """A REST Order resource as Shopify posts it (the fields carts.md lists, and the usual
    others), with the id written as a bare JSON integer."""
    line_items = [
        {
            "id": 466157049 + index,
            "variant_id": 39072856 + index,
            "product_id": 632910392 + index,
            "title": f"Album {sku}",
            "quantity": quantity,
            "sku": sku,
            "variant_title": "",
            "vendor": "Bench Records",
            "fulfillment_service": "manual",
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "name": f"Album {sku}",
            "price": "19.99",
            "properties": [],
        }
        for index, (sku, quantity) in enumerate(skus)
    ]
    address = {
        "first_name": "Bob",
        "last_name": f"Norman {number}",
        "name": f"Bob Norman {number}",
        "company": None,
        "address1": f"{number % 9000 + 100} Chestnut Street",
        "address2": None,
        "city": "Louisville",
        "province": "Kentucky",
        "province_code": "KY",
        "zip": "40202",
        "country": "United States",
        "country_code": "US",
        "phone": "+1(502)-459-2181",
        "latitude": None,
        "longitude": None,
    }
    body = {
        "id": "__ORDER_ID__",
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "email": f"customer{number}@example.com",
        "contact_email": f"customer{number}@example.com",
        "created_at": "2026-11-21T10:11:12-05:00",
        "currency": "USD",
        "financial_status": "paid",
        "fulfillment_status": None,
        "name": f"#B{number}",
        "number": number,
        "order_number": 1000 + number,
        "test": False,
        "total_price": "23.99",
        "line_items": line_items,
        "shipping_address": address,
        "billing_address": address,
        "shipping_lines": [
            {"id": 271878346596884015, "title": "Standard Shipping", "code": "Standard"}
        ],
        "customer": {"id": 115310627314723954, "email": f"customer{number}@example.com"},
    }
    text = json.dumps(body).replace('"__ORDER_ID__"', str(order_id))
    return text.encode()


def plan_deliveries(
    *, count: int, project_ids: tuple[int, ...], prefix: str, seed: int = SEED
) -> list[Delivery]:
    """`count` deliveries in sending order: REPEAT_FRACTION of them repeat an earlier one.

    Each repeat goes to a random later position, so some arrive while the original is still
    in flight (Shopify retrying a slow answer) and most arrive after it was answered.
    """
    rng = random.Random(seed)
    repeats = round(count * REPEAT_FRACTION)
    originals = []
    for number in range(count - repeats):
        skus = [
            (str(project_id), rng.randint(1, 3))
            for project_id in rng.sample(project_ids, rng.randint(1, len(project_ids)))
        ]
        order_id = FIRST_ORDER_ID + number
        originals.append(
            Delivery(
                webhook_id=f"{prefix}-{uuid.UUID(int=rng.getrandbits(128))}",
                order_id=order_id,
                body=order_body(order_id=order_id, number=number, skus=skus),
                repeat=False,
            )
        )
    sequence = list(originals)
    for original_index in sorted(rng.sample(range(len(originals)), repeats)):
        position = sequence.index(originals[original_index])
        original = originals[original_index]
        repeat = Delivery(original.webhook_id, original.order_id, original.body, repeat=True)
        sequence.insert(rng.randint(position + 1, len(sequence)), repeat)
    return sequence


def http_request(*, delivery: Delivery, port: int, target: str, key: str) -> bytes:
    """The whole HTTP/1.1 request Shopify would send for `delivery`."""
    signature = base64.b64encode(hmac.new(key.encode(), delivery.body, hashlib.sha256).digest())
    headers = {
        "Host": f"127.0.0.1:{port}",
        "User-Agent": "Shopify-Captain-Hook",
        "Accept": "*/*",
        "Content-Type": "application/json",
        "Content-Length": str(len(delivery.body)),
        "X-Shopify-Topic": TOPIC,
        "X-Shopify-Hmac-Sha256": signature.decode(),
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-API-Version": API_VERSION,
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-Event-Id": delivery.webhook_id.rsplit("-", 1)[-1],
        "X-Shopify-Triggered-At": "2026-11-21T15:11:12.123456789Z",
    }
    head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + delivery.body


# --- sending -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    started_at: float  # wall clock (time.time), comparable with the database's timestamps
    latency_s: float
    status: int  # 0: no HTTP reply within Shopify's limits
    text: str


async def _send_all(*, port: int, requests: list[bytes], connections: int) -> list[Reply | None]:
    replies: list[Reply | None] = [None] * len(requests)
    # One iterator shared by every connection: each request is sent exactly once, in order.
    pending = iter(range(len(requests)))

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        for index in pending:
            started_at, started = time.time(), time.perf_counter()
            try:
                async with asyncio.timeout(SHOPIFY_TIMEOUT_SECONDS):
                    if writer is None or reader is None:
                        async with asyncio.timeout(SHOPIFY_CONNECT_SECONDS):
                            reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(requests[index])
                    status, body, keep_alive = await read_response(reader)
            except (
                OSError,
                TimeoutError,
                ValueError,
                ProtocolError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
            ) as exc:
                # Shopify counts this as a failed delivery and retries it later; so does the
                # report (it is not re-sent here, so the order count stays exact).
                replies[index] = Reply(
                    started_at, time.perf_counter() - started, 0, type(exc).__name__
                )
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            replies[index] = Reply(
                started_at,
                time.perf_counter() - started,
                status,
                body.decode("utf-8", "replace").strip()[:200],
            )
            if not keep_alive:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return replies


def send_burst(*, port: int, requests: list[bytes], connections: int) -> dict[str, Any]:
    """Send every request once over `connections` keep-alive connections; the numbers."""
    started = time.perf_counter()
    replies = asyncio.run(_send_all(port=port, requests=requests, connections=connections))
    wall = time.perf_counter() - started
    answered = [reply for reply in replies if reply is not None]
    failures: dict[str, int] = {}
    samples: list[str] = []
    for reply in answered:
        if 200 <= reply.status < 300:
            continue
        category = f"HTTP {reply.status}" if reply.status else f"no reply: {reply.text}"
        failures[category] = failures.get(category, 0) + 1
        if len(samples) < FAILURE_SAMPLES:
            samples.append(f"{category}: {reply.text}")
    return {
        "requests": len(requests),
        "connections": connections,
        "answered_2xx": sum(1 for reply in answered if 200 <= reply.status < 300),
        "not_2xx": len(requests) - sum(1 for r in answered if 200 <= r.status < 300),
        "failures": failures,
        "failure_samples": samples,
        "repeat_replies": sum(1 for r in answered if r.text.endswith("(repeat)")),
        "latency": latency_summary([reply.latency_s for reply in answered if reply.status]),
        "send_seconds": round(wall, 3),
        "requests_per_s": round(len(requests) / wall, 1) if wall else 0.0,
        "first_request_at": min((r.started_at for r in answered), default=0.0),
        # In sending order, for a look at when the slow answers happened (0: no reply).
        "latencies_ms": [round(r.latency_s * 1000, 1) if r.status else 0 for r in answered],
    }


# --- the installation ----------------------------------------------------------------------
def configure_publisher(installation: Installation) -> str:
    """Give the benchmark publisher a Shopify signing key and topic (what the operator sets
    in the admin) and return the path and query of its Shopify webhook URL, as
    `pressrun carturls` prints it."""
    code = (
        "from pressrun.accounts.models import Publisher\n"
        "from pressrun.accounts.services import publisher_set_cart_credentials\n"
        f"publisher = Publisher.objects.get(id={installation.publisher_id})\n"
        "publisher_set_cart_credentials(\n"
        f"    publisher=publisher, shopify_webhook_key={WEBHOOK_KEY!r}\n"
        ")\n"
        f"Publisher.objects.filter(id=publisher.id).update(shopify_topics={TOPIC!r})"
    )
    installation.pressrun("shell", "--no-imports", "-c", code)
    urls = installation.pressrun("carturls", "--publisher", str(installation.publisher_id))
    printed = urls.splitlines()[0].split(": ", 1)[1]
    parts = urlsplit(printed)
    if parts.path != "/carts/shopify":
        raise RuntimeError(f"unexpected Shopify URL from `pressrun carturls`: {printed}")
    return f"{parts.path}?{parts.query}"


def start_worker(installation: Installation) -> tuple[subprocess.Popen[bytes], Path]:
    """`pressrun worker` in its own session; returns once it says it started."""
    log = installation.database.data_dir / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [str(PRESSRUN), "worker"],
            env=installation.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + WORKER_START_SECONDS
    while "pressrun worker " not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            raise RuntimeError(f"`pressrun worker` did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return worker, log


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        # start_new_session made this group the worker's own.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=STOP_SECONDS)


def _timestamp(value: Any) -> float:
    """A database timestamp as epoch seconds (SQLite: naive UTC text; PostgreSQL: aware)."""
    if value is None:
        return 0.0
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
    moment: datetime = value
    return moment.timestamp()


def processing_state(installation: Installation, prefix: str) -> dict[str, Any]:
    """Orders and deliveries of this burst, read straight from the service's database."""
    mark = "?" if installation.database.kind == "sqlite" else "%s"
    connection = installation.database.connect()
    try:
        orders = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT external_ref), MAX(created_at) FROM orders_order "
            f"WHERE publisher_id = {mark} AND source = 'shopify'",
            [installation.publisher_id],
        ).fetchone()
        outcomes = connection.execute(
            "SELECT outcome, COUNT(*), MAX(processed_at) FROM carts_inbounddelivery "
            f"WHERE publisher_id = {mark} AND cart = 'shopify' AND delivery_id LIKE {mark} "
            "GROUP BY outcome",
            [installation.publisher_id, f"{prefix}-%"],
        ).fetchall()
        if installation.database.kind != "sqlite":
            connection.rollback()
    finally:
        connection.close()
    return {
        "orders": int(orders[0]),
        "distinct_refs": int(orders[1]),
        "last_order_at": _timestamp(orders[2]),
        "outcomes": {str(row[0]): int(row[1]) for row in outcomes},
        "last_processed_at": max((_timestamp(row[2]) for row in outcomes), default=0.0),
    }


def wait_until_processed(
    installation: Installation, prefix: str, stored: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """Poll until every stored delivery has an outcome (or PROCESSING_TIMEOUT_SECONDS)."""
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    reported = time.monotonic()
    while True:
        state = processing_state(installation, prefix)
        done = sum(n for outcome, n in state["outcomes"].items() if outcome != "pending")
        if (done >= stored and not state["outcomes"].get("pending")) or (
            time.monotonic() > deadline
        ):
            state["timed_out"] = done < stored
            return state
        if time.monotonic() - reported > 10:
            say(f"      ... {done} of {stored} deliveries processed, {state['orders']} orders")
            reported = time.monotonic()
        time.sleep(0.2)


# --- the scenario --------------------------------------------------------------------------
def measure(
    installation: Installation,
    apps: list[str],
    options: argparse.Namespace,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The burst against pressrun (server + worker) and then against each other app."""
    target = configure_publisher(installation)
    count, connections = options.webhook_deliveries, options.webhook_connections
    result: dict[str, Any] = {"deliveries": count, "connections": connections}
    for app in apps:
        prefix = f"{app}-{uuid.uuid4().hex[:8]}"
        deliveries = plan_deliveries(
            count=count, project_ids=installation.project_ids, prefix=prefix
        )
        distinct = len({delivery.webhook_id for delivery in deliveries})
        worker = None
        server = installation.start(app)
        try:
            if app == "pressrun":
                worker, worker_log = start_worker(installation)
            requests = [
                http_request(delivery=d, port=server.port, target=target, key=WEBHOOK_KEY)
                for d in deliveries
            ]
            burst = send_burst(port=server.port, requests=requests, connections=connections)
            burst["distinct_deliveries"] = distinct
            burst["repeats_sent"] = sum(1 for delivery in deliveries if delivery.repeat)
            latency = burst["latency"]
            say(
                f"    {app:<9} {count} deliveries / {connections} conn in "
                f"{burst['send_seconds']:.1f} s: p50 {latency['p50_ms']:.1f} ms, p99 "
                f"{latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms, not 2xx "
                f"{burst['not_2xx']}"
            )
            if app == "pressrun":
                state = wait_until_processed(installation, prefix, distinct, say)
                first = burst["first_request_at"]
                burst["orders_created"] = state["orders"]
                burst["orders_expected"] = distinct
                burst["orders_distinct_refs"] = state["distinct_refs"]
                burst["delivery_outcomes"] = state["outcomes"]
                burst["processing_timed_out"] = state["timed_out"]
                burst["seconds_to_last_order"] = round(state["last_order_at"] - first, 2)
                burst["seconds_to_all_processed"] = round(state["last_processed_at"] - first, 2)
                say(
                    f"    {app:<9} orders created {state['orders']} (expected {distinct}); "
                    f"last order {burst['seconds_to_last_order']:.1f} s after the first "
                    f"request; outcomes {state['outcomes']}"
                )
            else:
                state = processing_state(installation, prefix)
                burst["deliveries_stored"] = sum(state["outcomes"].values())
        finally:
            if worker is not None:
                stop_worker(worker)
            server.stop()
        burst["server_tracebacks"] = server.tracebacks()
        if worker is not None:
            burst["worker_tracebacks"] = worker_log.read_text(errors="replace").count("Traceback")
        result[app] = burst
    return result


# --- report --------------------------------------------------------------------------------
def report_lines(data: dict[str, Any]) -> list[str]:
    """The burst's rows for run.py's table (nothing when the burst did not run)."""
    burst = data.get("webhook_burst")
    if not burst:
        return []
    lines = [
        f"  Shopify webhook burst: {burst['deliveries']} signed deliveries (10% repeats) at "
        f"{burst['connections']} connections",
        f"  {'app':<9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'not 2xx':>7} {'req/s':>7} "
        f"{'orders':>12} {'last order':>10} {'all done':>9}",
    ]
    for app in ("pressrun", "baseline"):
        run = burst.get(app)
        if not run:
            continue
        latency = run["latency"]
        if app == "pressrun":
            orders = f"{run['orders_created']}/{run['orders_expected']}"
            last = f"{run['seconds_to_last_order']:.1f} s"
            done = f"{run['seconds_to_all_processed']:.1f} s"
        else:
            orders, last, done = f"({run['deliveries_stored']} kept)", "-", "-"
        lines.append(
            f"  {app:<9} {latency['p50_ms']:>8.1f} {latency['p99_ms']:>8.1f} "
            f"{latency['max_ms']:>8.1f} {run['not_2xx']:>7} {run['requests_per_s']:>7.0f} "
            f"{orders:>12} {last:>10} {done:>9}"
        )
    return lines


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for the burst, per database."""
    rows = []
    for kind, data in results["databases"].items():
        run = data.get("webhook_burst", {}).get("pressrun")
        if not run:
            continue
        count = run["requests"]
        answered = run["not_2xx"] == 0 and run["latency"]["max_ms"] < SHOPIFY_TIMEOUT_SECONDS * 1000
        rows.append(
            {
                "target": f"{kind}: webhook burst, all {count} answered 2xx within 5 s",
                "measured": f"{run['not_2xx']} not 2xx, p99 {run['latency']['p99_ms']:.0f} ms, "
                f"max {run['latency']['max_ms']:.0f} ms",
                "met": answered,
                "gap": f"max is {run['latency']['max_ms'] / 5000:.0%} of Shopify's 5 s",
            }
        )
        exact = run["orders_created"] == run["orders_expected"] == run["orders_distinct_refs"]
        rows.append(
            {
                "target": f"{kind}: webhook burst creates exactly {run['orders_expected']} orders",
                "measured": f"{run['orders_created']} orders, last one "
                f"{run['seconds_to_last_order']:.1f} s after the first request",
                "met": exact and not run["processing_timed_out"],
                "gap": "exact" if exact else f"{run['orders_created'] - run['orders_expected']:+d}",
            }
        )
    return rows
