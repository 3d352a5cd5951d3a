"""1ShoppingCart against the real server and worker: a notification over HTTP, the order read
from the (emulated) 1ShoppingCart API by the worker, one order out — through outages too."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.carts.oneshoppingcart_emulator import API_KEY, MERCHANT_ID, Emulator, notification
from tests.live import Account, LiveService

pytestmark = pytest.mark.e2e

POLL_SECONDS = 30.0

SETUP = """
from pressrun.accounts.models import Publisher
from pressrun.catalog.models import Project
from pressrun.catalog.services import project_update
from pressrun.core.sealed import seal
publisher = Publisher.objects.get(id={publisher_id})
publisher.oneshoppingcart_merchant_id = "{merchant_id}"
publisher.oneshoppingcart_api_key_sealed = seal("{api_key}")
publisher.save()
project_update(project=Project.objects.get(id={project_id}), ecommerce_ids="<{sku}>")
print("ok")
"""

STATE = """
import json
from pressrun.carts.models import InboundDelivery
from pressrun.orders.models import Order
# The deliveries first: a delivery's outcome commits with or after its order, so every
# order a delivery read here says it created is committed before the orders are read.
deliveries = [
    # Keyed by the 1ShoppingCart order id (a test-mode delivery's key is "test:<id>").
    [d.external_key.removeprefix("test:"), d.outcome, d.attempts]
    for d in InboundDelivery.objects.filter(publisher_id={publisher_id}).order_by("id")
]
orders = Order.objects.filter(source="1shoppingcart", publisher_id={publisher_id})
print(json.dumps({{
    "orders": [
        [o.invoice, o.mode, o.name, o.state, o.country, o.mail_method,
         [(l.project_id, l.quantity) for l in o.lines.all()]]
        for o in orders.order_by("id")
    ],
    "deliveries": deliveries,
}}))
"""


@pytest.fixture(scope="module")
def shop(live_service: LiveService) -> tuple[Account, str]:
    """A publisher set up the way the guide says: credentials saved, SKU mapped."""
    account = live_service.create_publisher(balance="200.00")
    sku = f"OSC-{uuid.uuid4().hex[:6]}"
    code = SETUP.format(
        publisher_id=account.id,
        merchant_id=MERCHANT_ID,
        api_key=API_KEY,
        project_id=account.project_ids[0],
        sku=sku,
    )
    assert live_service.shell(code).strip() == "ok"
    return account, sku


def _notification_url(service: LiveService, account: Account) -> str:
    output = service.setup("carturls", "--publisher", str(account.id))
    line = next(x for x in output.splitlines() if x.startswith("1ShoppingCart (test mode"))
    parts = urlsplit(line.split(": ", 1)[1])
    assert parts.path == "/carts/1shoppingcart"
    # The spec's URL: TSMode, TSPub, TSErrEM, and no token.
    assert [name for name, _ in parse_qsl(parts.query)] == ["TSMode", "TSPub", "TSErrEM"]
    return service.url(f"{parts.path}?{parts.query}")


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/xml"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _state(service: LiveService, account: Account) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(service.shell(STATE.format(publisher_id=account.id)))
    return result


def _wait(service: LiveService, account: Account, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        state = _state(service, account)
        mine = [d for d in state["deliveries"] if d[0] == token]
        if mine and all(d[1] != "pending" for d in mine):
            return state
        assert time.monotonic() < deadline, (state, service.logs())
        time.sleep(0.5)


def test_a_notification_becomes_one_order_read_from_the_api(
    live_service: LiveService, oneshoppingcart_api: Emulator, shop: tuple[Account, str]
) -> None:
    account, sku = shop
    url = _notification_url(live_service, account)
    token = str(uuid.uuid4().int % 10**9)
    oneshoppingcart_api.add_order(
        token, lines=[(sku, 2, "Single (CD)")], shipping_method="USPS Priority Mail"
    )
    assert _post(url, notification(token)) == 200
    state = _wait(live_service, account, token)
    assert [d for d in state["deliveries"] if d[0] == token] == [[token, "order_created", 1]]
    assert [o for o in state["orders"] if o[0] == token] == [
        [token, "test", "Pat Jones", "CA", "US", "priority", [[account.project_ids[0], 2]]]
    ]

    # 1ShoppingCart repeats a notification until it gets a 200: a repeat makes nothing new.
    assert _post(url, notification(token)) == 200
    state = _wait(live_service, account, token)
    assert sorted(d[1] for d in state["deliveries"] if d[0] == token) == [
        "duplicate",
        "order_created",
    ]
    assert len([o for o in state["orders"] if o[0] == token]) == 1


def test_an_api_outage_is_retried_until_the_order_is_placed(
    live_service: LiveService, oneshoppingcart_api: Emulator, shop: tuple[Account, str]
) -> None:
    account, sku = shop
    url = _notification_url(live_service, account)
    token = str(uuid.uuid4().int % 10**9)
    oneshoppingcart_api.add_order(token, lines=[(sku, 1, "Single (CD)")])
    oneshoppingcart_api.fail_next(1, "503")
    oneshoppingcart_api.fail_next(1, "drop")
    assert _post(url, notification(token)) == 200
    state = _wait(live_service, account, token)
    assert [d for d in state["deliveries"] if d[0] == token] == [[token, "order_created", 3]]
    assert len([o for o in state["orders"] if o[0] == token]) == 1


def test_a_wrong_token_or_mode_is_refused(
    live_service: LiveService, shop: tuple[Account, str]
) -> None:
    account, _ = shop
    url = _notification_url(live_service, account)
    # The spec's URL has no token; one that is given must be right.
    assert "token=" not in url
    assert _post(url + "&token=wrong", notification("1")) == 401
    assert _post(url.replace("TSMode=test", "TSMode=live"), notification("1")) == 400

    # The URL names an error address (TSErrEM): the worker emails it what is wrong.
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        sent = [
            path.read_text(errors="replace")
            for path in (live_service.data_dir / "mail").glob("*.log")
        ]
        mine = [text for text in sent if "TSMode='live'" in text and account.email in text]
        if mine:
            break
        assert time.monotonic() < deadline, live_service.logs()
        time.sleep(0.5)
    assert "Subject: 1ShoppingCart order ? was not placed" in mine[0]
    assert "TSMode must be test or prod." in mine[0]
