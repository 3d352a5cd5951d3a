"""A warehouse on the push protocol, with the cart behind it: the proof order of issue 11 from
Shopify's webhook, its warehouse half pushed to a local WMS emulator, and the WMS's signed
JSON confirmations — out of order, each sent twice — each posted back to Shopify (the Admin
GraphQL emulator) exactly once, after which the warehouse order closes. Nothing is sent
twice to the cart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from pressrun.warehouses.models import WarehouseOrder, WarehousePush
from pressrun.warehouses.push import warehouse_push_attempt, warehouse_push_configure
from pressrun.warehouses.signing import signature
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator
from tests.carts.test_postback_shipments import (
    GIFTSET,
    SHIRT,
    cd,
    emulator,
    place_proof_order,
    publisher,
    run_postbacks,
    station,
)
from tests.warehouses import warehouse_emulator
from tests.warehouses.conftest import Station
from tests.warehouses.warehouse_emulator import Warehouse

pytestmark = pytest.mark.django_db

__all__ = ["cd", "emulator", "publisher", "station"]


@pytest.fixture
def wms(settings: Any, station: Station) -> Iterator[Warehouse]:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    with warehouse_emulator.running() as running:
        _, running.secret = warehouse_push_configure(connection_id=station.id, url=running.url)
        yield running


def confirm(wms: Warehouse, connection_id: int, message: dict[str, Any]) -> str:
    body = json.dumps(message).encode()
    timestamp = int(time.time())
    response = Client().post(
        f"/warehouses/{connection_id}/shipments",
        body,
        content_type="application/json",
        HTTP_X_PRESSRUN_TIMESTAMP=str(timestamp),
        HTTP_X_PRESSRUN_SIGNATURE=signature(secret=wms.secret, timestamp=timestamp, body=body),
    )
    assert response.status_code == 200, response.content
    return str(response.json()["outcome"])


def test_confirmations_out_of_order_and_twice_reach_the_cart_once(
    publisher: Any, cd: Any, station: Station, emulator: ShopifyAdminEmulator, wms: Warehouse
) -> None:
    _order, gid = place_proof_order(publisher, emulator)
    warehouse_order = WarehouseOrder.objects.get()
    push = WarehousePush.objects.get(order=warehouse_order)
    assert warehouse_push_attempt(push_id=push.id) == "delivered"
    [pushed] = wms.orders.values()
    assert [(line["sku"], line["quantity"]) for line in pushed["lines"]] == [
        ("ACME-TEE-M", 2),
        ("ACME-BOOK", 3),
        ("ACME-MUG", 6),
    ]
    number = f"WH-{warehouse_order.id}"

    def package(tracking: str, shirts: int, books: int, mugs: int) -> dict[str, Any]:
        return {
            "order_id": number,
            "tracking_number": tracking,
            "carrier": "UPS",
            "lines": [
                {"sku": "ACME-TEE-M", "quantity": shirts},
                {"sku": "ACME-BOOK", "quantity": books},
                {"sku": "ACME-MUG", "quantity": mugs},
            ],
        }

    first, second = package("T-1", 1, 1, 2), package("T-2", 1, 2, 4)
    # The second package's confirmation arrives first, and the WMS retries both.
    assert confirm(wms, station.id, second) == "applied"
    assert confirm(wms, station.id, second) == "repeated"
    assert confirm(wms, station.id, first) == "applied"
    assert confirm(wms, station.id, first) == "repeated"
    assert run_postbacks() == ["sent", "sent"]
    assert run_postbacks() == []
    assert emulator.fulfilled(gid) == [
        (("T-2",), [(SHIRT, 1), (GIFTSET, 2)]),
        (("T-1",), [(SHIRT, 1), (GIFTSET, 1)]),
    ]
    # A confirmation of a package already posted back, once more: still nothing new.
    assert confirm(wms, station.id, first) == "repeated"
    assert run_postbacks() == []
    warehouse_order.refresh_from_db()
    assert warehouse_order.state == "closed"
