"""The "mixed cart orders" phase of `make bench`: a sale whose cart orders go to both halves.

The publisher sells its pressrun projects (discs) and goods a warehouse with an API stocks
(docs/warehouses.md, "A WMS with an API, step by step"). `--mixed-cart-orders` Shopify cart
orders (1,000; 200 with `--quick`) arrive as signed `orders/paid` webhooks, the way the
webhook burst sends them (bench/webhook_burst.py: same bodies, headers and signature), over
`--mixed-cart-connections` (32) keep-alive connections, to `pressrun serve` while
`pressrun worker` runs:

- half of them (the even-numbered) order only projects: one pressrun order each;
- the other half have lines routed to the warehouse: a listed SKU (`BENCH-TEE`) and/or a
  bundle (`BENCH-BUNDLE`, listed as `ACME-POSTER` x 1 + `ACME-MUG` x 2): one warehouse
  order each; one in five of them is **mixed** (a disc + the listed SKU + the bundle), and
  makes a pressrun order too.

The warehouse is a connection in push mode whose URL is a small local HTTP server
(`python bench/mixed_carts.py warehouse`, its own process so it takes no CPU from the
sender): it checks each push's signature with the connection's secret, keeps each order
once by its idempotency key and answers 200, as a WMS does.

Reported: the cart's answers (p50 / p99 / max of the webhook responses, answers/s), and the
seconds from the first request until **everything is routed**: every cart line routed,
every pressrun order placed, every warehouse order pushed (its push accepted: state
`routed`); also the counts against what was sent, and what the warehouse received (each
order once, every signature valid). The same requests (with their own delivery ids) then go
to the framework-free baseline (`baseline_app.py`), which checks the signature and stores
the delivery: the floor for the answering part (it routes nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import webhook_burst
from webhook_burst import Delivery, Installation

BENCH = Path(__file__).resolve().parent
# Shopify order ids of this phase: above 2^53, and clear of the webhook burst's.
FIRST_ORDER_ID = 2**60 + 7_000_000
# Its orders' numbers (their names, #B<number>, are pressrun's invoices): clear of the
# burst's, which start at 0, so no order of this phase is refused as a duplicate invoice.
FIRST_NUMBER = 500_000
SEED = 1100
LISTED_SKU = "BENCH-TEE"
BUNDLE_SKU = "BENCH-BUNDLE"
LISTINGS_CSV = (
    "channel_sku,warehouse_sku,quantity\n"
    f"{LISTED_SKU},ACME-TEE,1\n"
    f"{BUNDLE_SKU},ACME-POSTER,1\n"
    f"{BUNDLE_SKU},ACME-MUG,2\n"
)
CARRIER_CODES_CSV = "Carrier,Code,Description\nUSPS,USPS_GROUND,Ground Advantage\n"
ROUTING_TIMEOUT_SECONDS = 900.0
# Waiting stops early once every delivery is processed and nothing has moved for this long
# (a delivery that failed leaves lines that will never be routed).
STALLED_SECONDS = 60.0
WAREHOUSE_START_SECONDS = 30.0
STOP_SECONDS = 20.0
SIGNATURE_MAX_AGE_SECONDS = 300


# --- options (registered by bench/run.py) ----------------------------------------------------
class _Only(argparse.Action):
    """`--mixed-carts-only` also switches the webhook burst and the postage phase off."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        namespace.mixed_carts_only = True
        namespace.no_webhooks = True
        namespace.no_postage = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mixed-cart-orders",
        type=int,
        help="Shopify cart orders in the mixed phase, half routed to a warehouse (1000)",
    )
    parser.add_argument("--mixed-cart-connections", type=int, default=32)
    parser.add_argument(
        "--no-mixed-carts", action="store_true", help="skip the mixed cart orders phase"
    )
    parser.add_argument(
        "--mixed-carts-only",
        nargs=0,
        action=_Only,
        default=False,
        help="only the mixed cart orders phase (no webhook burst, postage or gateway phases)",
    )


def wanted(options: argparse.Namespace) -> bool:
    if options.mixed_carts_only:
        return True
    return not (options.no_mixed_carts or options.webhooks_only or options.postage_only)


def order_count(options: argparse.Namespace) -> int:
    if options.mixed_cart_orders is not None:
        return int(options.mixed_cart_orders)
    return 200 if options.quick else 1000


# --- the cart orders -----------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    deliveries: list[Delivery]
    pressrun_orders: int  # cart orders with a project line
    warehouse_orders: int  # cart orders with a warehouse line
    mixed: int
    lines: int


