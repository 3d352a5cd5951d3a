"""The postage phase of `make bench`: a shipping station's work against `pressrun serve`.

A ShipStation-compatible station (created with `pressrun createwarehouse`) pulls
`--postage-orders` ready orders (10,000; 1,000 with `--quick`) through the Custom Store
export and posts one ShipNotice per order:

1. the orders are written through the ORM in one `pressrun shell` (paid production orders,
   ready, one line each, their last change spread over one hour two days ago, so the export's
   date window selects exactly them and nothing the other phases placed);
2. **export**: one keep-alive connection asks for every page of that window in turn
   (`?action=export&start_date=…&end_date=…&page=N`, HTTP Basic auth): time per page
   (p50 / p99 / max) and for the whole export;
3. **shipnotify**: `--postage-connections` (16) keep-alive clients post one ShipNotice per
   order (each order once; every call moves it to shipped, writes its history entry and
   keeps the notice): calls/s and latency percentiles, then a check that every order is
   shipped exactly once.

The station's credentials are verified once per server process and then come from the
credential cache, as in production.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

FIRST_INVOICE = "POSTAGE"
WINDOW_AGE = timedelta(days=2)


class Server(Protocol):
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None: ...
    def tracebacks(self) -> int: ...


class Installation(Protocol):
    env: dict[str, str]
    publisher_id: int
    project_ids: tuple[int, ...]

    def pressrun(self, *args: str, timeout: float = 600) -> str: ...
    def start(self, app: str) -> Server: ...


def window() -> tuple[datetime, datetime]:
    """The hour the orders' last change is spread over (minutes, UTC)."""
    start = (datetime.now(UTC) - WINDOW_AGE).replace(second=0, microsecond=0)
    return start, start + timedelta(hours=1)


def create_orders(installation: Installation, count: int, start: datetime) -> list[int]:
    """`count` ready orders whose last change lies in the hour from `start`; their ids."""
    code = f"""
from datetime import datetime, timedelta, UTC
from decimal import Decimal
from django.db import transaction
from pressrun.orders.models import Order, OrderLine
from pressrun.catalog.models import Project
projects = list(Project.objects.filter(id__in={list(installation.project_ids)!r}))
start = datetime.fromisoformat({start.isoformat()!r})
placed = start - timedelta(hours=13)
count = {count}
with transaction.atomic():
    orders = Order.objects.bulk_create([
        Order(
            publisher_id={installation.publisher_id}, mode="prod", status="PROCESSING",
            invoice=f"{FIRST_INVOICE}{{i:06d}}", source="gateway",
            email=f"buyer{{i}}@example.com", name=f"Buyer {{i}}",
            address=f"{{i % 900 + 1}} Main St",
            city="Austin", state="TX", postal_code="78701", country="US",
            mail_method="standard", shipping_method="standard",
            products_cost=projects[i % len(projects)].price, shipping_cost=Decimal("1.25"),
            total_cost=projects[i % len(projects)].price + Decimal("1.25"),
            charged_at=placed, fulfillment_state="ready",
            fulfillment_updated_at=start + timedelta(seconds=3600 * i / count),
            address_changes_until=placed + timedelta(hours=12), created_at=placed,
        )
        for i in range(count)
    ], batch_size=1000)
    OrderLine.objects.bulk_create([
        OrderLine(
            order=order, project=projects[i % len(projects)], position=1, quantity=1,
            unit_price=projects[i % len(projects)].price, mode="prod", invoice=order.invoice,
            created_at=placed,
        )
        for i, order in enumerate(orders)
    ], batch_size=1000)
print("IDS", " ".join(str(order.id) for order in orders))
"""
    output = installation.pressrun("shell", "-v", "0", "-c", code, timeout=1800)
    ids = output.rsplit("IDS", 1)[-1]
    return [int(value) for value in ids.split()]


def shipped_count(installation: Installation, first_id: int, last_id: int) -> dict[str, int]:
    code = f"""
from pressrun.orders.models import Order, OrderEvent
ids = range({first_id}, {last_id} + 1)
print("COUNTS", Order.objects.filter(id__in=ids, fulfillment_state="shipped").count(),
      OrderEvent.objects.filter(order_id__in=ids, to_state="shipped").count())
"""
    output = installation.pressrun("shell", "-v", "0", "-c", code)
    shipped, events = output.rsplit("COUNTS", 1)[-1].split()
    return {"orders_shipped": int(shipped), "shipped_history_entries": int(events)}


