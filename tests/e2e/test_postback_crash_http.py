"""Tracking posted to Shopify survives the worker being killed at the worst moment: real
`pressrun worker` processes (the first killed with SIGKILL right after Shopify created the
fulfillment, before the post-back was recorded: PRESSRUN_FAULT_INJECTION
`postback_sent_before_recorded`), the Shopify Admin GraphQL emulator over real HTTP. The
second worker takes the task over once the first one's heartbeat is stale, asks Shopify what
it has, finds the fulfillment with this tracking number and records it: exactly one
fulfillmentCreate. On SQLite, and on PostgreSQL when PRESSRUN_DATABASE_URL is set.

The order is shipped with `fulfillment_move` in a `pressrun shell` (a real process on the
service's database), which queues the post-back in the same transaction, as every shipping
path does.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.e2e.test_email_crash_http import _wait_for_start, _wait_until_killed
from tests.live import (
    PRESSRUN,
    Account,
    LiveService,
    _base_environment,
    _free_port,
    _read,
    _stop,
    migrated_database,
)

pytestmark = pytest.mark.e2e

DEAD_AFTER_SECONDS = 8
PROMISED_SECONDS = 60
TOKEN = "shpat_c0ffeec0ffeec0ffeec0ffeec0ffee00"
SHOP = "crash-shop"


@dataclass
class Installation:
    service: LiveService
    emulator: ShopifyAdminEmulator
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str, *, fault: str = "") -> tuple[subprocess.Popen[bytes], Path]:
        env = dict(self.service.env)
        if fault:
            env["PRESSRUN_FAULT_INJECTION"] = fault
        log = self.service.data_dir / f"worker-{name}.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [str(PRESSRUN), "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        return worker, log


@pytest.fixture
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    data_dir = tmp_path_factory.mktemp("pressrun-postback-crash")
    with shopify_admin_api(tokens={SHOP: TOKEN}) as emulator:
        env = _base_environment(data_dir)
        env.update(
            {
                "PRESSRUN_SHOPIFY_ADMIN_API_BASE": emulator.base_url + "/{shop}",
                "PRESSRUN_WORKER_HEARTBEAT_SECONDS": "1",
                "PRESSRUN_WORKER_DEAD_AFTER_SECONDS": str(DEAD_AFTER_SECONDS),
            }
        )
        database = migrated_database(env, data_dir)
        port = _free_port()
        service = LiveService(
            base_url=f"http://127.0.0.1:{port}",
            env=env,
            data_dir=data_dir,
            account=Account(id=0, email="", password="", project_ids=()),
            server_log=data_dir / "server.log",
            worker_log=data_dir / "worker.log",
        )
        installed = Installation(service=service, emulator=emulator)
        try:
            service.account = service.create_publisher(balance="100.00")
            yield installed
        finally:
            service.close()
            for worker in installed.workers:
                _stop(worker)
            if database is not None:
                database.drop()


def _ship_a_shopify_order(service: LiveService, shopify_order_id: str) -> tuple[int, int]:
    """A paid Shopify order, shipped with UPS tracking; returns (order id, post-back id)."""
    code = f"""
from datetime import timedelta
from django.utils import timezone
from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts.models import CartPostback
from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place

publisher = Publisher.objects.get(id={service.publisher_id})
publisher_set_cart_credentials(publisher=publisher, shopify_admin_token={TOKEN!r})
order = order_place(
    request=OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id={service.project_ids[0]}, quantity=1),),
        recipient=RecipientRequest(
            name="Ann Buyer", address="1 Main St", city="Austin", state="TX",
            postal_code="78701", email="ann@example.com",
        ),
        mode="prod",
        source="shopify",
        invoice="#1001@{SHOP}",
        external_ref={shopify_order_id!r},
        store="{SHOP}.myshopify.com",
    ),
    publisher=publisher,
)
window_ended = timezone.now() - timedelta(minutes=1)
Order.objects.filter(id=order.id).update(address_changes_until=window_ended)
fulfillment_move(
    order_id=order.id, to="shipped", actor="operator:test", ship_date=timezone.now().date(),
    tracking_id="1Z999AA10123456784", carrier="UPS", service="UPS Ground",
)
print(order.id, CartPostback.objects.get(order_id=order.id).id)
"""
    order_id, postback_id = service.shell(code).split()[-2:]
    return int(order_id), int(postback_id)


def _postback_row(service: LiveService, postback_id: int) -> str:
    return service.shell(
        "from pressrun.carts.models import CartPostback\n"
        f"p = CartPostback.objects.get(id={postback_id})\n"
        "print(p.state, p.attempts, p.remote_id, sep='|')"
    )


def test_a_worker_killed_after_shopify_answered_creates_no_second_fulfillment(
    installation: Installation,
) -> None:
    service, emulator = installation.service, installation.emulator
    gid = emulator.add_order("6001")
    _, postback_id = _ship_a_shopify_order(service, "6001")
    assert _postback_row(service, postback_id) == "pending|0|"

    first, first_log = installation.start_worker(
        "killed", fault="postback_sent_before_recorded:kill"
    )
    killed_at = _wait_until_killed(first, first_log)
    # Shopify has the fulfillment; pressrun's row does not say so.
    assert [r.operation for r in emulator.requests] == ["order", "fulfillmentCreate"]
    (fulfillment,) = emulator.orders[gid][0].fulfillments
    assert _postback_row(service, postback_id) == "pending|1|"

    second, second_log = installation.start_worker("takes-over")
    _wait_for_start(second, second_log)
    deadline = killed_at + DEAD_AFTER_SECONDS + PROMISED_SECONDS
    state = ""
    while time.monotonic() < deadline:
        state = _postback_row(service, postback_id)
        if state.startswith("sent"):
            break
        time.sleep(0.5)
    # The re-run looked first, found this tracking number on Shopify's fulfillment, and
    # recorded it: one fulfillmentCreate in all.
    assert state == f"sent|1|{fulfillment.id}"
    assert [r.operation for r in emulator.requests] == ["order", "fulfillmentCreate", "order"]
    assert len(emulator.orders[gid][0].fulfillments) == 1
    time.sleep(2)  # anything else queued would run now
    _stop(second)
    assert [r.operation for r in emulator.mutations] == ["fulfillmentCreate"]
    assert "Traceback" not in _read(second_log), _read(second_log)
