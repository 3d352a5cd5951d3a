"""The warehouse push protocol end to end: the real `pressrun serve` and `pressrun worker`
processes, and a local warehouse emulator over HTTP (tests/warehouses/warehouse_emulator.py):

1. a warehouse answering 500, then 200, gets the order once (the retry's due time moved to
   now rather than waited for), and its signed shipment confirmations, sent twice and out of
   order over HTTP, are recorded once each; a forged one is refused;
2. a worker killed with SIGKILL while its push is in flight: the next worker sends it again
   under the same idempotency key once the first one's heartbeat is stale, and the warehouse
   has one order.

The installation is the email crash tests' (its own data dir or database, no worker of its
own), so each test decides which worker runs.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.test_email_crash_http import (
    DEAD_AFTER_SECONDS,
    PROMISED_SECONDS,
    CrashService,
    _wait_for_start,
    crash_installation,
    crash_service,
)
from tests.live import _read, _stop
from tests.warehouses import warehouse_emulator
from tests.warehouses.warehouse_emulator import Warehouse

pytestmark = pytest.mark.e2e

__all__ = ["crash_installation", "crash_service"]


@dataclass
class Pushing:
    crash: CrashService
    wms: Warehouse
    connection_id: int

    def route(self, key: str) -> int:
        """A cart order routed to the warehouse (as the carts route one): its order id."""
        return int(
            self.crash.shell(
                "from pressrun.warehouses.models import WarehouseConnection\n"
                "from pressrun.warehouses.orders import CartLineToRoute, CartOrderHeader, "
                "warehouse_order_add\n"
                f"c = WarehouseConnection.objects.get(id={self.connection_id})\n"
                "order, _ = warehouse_order_add(connection=c, header=CartOrderHeader(\n"
                f"    cart='shopify', external_key='shop.example:{key}', name='#{key}',\n"
                "    test=False, recipient={'name': 'Ann Buyer', 'country': 'US'},\n"
                "    shipping_description='Standard'),\n"
                f"    lines=[CartLineToRoute(line_key='{key}-1', sku='GIFTSET', title='Gift set',"
                " quantity=1),\n"
                f"           CartLineToRoute(line_key='{key}-2', sku='TEE', title='Tee',"
                " quantity=1)])\n"
                "print(order.id)\n"
            )
        )

    def state(self, order_id: int) -> str:
        """The push's status, its attempts and the order's state: `delivered|1|routed`."""
        return self.crash.shell(
            "from pressrun.warehouses.models import WarehousePush\n"
            f"p = WarehousePush.objects.select_related('order').get(order_id={order_id})\n"
            "print(p.status, p.attempts.count(), p.order.state, sep='|')\n"
        )

    def wait_for_state(self, order_id: int, expected: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.state(order_id)) != expected:
            if time.monotonic() > deadline:
                return state
            time.sleep(0.5)
        return state


@pytest.fixture
def pushing(crash_service: CrashService) -> Iterator[Pushing]:
    """A publisher's enabled warehouse set to push to the emulator."""
    with warehouse_emulator.running() as wms:
        account = crash_service.service.account
        printed = crash_service.shell(
            "from pressrun.warehouses.carrier_codes import carrier_codes_import, "
            "description_rule_create\n"
            "from pressrun.warehouses.listings import listings_import\n"
            "from pressrun.warehouses.push import warehouse_push_configure\n"
            "from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled\n"
            f"c = warehouse_create(name='Acme WMS', publisher_id={account.id}).connection\n"
            "warehouse_set_enabled(connection_id=c.id, enabled=True)\n"
            "listings_import(connection_id=c.id, data=b'channel_sku,warehouse_sku,quantity\\n"
            "GIFTSET,ACME-BOOK,1\\nGIFTSET,ACME-MUG,2\\n')\n"
            "carrier_codes_import(connection_id=c.id, data=b'Carrier,Code,Description\\n"
            "USPS,USPS_PRIORITY,Priority\\n')\n"
            "description_rule_create(connection_id=c.id, match='is', text='Standard', "
            "carrier_code='USPS_PRIORITY')\n"
            f"_, secret = warehouse_push_configure(connection_id=c.id, url={wms.url!r})\n"
            "print(c.id, secret)\n"
        )
        connection_id, wms.secret = printed.split()
        yield Pushing(crash=crash_service, wms=wms, connection_id=int(connection_id))