def plan_orders(*, count: int, project_ids: tuple[int, ...], prefix: str) -> Plan:
    """`count` cart orders, no repeats (the webhook burst measures those): even numbers
    projects only, odd ones warehouse lines, one odd in five mixed."""
    rng = random.Random(SEED)
    deliveries, pressrun, warehouse, mixed, lines = [], 0, 0, 0, 0
    for number in range(count):
        disc = (str(rng.choice(project_ids)), rng.randint(1, 3))
        goods = [(LISTED_SKU, rng.randint(1, 3)), (BUNDLE_SKU, rng.randint(1, 2))]
        if number % 2 == 0:
            skus = [
                (str(pid), rng.randint(1, 3))
                for pid in rng.sample(project_ids, rng.randint(1, len(project_ids)))
            ]
            pressrun += 1
        elif number % 10 == 1:
            skus = [disc, *goods]
            pressrun, warehouse, mixed = pressrun + 1, warehouse + 1, mixed + 1
        else:
            skus = rng.choice([goods[:1], goods[1:], goods])
            warehouse += 1
        lines += len(skus)
        order_id = FIRST_ORDER_ID + number
        deliveries.append(
            Delivery(
                webhook_id=f"{prefix}-{uuid.UUID(int=rng.getrandbits(128))}",
                order_id=order_id,
                body=webhook_burst.order_body(
                    order_id=order_id, number=FIRST_NUMBER + number, skus=skus
                ),
                repeat=False,
            )
        )
    return Plan(deliveries, pressrun, warehouse, mixed, lines)


