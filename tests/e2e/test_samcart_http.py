"""SamCart Notify URL posts against the real server and worker: one order per SamCart order.

SamCart's Product Purchased trigger sends one notification per product, as JSON or as a form
(carts.md). The service keeps each one, waits the grace window (PRESSRUN_SAMCART_GRACE_SECONDS,
2 s for these tests) and then places ONE order with every product of that SamCart order.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.carts.samcart_payloads import as_form, as_json, notification
from tests.live import Account, LiveService

pytestmark = pytest.mark.e2e
REFUND_IGNORED = (
    "Event 'Refund' is not an order; only SamCart's 'Order' notifications (the Product "
    "Purchased trigger) create orders."
)

POLL_SECONDS = 30.0
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
# SamCart product id -> (project title, media, packaging, unit price); the CD has two ids.
SAMCART_PRODUCTS = {
    "294010": ("Greatest Hits (CD)", "cd", "sleeve", "4.50", "{294010}{298020}"),
    "300111": ("Live in Concert (DVD)", "dvd", "dvd-case", "6.25", "{300111}"),
    "300222": ("Complete Works (USB)", "usb", "usb-ecomailer", "9.00", "{300222}"),
}

STATE = """
import json
from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery
from pressrun.orders.models import Order
orders = Order.objects.filter(publisher_id={publisher}, source="samcart", external_ref="{ref}")
# The deliveries first: a delivery's outcome commits with or after its orders, so every
# order a delivery read here names is committed before the orders are read.
deliveries = [
    [d.outcome, d.reason, d.test_requested, [o.id for o in d.orders.all()]]
    for d in InboundDelivery.objects.filter(
        cart="samcart", publisher_id={publisher}, external_key="{ref}"
    ).order_by("id")
]
print(json.dumps({{
    "orders": [
        {{
            "id": o.id, "invoice": o.invoice, "mode": o.mode, "status": o.status,
            "name": o.name, "address": o.address, "city": o.city, "state": o.state,
            "postal_code": o.postal_code, "country": o.country, "email": o.email,
            "mail_method": o.mail_method, "products_cost": str(o.products_cost),
            "total_cost": str(o.total_cost),
            "lines": sorted([l.project_id, l.quantity] for l in o.lines.all()),
        }}
        for o in orders.order_by("id")
    ],
    "deliveries": deliveries,
    "balance": str(Publisher.objects.get(id={publisher}).balance),
}}))
"""

COUNTS = """
import json
from django_tasks_db.models import DBTaskResult
from pressrun.carts.models import InboundDelivery
from pressrun.orders.models import Order
# Delivery tasks only: the worker's periodic tasks queue their next runs at any time.
print(json.dumps([InboundDelivery.objects.count(), Order.objects.count(),
                  DBTaskResult.objects.filter(task_path__endswith=".process_delivery").count()]))
