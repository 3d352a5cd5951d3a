"""POST /carts/samcart: token, storage, grace window, one order per SamCart order."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_tasks_db.models import DBTaskResult

from pressrun.carts.models import InboundDelivery, Outcome, UnmatchedProduct
from pressrun.carts.samcart.parse import load_notification
from pressrun.carts.services import delivery_process
from pressrun.carts.tasks import process_delivery
from pressrun.orders.models import Order
from tests.carts.samcart_payloads import ORDER_ID, as_form, as_json, notification
from tests.threads import run_together, skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{294010}{298020}")


def url(publisher: Any, *, token: str | None = None, extra: str = "") -> str:
    token = publisher.cart_token if token is None else token
    return f"/carts/samcart?idpub={publisher.id}&token={token}{extra}"


def post(target: str, body: bytes | str, content_type: str = "application/json") -> Any:
    return Client().post(target, data=body, content_type=content_type)


def process_pending() -> list[InboundDelivery]:
    pending = InboundDelivery.objects.filter(outcome=Outcome.PENDING).order_by("id")
    return [delivery_process(delivery_id=d.id) for d in list(pending)]


def test_one_product_order_end_to_end(publisher: Any, cd: Any) -> None:
    response = post(url(publisher), as_json(notification()))
    assert response.status_code == 200
    delivery = InboundDelivery.objects.get()
    assert (delivery.cart, delivery.outcome, delivery.external_key) == (
        "samcart",
        Outcome.PENDING,
        ORDER_ID,
    )
    task = DBTaskResult.objects.get(task_path=process_delivery.module_path)
    grace = task.run_after - delivery.received_at
    assert timedelta(seconds=9) < grace <= timedelta(seconds=11)

    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    order = Order.objects.get()
    delivery.refresh_from_db()
    assert list(delivery.orders.all()) == [order]
    assert (order.source, order.invoice, order.external_ref, order.mode) == (
        "samcart",
        ORDER_ID,
        ORDER_ID,
        "prod",
    )
    assert (order.name, order.city, order.state, order.country, order.email) == (
        "Bob Norman",
        "Louisville",
        "KY",
        "US",
        "bob.norman@example.com",
    )
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 1)]
    # Again: nothing changes.
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    assert Order.objects.count() == 1


def test_the_grace_window_is_a_setting(publisher: Any, cd: Any, settings: Any) -> None:
    settings.PRESSRUN_SAMCART_GRACE_SECONDS = 0
    post(url(publisher), as_json(notification()))
    task = DBTaskResult.objects.get()
    # No delay: django-tasks stores "no run_after" as a far-future sentinel, never ~10 s.
    delay = task.run_after - InboundDelivery.objects.get().received_at
    assert not timedelta(seconds=1) < delay < timedelta(days=1)


def test_three_notifications_of_one_order_make_one_order(
    publisher: Any, cd: Any, make_project: Any
) -> None:
    dvd = make_project(publisher, title="Live DVD", ecommerce_ids="{300111}")
    shirt = make_project(publisher, title="Shirt CD", ecommerce_ids="{300222}")
    for product_id, quantity in (("294010", 2), ("300111", 1), ("300222", 3)):
        body = as_json(notification(product_id=product_id, quantity=quantity))
        assert post(url(publisher), body).status_code == 200
    # The second notification's task happens to run first: it gathers all three.
    second = InboundDelivery.objects.order_by("id")[1]
    delivery_process(delivery_id=second.id)
    process_pending()
    order = Order.objects.get()
    assert sorted((line.project_id, line.quantity) for line in order.lines.all()) == sorted(
        [(cd.id, 2), (dvd.id, 1), (shirt.id, 3)]
    )
    first, *others = InboundDelivery.objects.order_by("id")
    assert first.outcome == Outcome.ORDER_CREATED
    assert [(d.outcome, d.reason) for d in others] == [
        (Outcome.DUPLICATE, f"Merged into order {order.id}.")
    ] * 2
    assert all(list(d.orders.all()) == [order] for d in [first, *others])


def test_quantities_of_one_product_are_summed(publisher: Any, cd: Any) -> None:
    post(url(publisher), as_json(notification(product_id="294010", quantity=1)))
    post(url(publisher), as_json(notification(product_id="298020", quantity=2)))
    process_pending()
    assert [(line.project_id, line.quantity) for line in Order.objects.get().lines.all()] == [
        (cd.id, 3)
    ]


def test_a_repeated_notification_is_a_duplicate(publisher: Any, cd: Any) -> None:
    post(url(publisher), as_json(notification()))
    post(url(publisher), as_json(notification()))
    _first, second = process_pending()
    second.refresh_from_db()
    assert second.outcome == Outcome.DUPLICATE
    assert Order.objects.get().lines.get().quantity == 1


@pytest.mark.parametrize(
    "event",
    [
        "Refund",
        "Cancel",
        "Subscription Canceled",
        "Order Refunded",
        # Not a refund or a cancel, yet not an order either: only 'Order' creates orders.
        "Lead",
        "RecurringPaymentSucceeded",
        "Abandoned Cart",
        "Orders",
        "Order Lead",
        "Something SamCart adds next year",
    ],
)
def test_only_order_notifications_create_orders(publisher: Any, cd: Any, event: str) -> None:
    response = post(url(publisher), as_json(notification(event=event)))
    assert (response.status_code, response.content.decode()) == (
        200,
        f"ok {InboundDelivery.objects.get().id}\n",
    )
    (delivery,) = process_pending()
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.topic) == (Outcome.IGNORED, event)
    assert delivery.reason == (
        f"Event '{event}' is not an order; only SamCart's 'Order' notifications (the Product "
        "Purchased trigger) create orders."
    )
    assert list(delivery.orders.all()) == []
    assert not Order.objects.exists()
    assert not UnmatchedProduct.objects.exists()


def test_a_notification_without_event_type_creates_nothing(publisher: Any, cd: Any) -> None:
    # SamCart always names its event in `type`; a body without one is not a purchase it sent.
    body = notification()
    del body["type"]
    assert post(url(publisher), as_json(body)).status_code == 200
    (delivery,) = process_pending()
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.topic) == (Outcome.IGNORED, "")
    assert delivery.reason == (
        "The notification names no event type (SamCart sends type=Order for a purchase), so "
        "it is not recognisably an order; nothing was created."
    )
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "event", ["Order", "order", " ORDER ", "Product Purchased", "product_purchased"]
)
def test_order_notifications_in_any_case_create_the_order(
    publisher: Any, cd: Any, event: str
) -> None:
    assert post(url(publisher), as_json(notification(event=event))).status_code == 200
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert Order.objects.get().lines.get().project_id == cd.id


def test_a_lead_without_an_order_id_is_kept_and_ignored(publisher: Any, cd: Any) -> None:
    # A lead names a customer but no order: nothing to refuse, nothing to create.
    body = as_json({"type": "Lead", "customer": {"email": "lead@example.com"}})
    assert post(url(publisher), body).status_code == 200
    (delivery,) = process_pending()
    assert (delivery.outcome, delivery.external_key) == (Outcome.IGNORED, "")
    assert not Order.objects.exists()


def test_an_order_notification_without_an_order_id_is_refused(publisher: Any, cd: Any) -> None:
    body = notification()
    del body["order"]
    response = post(url(publisher), as_json(body))
    assert (response.status_code, response.content.decode()) == (
        400,
        "The body names no order (order.id).\n",
    )
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, delivery.reason) == (
        Outcome.FAILED,
        "The body names no order (order.id).",
    )
    assert not Order.objects.exists()


def test_unmatched_products_are_recorded(publisher: Any, cd: Any) -> None:
    post(url(publisher), as_json(notification(product_id="999999", product_name="Poster")))
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.UNMATCHED
    assert "999999" in delivery.reason
    assert "Poster" in delivery.reason
    assert not Order.objects.exists()


def test_an_unmatched_product_beside_a_matched_one_is_noted(publisher: Any, cd: Any) -> None:
    post(url(publisher), as_json(notification()))
    post(url(publisher), as_json(notification(product_id="999999", product_name="Mug")))
    first, _second = process_pending()
    assert first.outcome == Outcome.ORDER_CREATED
    assert "999999" in first.reason
    assert Order.objects.get().lines.count() == 1


@pytest.mark.parametrize("case", ["unknown publisher", "wrong token", "no token"])
def test_token_failures_are_401(publisher: Any, case: str) -> None:
    token = publisher.cart_token
    targets = {
        "unknown publisher": f"/carts/samcart?idpub={publisher.id + 999}&token={token}",
        "wrong token": url(publisher, token=publisher.cart_token + "x"),
        "no token": f"/carts/samcart?idpub={publisher.id}",
    }
    response = post(targets[case], as_json(notification()))
    assert response.status_code == 401
    assert InboundDelivery.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b"\xff", "application/json"),
        (b'{"type": "Order", "customer": {"email": "a@example.com"}}', "application/json"),
        ("a=%%zz&&b", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_is_400_and_stored(publisher: Any, body: Any, content_type: str) -> None:
    response = post(url(publisher), body, content_type)
    assert response.status_code == 400
    delivery = InboundDelivery.objects.get()
    assert delivery.outcome == Outcome.FAILED
    assert not DBTaskResult.objects.exists()


def test_a_body_over_1_mb_is_413(publisher: Any) -> None:
    assert post(url(publisher), b"{" + b" " * 1_000_001 + b"}").status_code == 413
    assert InboundDelivery.objects.get().outcome == Outcome.FAILED


def test_a_form_encoded_body(publisher: Any, cd: Any) -> None:
    form = as_form(notification(shipping_method="Priority Mail"))
    assert load_notification(form.encode(), "application/x-www-form-urlencoded")["customer"][
        "shipping_address"
    ]["city"] == ("Louisville")
    response = post(url(publisher), form, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    order = Order.objects.get()
    assert (order.name, order.postal_code, order.mail_method) == (
        "Bob Norman",
        "40202",
        "priority",
    )


def test_form_items_list(publisher: Any, cd: Any) -> None:
    form = (
        "type=Order&order[id]=77&customer[first_name]=Ann&customer[last_name]=Lee&customer[email]=a@x.com"
        "&shipping_address[address_line_1]=1 Main St&shipping_address[city]=Louisville"
        "&shipping_address[region]=KY&shipping_address[postal_code]=40202"
        "&shipping_address[country]=USA&items[0][product_id]=294010&items[0][quantity]=2"
    )
    data = load_notification(form.encode(), "application/x-www-form-urlencoded")
    assert data["items"] == [{"product_id": "294010", "quantity": "2"}]
    post(url(publisher), form, "application/x-www-form-urlencoded")
    process_pending()
    assert Order.objects.get().lines.get().quantity == 2


def test_test_mode_from_the_url_or_the_body(publisher: Any, cd: Any) -> None:
    post(url(publisher, extra="&mode=test"), as_json(notification(order_id="1")))
    post(url(publisher), as_json(notification(order_id="2", test_mode=True)))
    process_pending()
    assert [order.mode for order in Order.objects.order_by("id")] == ["test", "test"]


def test_mail_method_express_or_default(publisher: Any, cd: Any) -> None:
    post(url(publisher), as_json(notification(order_id="1", shipping_method="EXPRESS 2-day")))
    post(url(publisher), as_json(notification(order_id="2")))
    post(
        url(publisher),
        as_json(notification(order_id="3", shipping_method="USPS Priority Mail Express")),
    )
    process_pending()
    first, second, third = Order.objects.order_by("id")
    assert first.mail_method == "express"
    assert second.mail_method == publisher.default_mail_method
    assert third.mail_method == "express"


def test_a_late_notification_fails_with_a_clear_reason(
    publisher: Any, cd: Any, make_project: Any
) -> None:
    make_project(publisher, title="Live DVD", ecommerce_ids="{300111}")
    post(url(publisher), as_json(notification()))
    process_pending()
    order = Order.objects.get()
    post(url(publisher), as_json(notification(product_id="300111")))
    (late,) = process_pending()
    assert late.outcome == Outcome.FAILED
    assert late.reason == f"Arrived after order {order.id} was placed; add the product by hand."
    assert Order.objects.get().lines.count() == 1


def test_carturls_prints_the_samcart_url(publisher: Any, capsys: Any) -> None:
    call_command("carturls", publisher=publisher.id)
    out = capsys.readouterr().out
    assert f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}" in out
    assert "SamCart (test mode):" in out


@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_for_one_order_place_it_once(
    make_publisher: Any, make_project: Any
) -> None:

    skip_unless_threads_share_the_database()
    owner = make_publisher(balance="100")
    cd_project = make_project(owner, title="CD", ecommerce_ids="{294010}")
    dvd = make_project(owner, title="Live DVD", ecommerce_ids="{300111}")
    shirt = make_project(owner, title="Shirt CD", ecommerce_ids="{300222}")
    for product_id, quantity in (("294010", 2), ("300111", 1), ("300222", 3)):
        body = as_json(notification(product_id=product_id, quantity=quantity))
        assert post(url(owner), body).status_code == 200
    ids = list(InboundDelivery.objects.order_by("id").values_list("id", flat=True))
    assert run_together(*(partial(delivery_process, delivery_id=i) for i in ids)) == []
    order = Order.objects.get()
    assert sorted((line.project_id, line.quantity) for line in order.lines.all()) == sorted(
        [(cd_project.id, 2), (dvd.id, 1), (shirt.id, 3)]
    )
    outcomes = sorted(InboundDelivery.objects.values_list("outcome", flat=True))
    assert outcomes == sorted([Outcome.ORDER_CREATED, Outcome.DUPLICATE, Outcome.DUPLICATE])
