"""Shopify webhooks against the real server and worker: HTTP in, an order out, once."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

from pressrun.carts.shopify.verify import shopify_signature
from pressrun.carts.views import SHOPIFY_SENDER_UNCHECKED
from tests.carts.shopify_payloads import order_json
from tests.live import LiveService

pytestmark = pytest.mark.e2e

POLL_SECONDS = 20.0

COUNT_ORDERS = """
import json
from pressrun.carts.models import InboundDelivery
from pressrun.orders.models import Order
# The deliveries first: a delivery's outcome commits with or after its order, so every
# order a delivery read here says it created is committed before the orders are read.
deliveries = sorted(InboundDelivery.objects.filter(external_key__endswith=":{ref}")
                    .values_list("outcome", flat=True))
orders = Order.objects.filter(source="shopify", external_ref="{ref}")
print(json.dumps({{
    "orders": [[o.invoice, o.external_ref, [(l.project_id, l.quantity) for l in o.lines.all()]]
               for o in orders],
    "deliveries": deliveries,
}}))
"""


def _webhook_url(service: LiveService) -> str:
    output = service.setup("carturls", "--publisher", str(service.publisher_id))
    printed = output.splitlines()[0].split(": ", 1)[1]
    parts = urlsplit(printed)
    assert parts.path == "/carts/shopify"
    return service.url(f"{parts.path}?{parts.query}")


def _post(
    url: str,
    body: bytes,
    webhook_id: str,
    *,
    shop: str = "e2e-shop.myshopify.com",
    signature: str | None = None,
) -> int:
    return _post_answer(url, body, webhook_id, shop=shop, signature=signature)[0]


def _post_answer(
    url: str,
    body: bytes,
    webhook_id: str,
    *,
    shop: str = "e2e-shop.myshopify.com",
    signature: str | None = None,
) -> tuple[int, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/fulfilled",
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2025-01",
    }
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


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
    # Until the delivery has its outcome: the deliveries are read before the orders, so the
    # order may already be seen with its delivery still pending (committed in between).
    while (not state["orders"] or "pending" in state["deliveries"]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
        state = _state(live_service, ref)
    assert state["orders"] == [[f"{name}@e2e-shop", ref, [[66750, 2]]]], live_service.logs()
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


STORE_ORDERS = """
import json
from pressrun.orders.models import Order
orders = Order.objects.filter(source="shopify", external_ref__in={refs!r}).order_by("id")
print(json.dumps([[o.invoice, o.store, o.external_ref] for o in orders]))
"""


def test_two_stores_of_one_publisher_each_sending_1040_make_two_orders_over_http(
    live_service: LiveService,
) -> None:
    url = _webhook_url(live_service)
    run = random.randrange(10**6)
    stores = [
        (f"artist-a-{run}.myshopify.com", str(2**59 + 2 * run)),
        (f"artist-b-{run}.myshopify.com", str(2**59 + 2 * run + 1)),
    ]
    for shop, ref in stores:
        body = order_json(order_id=ref, name="#1040", skus=(("66750", 1, "Greatest Hits"),))
        assert _post(url, body, f"e2e-store-{ref}", shop=shop) == 200
    refs = [ref for _, ref in stores]
    expected = [[f"#1040@artist-a-{run}", stores[0][0], refs[0]]]
    expected.append([f"#1040@artist-b-{run}", stores[1][0], refs[1]])

    deadline = time.monotonic() + POLL_SECONDS
    orders = json.loads(live_service.shell(STORE_ORDERS.format(refs=refs)))
    while len(orders) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        orders = json.loads(live_service.shell(STORE_ORDERS.format(refs=refs)))
    assert orders == expected, live_service.logs()

    # The same order of the first store, delivered again by a second subscription: one order.
    body = order_json(order_id=refs[0], name="#1040", skus=(("66750", 1, "Greatest Hits"),))
    assert _post(url, body, f"e2e-store-{refs[0]}-again", shop=stores[0][0]) == 200
    deadline = time.monotonic() + POLL_SECONDS
    state = _state(live_service, refs[0])
    while state["deliveries"] != ["duplicate", "order_created"]:
        assert time.monotonic() < deadline, (state, live_service.logs())
        time.sleep(0.5)
        state = _state(live_service, refs[0])
    assert json.loads(live_service.shell(STORE_ORDERS.format(refs=refs))) == expected


SET_KEY = """
from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
publisher_set_cart_credentials(
    publisher=Publisher.objects.get(id={publisher_id}), shopify_webhook_key={key!r}
)
print("ok")
"""


def _printed_urls(service: LiveService, publisher_id: int) -> dict[str, str]:
    output = service.setup("carturls", "--publisher", str(publisher_id))
    return dict(line.split(": ", 1) for line in output.splitlines())


def test_the_specs_url_without_token_is_accepted_only_with_a_valid_signature_over_http(
    live_service: LiveService,
) -> None:
    account = live_service.create_publisher(
        balance="100.00", projects=(("Single (CD)", "cd", "sleeve", "4.50", None),)
    )
    (project_id,) = account.project_ids
    spec_url = _printed_urls(live_service, account.id)["Shopify (once its signing key is saved)"]
    assert urlsplit(spec_url).query == f"idpub={account.id}"
    target = live_service.url(f"/carts/shopify?idpub={account.id}")
    ref = str(2**58 + random.randrange(10**9))
    body = order_json(order_id=ref, name="#77", skus=((str(project_id), 1, "Single"),))
    key = "shpss_e2e_" + uuid.uuid4().hex

    # No key saved: refused, clearly, and nothing is kept.
    status, text = _post_answer(target, body, f"e2e-spec-{ref}-0")
    assert (status, text) == (401, SHOPIFY_SENDER_UNCHECKED + "\n")

    assert live_service.shell(SET_KEY.format(publisher_id=account.id, key=key)) == "ok"
    assert urlsplit(_printed_urls(live_service, account.id)["Shopify"]).query == (
        f"idpub={account.id}"
    )

    # Unsigned or signed with another key: 401, nothing kept.
    assert _post_answer(target, body, f"e2e-spec-{ref}-1") == (401, "Signature missing.\n")
    forged = shopify_signature(key="shpss_not_the_key", body=body)
    assert _post_answer(target, body, f"e2e-spec-{ref}-2", signature=forged) == (
        401,
        "Signature does not match.\n",
    )
    assert _state(live_service, ref) == {"orders": [], "deliveries": []}

    # Signed with the saved key: stored, processed into one order.
    good = shopify_signature(key=key, body=body)
    status, text = _post_answer(target, body, f"e2e-spec-{ref}-3", signature=good)
    assert status == 200, text
    deadline = time.monotonic() + POLL_SECONDS
    state = _state(live_service, ref)
    while (not state["orders"] or "pending" in state["deliveries"]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
        state = _state(live_service, ref)
    assert state == {
        "orders": [["#77@e2e-shop", ref, [[project_id, 1]]]],
        "deliveries": ["order_created"],
    }, live_service.logs()