def test_500_then_200_delivers_once_and_confirmations_count_once(pushing: Pushing) -> None:
    crash, wms = pushing.crash, pushing.wms
    wms.script = [500]
    order_id = pushing.route("1040")
    worker, log = crash.start_worker("push-500")
    _wait_for_start(worker, log)
    [first] = wms.wait_for(1)
    assert first.signature_valid
    assert pushing.wait_for_state(order_id, "pending|1|open") == "pending|1|open"
    # The retry is due a minute later: move its time to now rather than wait for it.
    crash.shell(
        "from django.utils import timezone\n"
        "from django_tasks_db.models import DBTaskResult\n"
        "from pressrun.warehouses.models import WarehousePush\n"
        "now = timezone.now()\n"
        f"WarehousePush.objects.filter(order_id={order_id}).update(next_attempt_at=now)\n"
        "DBTaskResult.objects.filter(task_path='pressrun.warehouses.tasks.warehouse_push_send',"
        " status='READY').update(run_after=now)\n"
    )
    assert pushing.wait_for_state(order_id, "delivered|2|routed") == "delivered|2|routed"
    _first, second = wms.requests
    assert second.body == first.body
    assert second.idempotency_key == first.idempotency_key
    assert len(wms.orders) == 1
    pushed = second.json()
    assert pushed["id"] == f"WH-{order_id}"
    assert [(line["sku"], line["quantity"]) for line in pushed["lines"]] == [
        ("ACME-BOOK", 1),
        ("ACME-MUG", 2),
        ("TEE", 1),
    ]

    # The warehouse ships in two packages and confirms the second first, each twice.
    base = crash.service.base_url
    path = f"/warehouses/{pushing.connection_id}/shipments"
    tee = {"order_id": f"WH-{order_id}", "tracking_number": "1ZTEE", "carrier": "UPS",
           "lines": [{"sku": "TEE", "quantity": 1}]}  # fmt: skip
    rest = {"order_id": f"WH-{order_id}", "tracking_number": "1ZREST", "carrier": "UPS",
            "lines": [{"line_item_id": pushed["lines"][0]["line_item_id"], "quantity": 1},
                      {"sku": "ACME-MUG", "quantity": 2}]}  # fmt: skip
    outcomes = [wms.post(base, path, message) for message in (tee, tee, rest, rest, tee)]
    assert [(status, answer["outcome"]) for status, answer in outcomes] == [
        (200, "applied"),
        (200, "repeated"),
        (200, "applied"),
        (200, "repeated"),
        (200, "repeated"),
    ]
    # More than is left: refused, nothing changed. Another secret: refused.
    status, answer = wms.post(base, path, {**tee, "tracking_number": "1ZMORE"})
    tee_line = pushed["lines"][2]["line_item_id"]
    assert (status, answer["error"]) == (409, f"Line {tee_line} (TEE) has 0 left to ship, not 1.")
    forger = Warehouse(secret="wmssec_guessed")
    assert forger.post(base, path, {**tee, "tracking_number": "1ZFORGED"})[0] == 401
    shipped = crash.shell(
        "from pressrun.warehouses.models import WarehouseOrder\n"
        f"o = WarehouseOrder.objects.get(id={order_id})\n"
        "print(o.state, o.shipped_at is not None, "
        "sorted(o.shipments.values_list('tracking_number', flat=True)), "
        "[(l.warehouse_sku, l.quantity_shipped) for l in o.lines.order_by('id')], sep='|')\n"
    )
    assert shipped == (
        "partially_shipped|True|['1ZREST', '1ZTEE']|[('ACME-BOOK', 1), ('ACME-MUG', 2), ('TEE', 1)]"
    )
    time.sleep(2)  # anything else queued would arrive now
    _stop(worker)
    assert len(wms.requests) == 2
    assert "Traceback" not in _read(log), _read(log)


def test_a_worker_killed_mid_push_leaves_one_order_at_the_warehouse(pushing: Pushing) -> None:
    crash, wms = pushing.crash, pushing.wms
    # The first request hangs: the worker is killed while it waits for the answer.
    wms.delay_seconds = 60
    wms.delayed_requests = 1
    order_id = pushing.route("2040")
    first, first_log = crash.start_worker("push-killed")
    _wait_for_start(first, first_log)
    [in_flight] = wms.wait_for(1)
    assert in_flight.signature_valid
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = time.monotonic()
    assert pushing.state(order_id) == "sending|0|open"

    second, second_log = crash.start_worker("after-push-killed")
    _wait_for_start(second, second_log)
    remaining = killed_at + DEAD_AFTER_SECONDS + PROMISED_SECONDS - time.monotonic()
    _, retry = wms.wait_for(2, timeout=remaining)
    assert retry.body == in_flight.body
    assert retry.idempotency_key == in_flight.idempotency_key
    assert json.loads(retry.body)["id"] == f"WH-{order_id}"
    assert pushing.wait_for_state(order_id, "delivered|1|routed") == "delivered|1|routed"
    time.sleep(2)  # anything else queued would arrive now
    _stop(second)
    # Two requests for one order: the warehouse deduplicated on the key and made one.
    assert len(wms.requests) == 2
    assert list(wms.orders) == [in_flight.idempotency_key]
    assert "Traceback" not in _read(second_log), _read(second_log)
