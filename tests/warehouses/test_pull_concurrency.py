"""A publisher's warehouse calling twice at the same moment, on PostgreSQL: two exports
route each order once (both show it with the one LastModified it got), and the same
ShipNotice twice records one shipment."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from pressrun.warehouses.models import WarehouseOrder, WarehouseShipment
from tests.warehouses.conftest import Station
from tests.warehouses.test_pull import WIDE, make_warehouse, route, ship_notice, shipped

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 4


def at_once(station: Station, call: Callable[[Station], Any]) -> list[Any]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(call(Station(created=station.created, client=Client())))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == THREADS
    return results


def last_modified(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)
    return {
        order.findtext("OrderID") or "": order.findtext("LastModified") or ""
        for order in root.findall("Order")
    }


def test_exports_at_once_route_each_order_once(publisher: Any) -> None:
    station = make_warehouse(publisher)
    orders = [route(station, str(n)) for n in range(6)]
    answers = [last_modified(r) for r in at_once(station, lambda s: s.export(*WIDE))]
    stored = {
        f"WH-{order.id}": order.updated_at.strftime("%m/%d/%Y %H:%M")
        for order in WarehouseOrder.objects.all()
    }
    assert set(WarehouseOrder.objects.values_list("state", flat=True)) == {"routed"}
    # Every export that saw an order saw it with the LastModified it keeps.
    for answer in answers:
        assert all(stored[number] == shown for number, shown in answer.items())
    assert {number for answer in answers for number in answer} == {
        f"WH-{order.id}" for order in orders
    }


def test_the_same_notice_at_once_records_one_shipment(publisher: Any) -> None:
    station = make_warehouse(publisher)
    order = route(station, "1")
    station.export(*WIDE)
    body = ship_notice(f"WH-{order.id}")
    statuses = [r.status_code for r in at_once(station, lambda s: s.notify(body))]
    assert statuses == [200] * THREADS
    assert WarehouseShipment.objects.count() == 1
    assert shipped(order) == [("ACME-BOOK", 3, 3), ("ACME-MUG", 6, 6), ("TEE", 1, 1)]
