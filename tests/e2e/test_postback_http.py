"""From a Shopify webhook to tracking back in Shopify, with real processes: `pressrun serve`
takes the webhook over HTTP, `pressrun worker` makes the order, an operator ships it (the
move function, in a `pressrun shell`), the worker posts the tracking to the Shopify Admin
GraphQL emulator (a correct `fulfillmentCreate`) and sends the customer's tracking email (a
file), and the gateway's status call answers SHIPPED with ShipDate and TrackingID. On
SQLite, and on PostgreSQL when PRESSRUN_DATABASE_URL is set."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest

from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.carts.shopify_payloads import order_json
from tests.e2e.test_fulfillment_http import shipped_email
from tests.e2e.test_gateway_http import STATUS, sections, send, status_fields
from tests.live import (
    PRESSRUN,
    Account,
    LiveService,
    _base_environment,
    _free_port,
    _read,
    _stop,
    _wait_for_health,
    _wait_for_worker,
    migrated_database,
)

pytestmark = pytest.mark.e2e

TOKEN = "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"
SHOP = "e2e-tracks"
SHOPIFY_ORDER_ID = "820982911946154508"


@pytest.fixture
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveService, ShopifyAdminEmulator]]:
    data_dir = tmp_path_factory.mktemp("pressrun-postback")
    with shopify_admin_api(tokens={SHOP: TOKEN}) as emulator:
        env = _base_environment(data_dir)
        env["PRESSRUN_SHOPIFY_ADMIN_API_BASE"] = emulator.base_url + "/{shop}"
        database = migrated_database(env, data_dir)
        port = _free_port()
        env["PRESSRUN_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        service = LiveService(
            base_url=f"http://127.0.0.1:{port}",
            env=env,
            data_dir=data_dir,
            account=Account(id=0, email="", password="", project_ids=()),
            server_log=data_dir / "server.log",
            worker_log=data_dir / "worker.log",
        )
        try:
            service.account = service.create_publisher(balance="100.00")
            with service.server_log.open("wb") as out:
                server = subprocess.Popen(
                    [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            service.processes.append(server)
            _wait_for_health(service, server)
            with service.worker_log.open("wb") as out:
                worker = subprocess.Popen(
                    [str(PRESSRUN), "worker"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            service.processes.append(worker)
            _wait_for_worker(service, worker)
            yield service, emulator
            assert "Traceback" not in service.logs(), service.logs()
        finally:
            service.close()
            for process in service.processes:
                _stop(process)
            if database is not None:
                database.drop()


def wait_for(happened: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if happened():
            return
        time.sleep(0.3)
    pytest.fail(f"waited {seconds} s for {what}")


ORDER_OF = """
from pressrun.orders.models import Order
order = Order.objects.filter(source="shopify", external_ref="{ref}").first()
print("" if order is None else f"{{order.id}} {{order.invoice}} {{order.status}}")
"""

SHIP = """
from datetime import timedelta
from django.utils import timezone
from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.models import Order
Order.objects.filter(id={order_id}).update(
    address_changes_until=timezone.now() - timedelta(minutes=1))
fulfillment_move(order_id={order_id}, to="shipped", actor="operator:e2e",
    ship_date=timezone.now().date(), tracking_id="1Z999AA10123456784", carrier="UPS",
    service="UPS Ground", postage_cost=None)
"""

POSTBACK = """
from pressrun.carts.models import CartPostback
p = CartPostback.objects.filter(order_id={order_id}).first()
print("" if p is None else f"{{p.state}}|{{p.attempts}}|{{p.remote_id}}")
"""


def test_a_shopify_order_ships_and_its_tracking_goes_back_to_shopify(
    served: tuple[LiveService, ShopifyAdminEmulator],
) -> None:
    service, emulator = served
    account = service.account
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    # The publisher creates orders on payment, and saved the shop's Admin API token.
    service.shell(
        "from pressrun.accounts.models import Publisher\n"
        "from pressrun.accounts.services import publisher_set_cart_credentials\n"
        f"p = Publisher.objects.get(id={account.id})\n"
        "Publisher.objects.filter(id=p.id).update(shopify_topics='orders/paid')\n"
        f"publisher_set_cart_credentials(publisher=p, shopify_admin_token={TOKEN!r})\n"
    )

    # Shopify's webhook, over HTTP, to the URL the dashboard shows.
    printed = service.setup("carturls", "--publisher", str(account.id)).splitlines()[0]
    url = urlsplit(printed.split(": ", 1)[1])
    body = order_json(
        order_id=SHOPIFY_ORDER_ID,
        name="#1001",
        skus=((str(account.project_ids[0]), 1, "Single (CD)"),),
        email="buyer@example.com",
    )
    request = urllib.request.Request(
        service.url(f"{url.path}?{url.query}"),
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Shop-Domain": f"{SHOP}.myshopify.com",
            "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "X-Shopify-API-Version": "2025-07",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    found: list[str] = []

    def order_made() -> bool:
        found[:] = service.shell(ORDER_OF.format(ref=SHOPIFY_ORDER_ID)).split()
        return bool(found)

    wait_for(order_made, "the order from the webhook")
    order_id, invoice, status = found
    assert (invoice, status) == (f"#1001@{SHOP}", "PROCESSING")

    service.shell(SHIP.format(order_id=order_id))
    state: list[str] = []

    def posted() -> bool:
        state[:] = service.shell(POSTBACK.format(order_id=order_id)).split("|")
        return state[0] == "sent"

    wait_for(posted, "the post-back")
    fulfillment_order = emulator.orders[gid][0]
    (fulfillment,) = fulfillment_order.fulfillments
    assert state == ["sent", "1", fulfillment.id]
    assert [r.operation for r in emulator.requests] == ["order", "fulfillmentCreate"]
    assert emulator.requests[1].variables == {
        "fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fulfillment_order.id}],
            "notifyCustomer": False,
            "trackingInfo": {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            },
        }
    }
    assert fulfillment_order.status == "CLOSED"

    # The gateway's status call, over HTTP.
    today = datetime.now(UTC).date()
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert (section["OrderStatus"], section["ShipDate"], section["TrackingID"]) == (
        "SHIPPED",
        today.strftime("%m/%d/%Y"),
        "1Z999AA10123456784",
    )

    # The customer's tracking email, written by the worker.
    mail_dir = service.data_dir / "mail"
    wait_for(lambda: shipped_email(mail_dir, order_id) is not None, "the tracking email")
    raw = shipped_email(mail_dir, order_id)
    assert raw is not None
    message = message_from_bytes(raw.lstrip(b"\n"), policy=policy.default)
    assert str(message["To"]) == "buyer@example.com"
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Tracking number (UPS): 1Z999AA10123456784" in text
    assert "Track your package: https://www.ups.com/track?tracknum=1Z999AA10123456784" in text
    assert json.loads(body)["id"] == int(SHOPIFY_ORDER_ID)
    assert "Traceback" not in _read(service.worker_log)