# --- the warehouse -------------------------------------------------------------------------
def _signature_valid(secret: str, headers: Any, body: bytes) -> bool:
    """docs/warehouses.md's check: HMAC-SHA256 of `timestamp.body`, fresh within 5 minutes."""
    timestamp = headers.get("X-Pressrun-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
        return False
    expected = (
        "sha256="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    return hmac.compare_digest(expected, headers.get("X-Pressrun-Signature", ""))


def serve_warehouse(port: int, secret: str) -> None:
    """The WMS: POST /orders takes a signed push (200; 401 for a bad signature), GET /stats
    says what it received. Runs until SIGTERM."""
    lock = threading.Lock()
    stats: dict[str, Any] = {"requests": 0, "bad_signatures": 0, "lines": 0}
    orders: dict[str, str] = {}  # idempotency key -> pressrun's order id (WH-n)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            valid = _signature_valid(secret, self.headers, body)
            with lock:
                stats["requests"] += 1
                if not valid:
                    stats["bad_signatures"] += 1
            if not valid:
                self._answer(401, {"error": "bad signature"})
                return
            order = json.loads(body)
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                duplicate = key in orders
                if not duplicate:
                    orders[key] = str(order["id"])
                    stats["lines"] += len(order["lines"])
                number = list(orders).index(key) + 1
            self._answer(200, {"warehouse_order": f"ACME-{number}", "duplicate": duplicate})

        def do_GET(self) -> None:
            with lock:
                payload = dict(stats, orders=len(orders), distinct_ids=len(set(orders.values())))
            self._answer(200, payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


@dataclass
class WarehouseProcess:
    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, port: int, secret: str, env: dict[str, str]) -> WarehouseProcess:
        process = subprocess.Popen(
            [sys.executable, str(BENCH / "mixed_carts.py"), "warehouse", "--port", str(port)],
            env=dict(env, BENCH_WAREHOUSE_SECRET=secret),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        warehouse = cls(process, port)
        deadline = time.monotonic() + WAREHOUSE_START_SECONDS
        while True:
            try:
                warehouse.stats()
                return warehouse
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    warehouse.stop()
                    raise RuntimeError("the bench warehouse did not start") from None
                time.sleep(0.1)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as reply:
            data: dict[str, Any] = json.loads(reply.read())
        return data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)


def configure_warehouse(installation: Installation, url: str) -> tuple[int, str]:
    """The publisher's warehouse as the operator sets it up: listings, a carrier code, a
    rule for Shopify's "Standard Shipping", enabled, pushing to `url`. (id, secret)"""
    code = (
        "from pressrun.warehouses.carrier_codes import carrier_codes_import, "
        "description_rule_create\n"
        "from pressrun.warehouses.listings import listings_import\n"
        "from pressrun.warehouses.push import warehouse_push_configure\n"
        "from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled\n"
        f"c = warehouse_create(name='Bench WMS', publisher_id={installation.publisher_id})"
        ".connection\n"
        f"listings_import(connection_id=c.id, data={LISTINGS_CSV.encode()!r})\n"
        f"carrier_codes_import(connection_id=c.id, data={CARRIER_CODES_CSV.encode()!r})\n"
        "description_rule_create(connection_id=c.id, match='starts_with', text='Standard', "
        "carrier_code='USPS_GROUND')\n"
        "warehouse_set_enabled(connection_id=c.id, enabled=True)\n"
        f"_, secret = warehouse_push_configure(connection_id=c.id, url={url!r})\n"
        "print(c.id, secret)\n"
    )
    connection_id, secret = installation.pressrun("shell", "--no-imports", "-c", code).split()
    return int(connection_id), secret


# --- where the orders are ------------------------------------------------------------------
def routing_state(installation: Installation, prefix: str) -> dict[str, Any]:
    """This phase's deliveries, cart lines, pressrun orders and warehouse orders with their
    pushes, read straight from the service's database."""
    mark = "?" if installation.database.kind == "sqlite" else "%s"
    publisher = installation.publisher_id
    keys = (
        f"SELECT external_key FROM carts_inbounddelivery WHERE publisher_id = {mark} "
        f"AND cart = 'shopify' AND delivery_id LIKE {mark}"
    )
    key_args = [publisher, f"{prefix}-%"]
    connection = installation.database.connect()
    try:
        outcomes = connection.execute(
            "SELECT outcome, COUNT(*) FROM carts_inbounddelivery WHERE publisher_id = "
            f"{mark} AND cart = 'shopify' AND delivery_id LIKE {mark} GROUP BY outcome",
            key_args,
        ).fetchall()
        lines = connection.execute(
            "SELECT COUNT(*), COUNT(l.routed_at), MAX(l.routed_at), "
            "SUM(CASE WHEN l.destination = 'project' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN l.destination = 'warehouse' THEN 1 ELSE 0 END) "
            "FROM carts_cartorderline l JOIN carts_cartorder c ON c.id = l.cart_order_id "
            f"WHERE c.publisher_id = {mark} AND c.cart = 'shopify' AND c.external_key IN ({keys})",
            [publisher, *key_args],
        ).fetchone()
        orders = connection.execute(
            "SELECT COUNT(*), MAX(o.created_at) FROM orders_order o WHERE o.id IN ("
            "SELECT l.order_id FROM carts_cartorderline l JOIN carts_cartorder c "
            f"ON c.id = l.cart_order_id WHERE c.publisher_id = {mark} AND c.cart = 'shopify' "
            f"AND c.external_key IN ({keys}))",
            [publisher, *key_args],
        ).fetchone()
        warehouse = connection.execute(
            "SELECT w.state, COUNT(*), COUNT(p.id), "
            "SUM(CASE WHEN p.status = 'delivered' THEN 1 ELSE 0 END), MAX(p.delivered_at) "
            "FROM warehouses_warehouseorder w "
            "LEFT JOIN warehouses_warehousepush p ON p.order_id = w.id "
            f"WHERE w.publisher_id = {mark} AND w.cart = 'shopify' AND w.external_key IN ({keys}) "
            "GROUP BY w.state",
            [publisher, *key_args],
        ).fetchall()
        attempts = connection.execute(
            "SELECT COUNT(*) FROM warehouses_warehousepushattempt a "
            "JOIN warehouses_warehousepush p ON p.id = a.push_id "
            "JOIN warehouses_warehouseorder w ON w.id = p.order_id "
            f"WHERE w.publisher_id = {mark} AND w.external_key IN ({keys})",
            [publisher, *key_args],
        ).fetchone()
        if installation.database.kind != "sqlite":
            connection.rollback()
    finally:
        connection.close()
    stamp = webhook_burst._timestamp
    return {
        "outcomes": {str(row[0]): int(row[1]) for row in outcomes},
        "lines": int(lines[0]),
        "lines_routed": int(lines[1]),
        "lines_to_projects": int(lines[3] or 0),
        "lines_to_warehouse": int(lines[4] or 0),
        "last_line_routed_at": stamp(lines[2]),
        "pressrun_orders": int(orders[0]),
        "last_order_at": stamp(orders[1]),
        "warehouse_orders": sum(int(row[1]) for row in warehouse),
        "warehouse_states": {str(row[0]): int(row[1]) for row in warehouse},
        "pushes": sum(int(row[2]) for row in warehouse),
        "pushes_delivered": sum(int(row[3] or 0) for row in warehouse),
        "last_push_delivered_at": max((stamp(row[4]) for row in warehouse), default=0.0),
        "push_attempts": int(attempts[0]),
    }


def all_routed(state: dict[str, Any], plan: Plan) -> bool:
    return (
        state["lines"] == plan.lines
        and state["lines_routed"] == plan.lines
        and state["pressrun_orders"] == plan.pressrun_orders
        and state["warehouse_states"].get("routed", 0) == plan.warehouse_orders
        and state["pushes_delivered"] == plan.warehouse_orders
    )


def wait_until_routed(
    installation: Installation, prefix: str, plan: Plan, say: Callable[[str], None]
) -> dict[str, Any]:
    deadline = time.monotonic() + ROUTING_TIMEOUT_SECONDS
    reported = moved = time.monotonic()
    last: dict[str, Any] = {}
    while True:
        state = routing_state(installation, prefix)
        done = all_routed(state, plan)
        if state != last:
            last, moved = state, time.monotonic()
        stalled = (
            not state["outcomes"].get("pending") and time.monotonic() - moved > STALLED_SECONDS
        )
        if done or stalled or time.monotonic() > deadline:
            state["timed_out"] = not done
            return state
        if time.monotonic() - reported > 10:
            say(
                f"      ... {state['lines_routed']} of {plan.lines} lines routed, "
                f"{state['pressrun_orders']} pressrun orders, {state['pushes_delivered']} of "
                f"{plan.warehouse_orders} warehouse orders pushed"
            )
            reported = time.monotonic()
        time.sleep(0.2)


# --- the phase -----------------------------------------------------------------------------
def measure(
    installation: Installation,
    apps: list[str],
    options: argparse.Namespace,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The mixed cart orders against pressrun (server + worker + warehouse), then against
    each other app."""
    count, connections = order_count(options), options.mixed_cart_connections
    target = webhook_burst.configure_publisher(installation)
    port = free_port()
    # The push goes to loopback: allowed for this installation only, as in the tests.
    env = installation.env
    loopback = env.get("PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK")
    env["PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK"] = "1"
    counts = plan_orders(count=count, project_ids=installation.project_ids, prefix="plan")
    result: dict[str, Any] = {
        "orders": count,
        "connections": connections,
        "plan": {
            "cart_orders": count,
            "lines": counts.lines,
            "pressrun_orders": counts.pressrun_orders,
            "warehouse_orders": counts.warehouse_orders,
            "mixed": counts.mixed,
        },
    }
    try:
        connection_id, secret = configure_warehouse(installation, f"http://127.0.0.1:{port}/orders")
        result["warehouse_connection"] = connection_id
        for app in apps:
            result[app] = _measure_app(
                installation,
                app,
                count=count,
                connections=connections,
                target=target,
                warehouse_port=port,
                secret=secret,
                say=say,
            )
    finally:
        if loopback is None:
            env.pop("PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK", None)
        else:
            env["PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK"] = loopback
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _measure_app(
    installation: Installation,
    app: str,
    *,
    count: int,
    connections: int,
    target: str,
    warehouse_port: int,
    secret: str,
    say: Callable[[str], None],
) -> dict[str, Any]:
    prefix = f"mixed-{app}-{uuid.uuid4().hex[:8]}"
    plan = plan_orders(count=count, project_ids=installation.project_ids, prefix=prefix)
    warehouse = worker = None
    run: dict[str, Any] = {}
    if app == "pressrun":
        warehouse = WarehouseProcess.start(warehouse_port, secret, installation.env)
    server = installation.start(app)
    try:
        if app == "pressrun":
            worker, worker_log = webhook_burst.start_worker(installation)
        requests = [
            webhook_burst.http_request(
                delivery=d, port=server.port, target=target, key=webhook_burst.WEBHOOK_KEY
            )
            for d in plan.deliveries
        ]
        burst = webhook_burst.send_burst(
            port=server.port, requests=requests, connections=connections
        )
        burst.pop("latencies_ms")
        burst.pop("repeat_replies")
        run.update(burst)
        latency = burst["latency"]
        say(
            f"    {app:<9} {count} cart orders / {connections} conn in "
            f"{burst['send_seconds']:.1f} s: p50 {latency['p50_ms']:.1f} ms, p99 "
            f"{latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms, "
            f"{burst['requests_per_s']:.0f}/s, not 2xx {burst['not_2xx']}"
        )
        if app == "pressrun" and warehouse is not None:
            state = wait_until_routed(installation, prefix, plan, say)
            first = burst["first_request_at"]
            last = max(
                state["last_line_routed_at"],
                state["last_order_at"],
                state["last_push_delivered_at"],
            )
            run["state"] = state
            run["warehouse_received"] = warehouse.stats()
            run["all_routed"] = not state["timed_out"]
            run["seconds_to_last_order"] = round(state["last_order_at"] - first, 2)
            run["seconds_to_last_push"] = round(state["last_push_delivered_at"] - first, 2)
            run["seconds_to_all_routed"] = round(last - first, 2)
            run["routed_per_s"] = round(count / (last - first), 1) if last > first else 0.0
            received = run["warehouse_received"]
            say(
                f"    {app:<9} all routed {run['seconds_to_all_routed']:.1f} s after the first "
                f"request ({'complete' if run['all_routed'] else 'INCOMPLETE'}): "
                f"{state['pressrun_orders']}/{plan.pressrun_orders} pressrun orders, "
                f"{state['pushes_delivered']}/{plan.warehouse_orders} warehouse orders pushed "
                f"({state['push_attempts']} attempts); the warehouse got {received['orders']} "
                f"orders in {received['requests']} requests; deliveries {state['outcomes']}"
            )
        else:
            stored = webhook_burst.processing_state(installation, prefix)
            run["deliveries_stored"] = sum(stored["outcomes"].values())
    finally:
        if worker is not None:
            webhook_burst.stop_worker(worker)
        server.stop()
        if warehouse is not None:
            warehouse.stop()
    run["server_tracebacks"] = server.tracebacks()
    if worker is not None:
        run["worker_tracebacks"] = worker_log.read_text(errors="replace").count("Traceback")
    return run


# --- report --------------------------------------------------------------------------------
def report_lines(data: dict[str, Any]) -> list[str]:
    """The phase's rows for run.py's table (nothing when it did not run)."""
    phase = data.get("mixed_carts")
    if not phase:
        return []
    plan = phase["plan"]
    lines = [
        f"  mixed cart orders: {phase['orders']} Shopify orders at {phase['connections']} "
        f"connections ({plan['pressrun_orders']} with projects, {plan['warehouse_orders']} "
        f"with warehouse lines, {plan['mixed']} both; {plan['lines']} lines)",
        f"  {'app':<9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'not 2xx':>7} {'req/s':>7} "
        f"{'orders':>9} {'pushed':>9} {'last push':>9} {'all routed':>10}",
    ]
    for app in ("pressrun", "baseline"):
        run = phase.get(app)
        if not run:
            continue
        latency = run["latency"]
        if app == "pressrun":
            state = run["state"]
            orders = f"{state['pressrun_orders']}/{plan['pressrun_orders']}"
            pushed = f"{state['pushes_delivered']}/{plan['warehouse_orders']}"
            last = f"{run['seconds_to_last_push']:.1f} s"
            done = f"{run['seconds_to_all_routed']:.1f} s" + ("" if run["all_routed"] else "!")
        else:
            orders, pushed, last, done = f"({run['deliveries_stored']} kept)", "-", "-", "-"
        lines.append(
            f"  {app:<9} {latency['p50_ms']:>8.1f} {latency['p99_ms']:>8.1f} "
            f"{latency['max_ms']:>8.1f} {run['not_2xx']:>7} {run['requests_per_s']:>7.0f} "
            f"{orders:>9} {pushed:>9} {last:>9} {done:>10}"
        )
    return lines


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 11's proof: every cart order placed and pushed, each warehouse order once."""
    rows = []
    for kind, data in results["databases"].items():
        phase = data.get("mixed_carts", {})
        run = phase.get("pressrun")
        if not run:
            continue
        plan, state, received = phase["plan"], run["state"], run["warehouse_received"]
        once = received["orders"] == received["distinct_ids"] == plan["warehouse_orders"]
        rows.append(
            {
                "target": f"{kind}: {plan['cart_orders']} mixed cart orders all placed and "
                "pushed, each warehouse order received once",
                "measured": f"{state['pressrun_orders']} pressrun orders, "
                f"{state['pushes_delivered']} pushed, {received['orders']} at the warehouse, "
                f"all routed after {run['seconds_to_all_routed']:.1f} s",
                "met": run["all_routed"] and once and run["not_2xx"] == 0,
                "gap": f"p99 of the cart's answers {run['latency']['p99_ms']:.0f} ms",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="the mixed cart phase's warehouse")
    parser.add_argument("role", choices=["warehouse"])
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    serve_warehouse(options.port, os.environ["BENCH_WAREHOUSE_SECRET"])


if __name__ == "__main__":
    main()