"""


@dataclass(frozen=True)
class Shop:
    """A publisher whose projects carry SamCart product ids, and its two Notify URLs."""

    account: Account
    project_for: dict[str, int]  # SamCart product id -> project ID
    notify_url: str
    test_notify_url: str


def _local(service: LiveService, printed: str) -> str:
    parts = urlsplit(printed)
    assert parts.path == "/carts/samcart", printed
    return service.url(f"{parts.path}?{parts.query}")


@pytest.fixture(scope="module")
def shop(live_service: LiveService) -> Shop:
    account = live_service.create_publisher(balance="500.00", projects=())
    project_for = {}
    for product_id, (title, media, packaging, price, ids) in SAMCART_PRODUCTS.items():
        args = ["createproject", "--publisher", str(account.id), "--title", title]
        args += ["--media", media, "--packaging", packaging, "--price", price]
        output = live_service.setup(*args, "--ecommerce-ids", ids)
        project_for[product_id] = int(output.strip())
    printed = dict(
        line.split(": ", 1)
        for line in live_service.setup("carturls", "--publisher", str(account.id)).splitlines()
    )
    return Shop(
        account=account,
        project_for=project_for,
        notify_url=_local(live_service, printed["SamCart"]),
        test_notify_url=_local(live_service, printed["SamCart (test mode)"]),
    )


def _post(url: str, body: bytes, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "User-Agent": "SamCart"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def _state(service: LiveService, shop: Shop, ref: str) -> dict[str, Any]:
    code = STATE.format(publisher=shop.account.id, ref=ref)
    result: dict[str, Any] = json.loads(service.shell(code))
    return result


def _settled(service: LiveService, shop: Shop, ref: str, deliveries: int) -> dict[str, Any]:
    """The state once `deliveries` notifications of `ref` are stored and none is pending."""
    deadline = time.monotonic() + POLL_SECONDS
    state = _state(service, shop, ref)
    while len(state["deliveries"]) < deliveries or any(
        delivery[0] == "pending" for delivery in state["deliveries"]
    ):
        assert time.monotonic() < deadline, (state, service.logs())
        time.sleep(0.5)
        state = _state(service, shop, ref)
    return state


def test_three_product_notifications_become_one_order_over_http(
    live_service: LiveService, shop: Shop
) -> None:
    ref = "5100001"

    def product(product_id: str, quantity: int, **extra: Any) -> dict[str, Any]:
        return notification(
            order_id=ref,
            product_id=product_id,
            quantity=quantity,
            shipping_method="Priority Mail",
            **extra,
        )

    cd = as_json(product("294010", 2))
    dvd_form = as_form(product("300111", 1)).encode()
    usb = as_json(product("300222", 3))
    balance_before = _state(live_service, shop, ref)["balance"]
    assert balance_before == "500.00"

    # The three notifications of one purchase (one of them form-encoded), and SamCart
    # repeating the first one before the grace window ends.
    replies = [
        _post(shop.notify_url, cd, JSON_TYPE),
        _post(shop.notify_url, dvd_form, FORM_TYPE),
        _post(shop.notify_url, usb, JSON_TYPE),
        _post(shop.notify_url, cd, JSON_TYPE),
    ]
    assert [status for status, _ in replies] == [200] * 4, replies
    assert all(text.startswith("ok ") for _, text in replies), replies

    state = _settled(live_service, shop, ref, deliveries=4)
    (order,) = state["orders"]
    cd_id, dvd_id, usb_id = (shop.project_for[p] for p in ("294010", "300111", "300222"))
    assert order == {
        "id": order["id"],
        "invoice": ref,
        "mode": "prod",
        "status": "PROCESSING",
        "name": "Bob Norman",
        "address": "Chestnut Street 92",
        "city": "Louisville",
        "state": "KY",
        "postal_code": "40202",
        "country": "US",
        "email": "bob.norman@example.com",
        "mail_method": "priority",
        # 2 x 4.50 + 1 x 6.25 + 3 x 9.00
        "products_cost": "42.25",
        "total_cost": order["total_cost"],
        "lines": sorted([[cd_id, 2], [dvd_id, 1], [usb_id, 3]]),
    }, live_service.logs()
    number = order["id"]
    assert state["deliveries"] == [
        ["order_created", f"Order {number}.", False, [number]],
        ["duplicate", f"Merged into order {number}.", False, [number]],
        ["duplicate", f"Merged into order {number}.", False, [number]],
        ["duplicate", "The same notification was already received.", False, []],
    ]
    charged = str(Decimal(balance_before) - Decimal(order["total_cost"]))
    assert state["balance"] == charged

    # SamCart repeats a notification after the order was placed: nothing is added or charged.
    assert _post(shop.notify_url, cd, JSON_TYPE)[0] == 200
    state = _settled(live_service, shop, ref, deliveries=5)
    assert state["orders"] == [order]
    assert state["deliveries"][4] == [
        "duplicate",
        "The same notification was already received.",
        False,
        [],
    ]
    assert state["balance"] == charged

    # The purchase is refunded in SamCart: recorded, ignored, the order stands.
    refund = as_json(product("294010", 2, event="Refund"))
    assert _post(shop.notify_url, refund, JSON_TYPE)[0] == 200
    state = _settled(live_service, shop, ref, deliveries=6)
    assert state["orders"] == [order]
    assert state["deliveries"][5] == [
        "ignored",
        REFUND_IGNORED,
        False,
        [],
    ]
    assert state["balance"] == charged


def test_a_refund_notification_is_recorded_as_ignored(
    live_service: LiveService, shop: Shop
) -> None:
    ref = "5100002"
    body = as_form(notification(order_id=ref, event="Refund")).encode()
    status, text = _post(shop.notify_url, body, FORM_TYPE)
    assert (status, re.fullmatch(r"ok [1-9]\d*\n", text) is not None) == (200, True), text
    state = _settled(live_service, shop, ref, deliveries=1)
    assert state["orders"] == []
    assert state["deliveries"] == [
        [
            "ignored",
            REFUND_IGNORED,
            False,
            [],
        ]
    ]


def test_mode_test_in_the_notify_url_makes_a_test_order(
    live_service: LiveService, shop: Shop
) -> None:
    ref = "5100003"
    body = as_json(notification(order_id=ref, product_id="298020", quantity=1))
    assert _post(shop.test_notify_url, body, JSON_TYPE)[0] == 200
    state = _settled(live_service, shop, ref, deliveries=1)
    (order,) = state["orders"]
    assert (order["invoice"], order["mode"], order["status"], order["lines"]) == (
        ref,
        "test",
        "TEST",
        [[shop.project_for["294010"], 1]],
    )
    assert state["deliveries"] == [["order_created", f"Order {order['id']}.", True, [order["id"]]]]
    # Test orders are never charged: the balance is what the first test left.
    assert state["balance"] == _state(live_service, shop, "5100001")["balance"]


@pytest.mark.parametrize("case", ["wrong token", "no token", "unknown publisher"])
def test_a_bad_token_is_401_and_nothing_is_stored(
    live_service: LiveService, shop: Shop, case: str
) -> None:
    url = {
        "wrong token": shop.notify_url.replace("token=", "token=x"),
        "no token": shop.notify_url.split("&token=", 1)[0],
        "unknown publisher": shop.notify_url.replace(
            f"idpub={shop.account.id}", f"idpub={shop.account.id + 1000}"
        ),
    }[case]
    assert url != shop.notify_url
    before = json.loads(live_service.shell(COUNTS))
    body = as_json(notification(order_id="5100004"))
    assert _post(url, body, JSON_TYPE) == (401, "Unknown publisher or wrong token.\n")
    assert _post(url, as_form(notification(order_id="5100004")).encode(), FORM_TYPE)[0] == 401
    assert json.loads(live_service.shell(COUNTS)) == before
