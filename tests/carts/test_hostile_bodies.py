"""Bodies built to break the parsers (deep nesting) or the dedupe key (no order id) are
refused with a 400 and kept as failed: never a 5xx, never an order."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from pressrun.carts.models import Cart, InboundDelivery, Outcome
from pressrun.carts.payload import MAX_NESTING_DEPTH, NESTED_TOO_DEEPLY, json_nesting_depth
from pressrun.carts.services import delivery_process
from pressrun.carts.shopify.parse import ORDER_ID_MISSING
from pressrun.carts.tasks import process_delivery
from pressrun.orders.models import Order
from tests.carts.shopify_payloads import order_json, shopify_headers

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
DEEP_ARRAY = b"[" * 50_000
DEEP_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
DEEP_FORM = b"order[id]=1&a" + b"[a]" * 20_000 + b"=1"


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


def post(publisher: Any, cart: str, body: bytes, content_type: str, **headers: Any) -> Any:
    target = f"/carts/{cart}?idpub={publisher.id}&token={publisher.cart_token}"
    return Client().post(target, data=body, content_type=content_type, **headers)


def assert_refused_and_kept(response: Any, *, body: bytes, reason: str) -> None:
    assert response.status_code == 400
    assert response.content == reason.encode() + b"\n"
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, delivery.reason, bytes(delivery.body)) == (
        Outcome.FAILED,
        reason,
        body,
    )
    assert delivery.external_key == ""
    assert delivery.processed_at is not None
    assert not DBTaskResult.objects.filter(task_path=process_delivery.module_path).exists()
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("cart", "body", "content_type"),
    [
        ("shopify", DEEP_ARRAY, "application/json"),
        ("shopify", DEEP_OBJECT, "application/json"),
        ("samcart", DEEP_ARRAY, "application/json"),
        ("samcart", DEEP_OBJECT, "application/json"),
        ("samcart", DEEP_OBJECT, FORM),  # a form body starting with "{" is read as JSON
        ("samcart", DEEP_FORM, FORM),
    ],
    ids=[
        "shopify-array",
        "shopify-object",
        "samcart-array",
        "samcart-object",
        "samcart-json-form",
        "samcart-form",
    ],
)
def test_a_deeply_nested_body_is_400_and_kept_as_failed(
    publisher: Any, cart: str, body: bytes, content_type: str
) -> None:
    response = post(publisher, cart, body, content_type)
    assert_refused_and_kept(response, body=body, reason=NESTED_TOO_DEEPLY)
    assert NESTED_TOO_DEEPLY == "The body is nested too deeply (more than 64 levels)."


def test_nesting_up_to_the_limit_is_accepted(publisher: Any) -> None:
    # The order's own object is level 1, so 63 more levels reach the limit exactly.
    inner = b"[" * (MAX_NESTING_DEPTH - 1) + b"]" * (MAX_NESTING_DEPTH - 1)
    body = order_json()[:-1] + b', "note_attributes": ' + inner + b"}"
    assert json_nesting_depth(body.decode()) == MAX_NESTING_DEPTH
    response = post(publisher, "shopify", body, "application/json", **shopify_headers())
    assert response.status_code == 200
    assert InboundDelivery.objects.get().outcome == Outcome.PENDING


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),  # brackets inside a string do not count
        ('{"a": "\\"[[[", "b": [[1]]}', 3),  # nor after an escaped quote
        ('"unterminated [[[[', 0),
        ("]]]][[", 0),
    ],
)
def test_nesting_depth_is_counted_outside_strings(text: str, depth: int) -> None:
    assert json_nesting_depth(text) == depth


@pytest.mark.parametrize(
    "body",
    [b"{}", order_json(order_id="null"), order_json(order_id='""'), order_json(order_id="[1]")],
    ids=["empty-object", "id-null", "id-empty", "id-list"],
)
def test_a_shopify_order_without_id_is_400_and_kept_as_failed(
    publisher: Any, make_project: Any, body: bytes
) -> None:
    make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")
    response = post(publisher, "shopify", body, "application/json", **shopify_headers())
    assert_refused_and_kept(response, body=body, reason=ORDER_ID_MISSING)
    assert ORDER_ID_MISSING.startswith("The required field 'id' (the order id) is missing")


def test_id_less_deliveries_kept_earlier_fail_instead_of_becoming_duplicates(
    publisher: Any, make_project: Any
) -> None:
    """Deliveries stored without a key (before the id was required) are processed into a
    failure naming the field, each on its own, rather than one order and then duplicates."""
    make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")
    for webhook_id, name in (("w-1", "#1001"), ("w-2", "#1002")):
        InboundDelivery.objects.create(
            cart=Cart.SHOPIFY,
            publisher=publisher,
            received_at="2026-11-21T10:00:00Z",
            body=order_json(order_id="null", name=name),
            topic="orders/fulfilled",
            delivery_id=webhook_id,
        )
    ids = InboundDelivery.objects.order_by("id").values_list("id", flat=True)
    processed = [delivery_process(delivery_id=delivery_id) for delivery_id in ids]
    outcomes = [(delivery.outcome, delivery.reason) for delivery in processed]
    assert outcomes == [(Outcome.FAILED, ORDER_ID_MISSING), (Outcome.FAILED, ORDER_ID_MISSING)]
    assert not Order.objects.exists()


def test_the_one_order_rule_ignores_deliveries_without_a_key(publisher: Any) -> None:
    """The partial unique constraint applies only to a real cart order key."""
    for webhook_id in ("w-1", "w-2"):
        InboundDelivery.objects.create(
            cart=Cart.SHOPIFY,
            publisher=publisher,
            received_at="2026-11-21T10:00:00Z",
            body=b"{}",
            delivery_id=webhook_id,
            external_key="",
            outcome=Outcome.ORDER_CREATED,
        )
    assert InboundDelivery.objects.filter(outcome=Outcome.ORDER_CREATED).count() == 2
