"""Shopify webhooks against the real server and worker: HTTP in, an order out, once."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.carts.shopify_payloads import order_json
from tests.live import LiveService

pytestmark = pytest.mark.e2e

POLL_SECONDS = 20.0

COUNT_ORDERS = """
import json
from pressrun.carts.models import InboundDelivery
from pressrun.orders.models import Order
orders = Order.objects.filter(source="shopify", external_ref="{ref}")
print(json.dumps({{
    "orders": [[o.invoice, o.external_ref, [(l.project_id, l.quantity) for l in o.lines.all()]]
               for o in orders],
    "deliveries": sorted(InboundDelivery.objects.filter(external_key__endswith=":{ref}")
                         .values_list("outcome", flat=True)),
}}))
"""


def _webhook_url(service: LiveService) -> str:
    output = service.pressrun("carturls", "--publisher", str(service.publisher_id))
    printed = output.splitlines()[0].split(": ", 1)[1]
    parts = urlsplit(printed)
    assert parts.path == "/carts/shopify"
    return service.url(f"{parts.path}?{parts.query}")


def _post(url: str, body: bytes, webhook_id: str) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/fulfilled",
            "X-Shopify-Shop-Domain": "e2e-shop.myshopify.com",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-API-Version": "2025-01",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _state(service: LiveService, ref: str) -> dict[str, list[object]]:
    result: dict[str, list[object]] = json.loads(service.shell(COUNT_ORDERS.format(ref=ref)))
    return result


def test_a_shopify_webhook_becomes_one_order_over_http(live_service: LiveService) -> None:
    url = _webhook_url(live_service)
    # Above 2^53, unique per run so the session's other tests cannot collide with it.
    ref = str(2**60 + random.randrange(10**9))
    name = f"#{random.randrange(10**6, 10**7)}"
    body = order_json(order_id=ref, name=name, skus=(("66750", 2, "Greatest Hits (CD)"),))

    assert _post(url, body, f"e2e-{ref}-1") == 200
    deadline = time.monotonic() + POLL_SECONDS
    state = _state(live_service, ref)
    while not state["orders"] and time.monotonic() < deadline:
        time.sleep(0.5)
        state = _state(live_service, ref)
    assert state["orders"] == [[name, ref, [[66750, 2]]]], live_service.logs()
    assert state["deliveries"] == ["order_created"]

    # Shopify repeats the same delivery, and a second subscription sends it under a new id.
    assert _post(url, body, f"e2e-{ref}-1") == 200
    assert _post(url, body, f"e2e-{ref}-2") == 200
    deadline = time.monotonic() + POLL_SECONDS
    while len(state["deliveries"]) < 2 or "pending" in state["deliveries"]:
        assert time.monotonic() < deadline, (state, live_service.logs())
        time.sleep(0.5)
        state = _state(live_service, ref)
    assert len(state["orders"]) == 1
    assert state["deliveries"] == ["duplicate", "order_created"]

    wrong = url.replace("token=", "token=x")
    assert _post(wrong, body, f"e2e-{ref}-3") == 401