def _authorization(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def export_builder(
    port: int, authorization: str, start: datetime, end: datetime
) -> Callable[[int, int], bytes]:
    when = "%m/%d/%Y %H:%M"

    def build(connection: int, sequence: int) -> bytes:
        query = urlencode(
            {
                "action": "export",
                "start_date": start.strftime(when),
                "end_date": end.strftime(when),
                "page": str(sequence + 1),
            }
        )
        return (
            f"GET /warehouses/shipstation?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {authorization}\r\n\r\n"
        ).encode()

    return build


def notify_builder(
    port: int, authorization: str, order_ids: list[int]
) -> Callable[[int, int], bytes]:
    """Each request ships the next order (each order once; the count wraps around only if
    more requests are sent than there are orders, which then are no-op repeats)."""
    counter = itertools.count()
    today = datetime.now(UTC).strftime("%m/%d/%Y")

    def build(connection: int, sequence: int) -> bytes:
        index = next(counter) % len(order_ids)
        order_id = order_ids[index]
        invoice = f"{FIRST_INVOICE}{index:06d}"
        tracking = f"9400{order_id:018d}"
        body = (
            '<?xml version="1.0" encoding="utf-8"?><ShipNotice>'
            f"<OrderNumber>{invoice}</OrderNumber><OrderID>{order_id}</OrderID>"
            f"<ShipDate>{today}</ShipDate><Carrier>USPS</Carrier>"
            "<Service>First Class Mail</Service>"
            f"<TrackingNumber>{tracking}</TrackingNumber><ShippingCost>0.98</ShippingCost>"
            "</ShipNotice>"
        ).encode()
        query = urlencode(
            {
                "action": "shipnotify",
                "order_number": invoice,
                "carrier": "USPS",
                "service": "",
                "tracking_number": tracking,
            }
        )
        head = (
            f"POST /warehouses/shipstation?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {authorization}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body

    return build


def classify_export(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    return None if body.startswith(b"<?xml") and b"<Orders pages=" in body else "not XML"


def classify_notify(status: int, body: bytes) -> str | None:
    if status == 200 and body.startswith(b"OK Order"):
        return None
    return f"HTTP {status}: {body[:60].decode(errors='replace')}"


def measure(
    installation: Installation,
    options: argparse.Namespace,
    say: Callable[[str], None],
    make_measurement: Callable[[Server], Any],
) -> dict[str, Any]:
    """Create the orders and the station, then the export and the shipnotify runs."""
    count = options.postage_orders
    start, end = window()
    result: dict[str, Any] = {"orders": count, "page_size": 100}
    started = time.perf_counter()
    order_ids = create_orders(installation, count, start)
    result["create_seconds"] = round(time.perf_counter() - started, 1)
    credentials = dict(
        part.split("=", 1)
        for part in installation.pressrun("createwarehouse", "--name", "bench station").split()
    )
    authorization = _authorization(credentials["username"], credentials["password"])
    server = installation.start("pressrun")
    try:
        measurement = make_measurement(server)
        pages = -(-count // 100)
        export = measurement.run(
            build=export_builder(server.port, authorization, start, end),
            classify=classify_export,
            connections=1,
            duration_s=3600.0,
            max_requests=pages,
        )
        export["pages"] = pages
        result["export"] = export
        latency = export["latency"]
        say(
            f"    export    {pages} pages of 100 orders: p50 {latency['p50_ms']:.1f} ms/page, "
            f"p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms; all in "
            f"{export['window_wall_s']:.1f} s, err {export['errors']}"
        )
        notify = measurement.run(
            build=notify_builder(server.port, authorization, order_ids),
            classify=classify_notify,
            connections=options.postage_connections,
            duration_s=3600.0,
            max_requests=count,
        )
        result["shipnotify"] = notify
        latency = notify["latency"]
        say(
            f"    shipnotify {notify['completed']} calls / {options.postage_connections} conn: "
            f"{notify['ok_per_s']:.1f}/s, p50 {latency['p50_ms']:.1f} ms, p99 "
            f"{latency['p99_ms']:.1f} ms, err {notify['errors']}"
        )
    finally:
        server.stop()
    result["server_tracebacks"] = server.tracebacks()
    result.update(shipped_count(installation, min(order_ids), max(order_ids)))
    say(
        f"    shipped {result['orders_shipped']} of {count} orders, "
        f"{result['shipped_history_entries']} history entries"
    )
    return result


def report_lines(data: dict[str, Any]) -> list[str]:
    """The phase's rows for run.py's table (nothing when it did not run)."""
    postage = data.get("postage")
    if not postage:
        return []
    export, notify = postage["export"], postage["shipnotify"]
    return [
        f"  Postage: {postage['orders']} ready orders, a ShipStation-compatible station",
        f"  {'call':<22} {'count':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'err':>4}",
        f"  {'export (per page)':<22} {export['pages']:>6} {export['ok_per_s']:>8.1f} "
        f"{export['latency']['p50_ms']:>8.1f} {export['latency']['p99_ms']:>8.1f} "
        f"{export['latency']['max_ms']:>8.1f} {export['errors']:>4}",
        f"  {'shipnotify':<22} {notify['completed']:>6} {notify['ok_per_s']:>8.1f} "
        f"{notify['latency']['p50_ms']:>8.1f} {notify['latency']['p99_ms']:>8.1f} "
        f"{notify['latency']['max_ms']:>8.1f} {notify['errors']:>4}",
        f"  shipped {postage['orders_shipped']}/{postage['orders']}, history entries "
        f"{postage['shipped_history_entries']}",
    ]
