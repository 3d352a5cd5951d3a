"""The push protocol under concurrency, on PostgreSQL: four runs of one push's task at the
same moment send it once (the claim), four stock reports of one warehouse at once leave the
newest count of each SKU (the connection's row lock), and the same signed confirmation four
times at once records one shipment."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from pressrun.warehouses.inbound import StockItem, StockReport
from pressrun.warehouses.models import WarehousePush, WarehouseShipment, WarehouseStockLevel
from pressrun.warehouses.push import warehouse_push_attempt, warehouse_push_configure
from pressrun.warehouses.signing import signature
from pressrun.warehouses.stock import warehouse_stock_report
from tests.threads import run_together
from tests.warehouses import warehouse_emulator
from tests.warehouses.test_pull import make_warehouse, route
from tests.warehouses.test_push_inbound import Wms
from tests.warehouses.warehouse_emulator import Warehouse

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 4


@pytest.fixture(autouse=True)
def _push_settings(_quiet_tasks: None, settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


@pytest.fixture
def wms() -> Iterator[Warehouse]:
    with warehouse_emulator.running() as running:
        yield running


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = []
    assert run_together(*(lambda call=call: results.append(call()) for call in calls)) == []
    assert len(results) == len(calls)
    return results


def test_runs_of_one_push_at_once_send_it_once(publisher: Any, wms: Warehouse) -> None:
    station = make_warehouse(publisher)
    _, wms.secret = warehouse_push_configure(connection_id=station.id, url=wms.url)
    order = route(station, "1040")
    push = WarehousePush.objects.get(order=order)
    wms.delay_seconds = 0.5  # the others come while the first is sending
    outcomes = at_once([lambda: warehouse_push_attempt(push_id=push.id)] * THREADS)
    assert sorted(outcomes) == ["", "", "", "delivered"]
    assert len(wms.requests) == 1
    assert push.attempts.count() == 1
    order.refresh_from_db()
    assert order.state == "routed"


def test_stock_reports_at_once_keep_the_newest_count(publisher: Any) -> None:
    station = make_warehouse(publisher)
    connection_row = station.created.connection
    base = timezone.now() - timezone.timedelta(hours=1)

    def report(minutes: int) -> Callable[[], Any]:
        return lambda: warehouse_stock_report(
            connection=connection_row,
            report=StockReport(
                as_of=base + timezone.timedelta(minutes=minutes),
                items=(StockItem("MUG", minutes), StockItem(f"ONLY-{minutes}", 1)),
            ),
        )

    at_once([report(minutes) for minutes in (10, 40, 20, 30)])
    levels = dict(
        WarehouseStockLevel.objects.filter(connection=connection_row).values_list("sku", "quantity")
    )
    assert levels == {"MUG": 40, "ONLY-10": 1, "ONLY-20": 1, "ONLY-30": 1, "ONLY-40": 1}


def test_one_confirmation_four_times_at_once_is_one_shipment(publisher: Any) -> None:
    wms = Wms(publisher)
    order = route(wms.station, "1040")
    body = json.dumps({"order_id": f"WH-{order.id}", "tracking_number": "1ZSAME"}).encode()
    timestamp = int(time.time())
    headers = {
        "HTTP_X_PRESSRUN_TIMESTAMP": str(timestamp),
        "HTTP_X_PRESSRUN_SIGNATURE": signature(secret=wms.secret, timestamp=timestamp, body=body),
    }

    def post() -> Any:  # a client of its own per thread
        return Client().post(
            f"/warehouses/{wms.id}/shipments", body, content_type="application/json", **headers
        )

    answers = at_once([post] * THREADS)
    outcomes = sorted(answer.json()["outcome"] for answer in answers)
    assert outcomes == ["applied", "repeated", "repeated", "repeated"]
    assert WarehouseShipment.objects.filter(order=order).count() == 1
