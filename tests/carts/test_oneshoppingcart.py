"""POST /carts/1shoppingcart: TSMode/TSPub/token, storage, the API read, one order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from pressrun.carts.errors import CartTemporarilyUnavailable
from pressrun.carts.models import InboundDelivery, Outcome, ShippingRule, UnmatchedProduct
from pressrun.carts.services import delivery_process, delivery_replay
from pressrun.carts.tasks import process_delivery
from pressrun.catalog.services import project_update
from pressrun.core.sealed import seal
from pressrun.notifications.models import OutgoingEmail
from pressrun.orders.models import Mode, Order, OrderStatus
from tests.carts import oneshoppingcart_emulator as emulator_module
from tests.carts.lock_spy import probe_delivery_locks
from tests.carts.oneshoppingcart_emulator import API_KEY, MERCHANT_ID, Emulator, notification
from tests.threads import run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(settings: Any) -> Iterator[Emulator]:
    with emulator_module.running() as emulator:
        settings.PRESSRUN_ONESHOPPINGCART_API_URL = emulator.base_url
        yield emulator


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    publisher = make_publisher(balance="100")
    publisher.oneshoppingcart_merchant_id = MERCHANT_ID
    publisher.oneshoppingcart_api_key_sealed = seal(API_KEY)
    publisher.save()
    return publisher


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits CD", ecommerce_ids="<5000-A> <6000-B>")


def url(publisher: Any, *, mode: str = "prod", token: str | None = None, extra: str = "") -> str:
    token = publisher.cart_token if token is None else token
    return f"/carts/1shoppingcart?TSMode={mode}&TSPub={publisher.id}&token={token}{extra}"


def post(target: str, body: bytes) -> Any:
    return Client().post(target, data=body, content_type="text/xml")


def process_pending() -> list[InboundDelivery]:
    pending = InboundDelivery.objects.filter(outcome=Outcome.PENDING).order_by("id")
    return [delivery_process(delivery_id=d.id) for d in list(pending)]


def test_a_notification_is_stored_then_read_from_the_api_into_one_order(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.add_order("81234567", lines=[("5000-A", 2, "Greatest Hits")])
    response = post(url(publisher, extra="&TSErrEM=errors@example.com"), notification("81234567"))
    assert response.status_code == 200
    delivery = InboundDelivery.objects.get()
    assert (delivery.cart, delivery.outcome, delivery.topic) == (
        "1shoppingcart",
        "pending",
        "NewOrder",
    )
    assert delivery.external_key == "81234567"
    assert delivery.notify_email == "errors@example.com"
    assert delivery.test_requested is False
    assert DBTaskResult.objects.filter(task_path=process_delivery.module_path).count() == 1
    assert api.requests == []  # nothing is fetched while 1ShoppingCart waits for its answer

    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    assert api.requests == [
        ("POST", "/API/407733/Orders/81234567"),
        ("POST", "/API/407733/Clients/C81234567"),
    ]
    order = Order.objects.get()
    delivery.refresh_from_db()
    assert delivery.reason == f"Order {order.id}."
    assert list(delivery.orders.all()) == [order]
    assert (order.source, order.mode, order.status) == (
        "1shoppingcart",
        Mode.PROD,
        OrderStatus.PROCESSING,
    )
    assert (order.invoice, order.external_ref) == ("81234567", "81234567")
    assert (order.name, order.address, order.city) == (
        "Pat Jones",
        "500 Market Street, Suite 4",
        "San Francisco",
    )
    assert (order.state, order.postal_code, order.country) == ("CA", "94105", "US")
    assert order.email == "pat.jones@example.com"
    # The emulator's order ships "First Class Mail": the spec's default, whatever the
    # publisher's own default mail method ("standard" here).
    assert publisher.default_mail_method == "standard"
    assert order.mail_method == "rtrackstandard"
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 2)]


def test_the_client_address_is_used_when_the_order_has_no_shipping_profile(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.add_order("700", lines=[("6000-B", 1, "Hits")], ship_to={})
    post(url(publisher), notification("700"))
    assert [d.outcome for d in process_pending()] == [Outcome.ORDER_CREATED]
    order = Order.objects.get()
    assert (order.name, order.address, order.city, order.state) == (
        "Pat Jones",
        "12 Elm Street",
        "Springfield",
        "IL",
    )


def test_test_mode_makes_a_test_order(api: Emulator, publisher: Any, cd: Any) -> None:
    api.add_order("701", lines=[("5000-A", 1, "Hits")])
    post(url(publisher, mode="TEST"), notification("701"))
    process_pending()
    order = Order.objects.get()
    assert (order.mode, order.status, order.total_cost) == (
        Mode.TEST,
        OrderStatus.TEST,
        order.total_cost,
    )
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("100.00")  # test orders are never billed


def test_one_sku_in_two_projects_orders_both_in_one_box(
    api: Emulator, publisher: Any, cd: Any, make_project: Any
) -> None:
    bonus = make_project(
        publisher,
        title="Bonus DVD",
        media="dvd",
        packaging="dvd-case",
        ecommerce_ids="<4000-C> <6000-B>",
        confirm_shared_ids=True,
    )
    api.add_order("702", lines=[("6000-B", 3, "Bundle"), ("4000-C", 1, "Bonus alone")])
    post(url(publisher), notification("702"))
    process_pending()
    order = Order.objects.get()
    # Lines of one project are merged by intake: 3 with the bundle + 1 alone.
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [
        (cd.id, 3),
        (bonus.id, 4),
    ]


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("USPS Priority Mail", "priority"),
        ("Express 1-2 days", "express"),
        ("USPS Priority Mail Express", "express"),
        ("priority-express", "express"),
        # "By default, we ship standard first class + tracking" (the spec), not the
        # publisher's default mail method.
        ("First Class Mail", "rtrackstandard"),
        ("", "rtrackstandard"),
    ],
)
@pytest.mark.parametrize("default_mail_method", ["standard", "priority"])
@pytest.mark.usefixtures("cd")
def test_the_shipping_description_picks_the_mail_method(
    api: Emulator, publisher: Any, description: str, expected: str, default_mail_method: str
) -> None:
    publisher.default_mail_method = default_mail_method
    publisher.save()
    api.add_order("703", lines=[("5000-A", 1, "Hits")], shipping_method=description)
    post(url(publisher), notification("703"))
    process_pending()
    assert Order.objects.get().mail_method == expected


def test_a_publisher_shipping_rule_comes_before_the_default_rule(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    ShippingRule.objects.create(
        publisher=publisher, match="starts_with", text="rush", mail_method="express"
    )
    api.add_order("704", lines=[("5000-A", 1, "Hits")], shipping_method="RUSH (priority handling)")
    post(url(publisher), notification("704"))
    process_pending()
    assert Order.objects.get().mail_method == "express"


def test_a_repeated_notification_never_makes_a_second_order(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.add_order("705", lines=[("5000-A", 1, "Hits")])
    for _ in range(3):
        assert post(url(publisher), notification("705")).status_code == 200
    outcomes = [d.outcome for d in process_pending()]
    assert outcomes == [Outcome.ORDER_CREATED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert Order.objects.count() == 1
    # The repeats were recognised before the API was asked again.
    assert len([r for r in api.requests if "/Orders/" in r[1]]) == 1


def test_a_test_notification_is_acknowledged_and_ignored(api: Emulator, publisher: Any) -> None:
    response = post(url(publisher), notification("0", event="TestNotification"))
    assert response.status_code == 200
    [delivery] = process_pending()
    assert delivery.outcome == Outcome.IGNORED
    assert "TestNotification" in delivery.reason
    assert Order.objects.count() == 0
    assert api.requests == []


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/carts/1shoppingcart?TSMode=prod&TSPub={id}&token=wrong", 401),
        ("/carts/1shoppingcart?TSMode=prod&TSPub=999999&token={token}", 401),
        ("/carts/1shoppingcart?TSMode=prod&token={token}", 401),
        ("/carts/1shoppingcart?TSMode=prod", 401),
        ("/carts/1shoppingcart?TSMode=prod&TSPub=999999", 401),
        ("/carts/1shoppingcart?TSMode=prod&TSPub=abc", 401),
        ("/carts/1shoppingcart/wrong?TSMode=prod&TSPub={id}", 401),
    ],
)
def test_a_wrong_publisher_or_token_is_refused_and_nothing_stored(
    publisher: Any, target: str, status: int
) -> None:
    response = post(target.format(id=publisher.id, token=publisher.cart_token), notification("1"))
    assert response.status_code == status
    assert response.content == b"Unknown publisher or wrong token.\n"
    assert InboundDelivery.objects.count() == 0
    assert DBTaskResult.objects.count() == 0


def test_parameter_names_are_read_in_any_case_and_the_token_may_be_in_the_path(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.add_order("706", lines=[("5000-A", 1, "Hits")])
    target = f"/carts/1shoppingcart/{publisher.cart_token}?tsmode=Test&tspub={publisher.id}"
    assert post(target, notification("706")).status_code == 200
    assert InboundDelivery.objects.get().test_requested is True


@pytest.mark.parametrize(
    ("mode", "body", "reason"),
    [
        ("", notification("1"), "TSMode must be test or prod. The Notification URL has TSMode=''."),
        (
            "live",
            notification("1"),
            "TSMode must be test or prod. The Notification URL has TSMode='live'.",
        ),
        ("prod", b"", "The body is empty."),
        ("prod", b"<NewOrder><Token>1</Token>", None),
        ("prod", b"<NewOrder></NewOrder>", "The notification has no <Token>."),
        (
            "prod",
            b"<NewOrder><Token>../../etc</Token></NewOrder>",
            "The notification's <Token> is not an order id.",
        ),
        ("prod", b'{"Token": "1"}', None),
    ],
)
def test_a_bad_notification_gets_a_400_and_is_kept_as_failed(
    publisher: Any, mode: str, body: bytes, reason: str | None
) -> None:
    target = f"/carts/1shoppingcart?TSMode={mode}&TSPub={publisher.id}&token={publisher.cart_token}"
    response = post(target, body)
    assert response.status_code == 400
    delivery = InboundDelivery.objects.get()
    assert delivery.outcome == Outcome.FAILED
    assert bytes(delivery.body) == body
    if reason is not None:
        assert delivery.reason == reason
    assert DBTaskResult.objects.filter(task_path=process_delivery.module_path).count() == 0
    assert Order.objects.count() == 0


def test_xml_bombs_and_external_entities_are_refused(publisher: Any) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<NewOrder><Token>&lol2;</Token></NewOrder>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<NewOrder><Token>&xxe;</Token></NewOrder>"
    )
    for body in (bomb, external):
        assert post(url(publisher), body).status_code == 400
    assert [d.outcome for d in InboundDelivery.objects.all()] == [Outcome.FAILED, Outcome.FAILED]


def test_a_huge_body_gets_413_and_a_record(publisher: Any) -> None:
    body = b"<NewOrder><Token>1</Token>" + b" " * 1_000_001 + b"</NewOrder>"
    assert post(url(publisher), body).status_code == 413
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, delivery.reason, bytes(delivery.body)) == (
        Outcome.FAILED,
        "The body is larger than 1 MB.",
        b"",
    )


def test_missing_credentials_fail_with_a_plain_reason(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    publisher.oneshoppingcart_api_key_sealed = ""
    publisher.save()
    post(url(publisher), notification("707"))
    [delivery] = process_pending()
    assert delivery.outcome == Outcome.FAILED
    assert delivery.reason.startswith("The 1ShoppingCart Merchant ID or API key is not set.")
    assert api.requests == []


def test_a_wrong_api_key_fails_with_1shoppingcarts_own_words(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.api_key = "ANOTHER-KEY"
    api.add_order("708", lines=[("5000-A", 1, "Hits")])
    post(url(publisher), notification("708"))
    [delivery] = process_pending()
    assert delivery.outcome == Outcome.FAILED
    assert delivery.reason.startswith(
        "1ShoppingCart refused to give order 708: Invalid Merchant ID or API Key. Check that the "
        "Merchant ID and API key"
    )
    assert Order.objects.count() == 0


def test_an_unpaid_order_is_not_placed(api: Emulator, publisher: Any, cd: Any) -> None:
    api.add_order("709", lines=[("5000-A", 1, "Hits")], status="Pending")
    post(url(publisher), notification("709"))
    [delivery] = process_pending()
    assert delivery.outcome == Outcome.FAILED
    assert "status 'Pending'" in delivery.reason
    assert Order.objects.count() == 0


def test_unmatched_skus_are_recorded_and_a_mapping_fix_replays_into_one_order(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.add_order("710", lines=[("9999-Z", 2, "Unknown DVD")])
    post(url(publisher), notification("710"))
    [delivery] = process_pending()
    assert delivery.outcome == Outcome.UNMATCHED
    assert "SKU '9999-Z' (Unknown DVD)" in delivery.reason
    product = UnmatchedProduct.objects.get()
    assert (product.cart, product.product_ref, product.title) == (
        "1shoppingcart",
        "9999-Z",
        "Unknown DVD",
    )
    assert list(product.deliveries.all()) == [delivery]
    assert Order.objects.count() == 0

    project_update(project=cd, ecommerce_ids="<5000-A> <6000-B> <9999-Z>")
    assert delivery_replay(delivery_id=delivery.id) is True
    [again] = process_pending()
    assert again.outcome == Outcome.ORDER_CREATED
    assert Order.objects.get().lines.get().quantity == 2
    assert delivery_replay(delivery_id=delivery.id) is False


def test_a_partly_matched_order_is_placed_and_the_rest_recorded(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    api.add_order("711", lines=[("5000-A", 1, "Hits"), ("NOPE", 1, "Poster")])
    post(url(publisher), notification("711"))
    [delivery] = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert delivery.reason.endswith("Skipped lines: SKU 'NOPE' (Poster)")
    assert UnmatchedProduct.objects.get().product_ref == "NOPE"


@pytest.mark.parametrize("kind", ["503", "drop", "html", "html-doctype", "garbled"])
def test_an_api_outage_is_transient_and_leaves_the_delivery_pending(
    api: Emulator, publisher: Any, cd: Any, kind: str
) -> None:
    api.add_order("712", lines=[("5000-A", 1, "Hits")])
    post(url(publisher), notification("712"))
    delivery = InboundDelivery.objects.get()
    api.fail_next(1, kind)
    with pytest.raises(CartTemporarilyUnavailable):
        delivery_process(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.PENDING
    assert Order.objects.count() == 0
    assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED


@pytest.mark.parametrize(
    ("kind", "doctype"), [("bomb", "lolz"), ("xxe", "Response"), ("dtd", "Response")]
)
def test_a_hostile_api_reply_fails_the_delivery_once_without_retries(
    api: Emulator, publisher: Any, cd: Any, kind: str, doctype: str
) -> None:
    api.add_order("720", lines=[("5000-A", 1, "Hits")])
    post(url(publisher, extra="&TSErrEM=ops@example.com"), notification("720"))
    delivery = InboundDelivery.objects.get()
    api.fail_next(1, kind)
    assert process_delivery.call(delivery_id=delivery.id, attempt=1) == Outcome.FAILED
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.attempts, delivery.retry_queued) == (
        Outcome.FAILED,
        1,
        False,
    )
    assert delivery.reason == (
        f"1ShoppingCart's reply for order 720 was refused: The XML declares a DTD "
        f"(<!DOCTYPE {doctype}>), which pressrun never reads: a DTD is how entity bombs and "
        "external entities arrive. 1ShoppingCart's API never sends one, so the reply was not "
        "its own or was tampered with on the way; asking again would bring the same, so it is "
        "not retried. Tell pressrun's support, and replay this delivery once they have looked "
        "into it."
    )
    # Asked once, never again: no retry is queued (the one task row is the first attempt's).
    assert api.requests == [("POST", "/API/407733/Orders/720")]
    assert DBTaskResult.objects.filter(task_path=process_delivery.module_path).count() == 1
    assert Order.objects.count() == 0
    # Reported once to the publisher's error address, like any other permanent failure.
    (email,) = OutgoingEmail.objects.all()
    assert (email.to, email.subject) == (
        "ops@example.com",
        "1ShoppingCart order 720 was not placed",
    )
    # A second run (a duplicate task) changes nothing and sends nothing more.
    assert process_delivery.call(delivery_id=delivery.id, attempt=1) == Outcome.FAILED
    assert OutgoingEmail.objects.count() == 1
    assert len(api.requests) == 1


def test_the_task_retries_an_outage_with_backoff_then_gives_up(
    api: Emulator, publisher: Any, cd: Any, settings: Any
) -> None:
    settings.CART_RETRY_ATTEMPTS = 3
    api.add_order("713", lines=[("5000-A", 1, "Hits")])
    post(url(publisher, extra="&TSErrEM=ops@example.com"), notification("713"))
    delivery = InboundDelivery.objects.get()
    api.fail_next(10, "503")
    task_path = process_delivery.module_path
    assert process_delivery.call(delivery_id=delivery.id, attempt=1) == "retrying"
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.PENDING
    assert (
        delivery.reason
        == "Attempt 1 failed: 1ShoppingCart answered HTTP 503. Retrying automatically."
    )
    retry = DBTaskResult.objects.filter(task_path=task_path).order_by("-enqueued_at").first()
    assert retry is not None
    assert retry.run_after is not None
    assert retry.args_kwargs["kwargs"] == {"delivery_id": delivery.id, "attempt": 2}
    assert process_delivery.call(delivery_id=delivery.id, attempt=2) == "retrying"
    assert process_delivery.call(delivery_id=delivery.id, attempt=3) == Outcome.FAILED
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.FAILED
    assert delivery.reason == (
        "Gave up after 3 attempts: 1ShoppingCart answered HTTP 503. "
        "Replay it once the cause is fixed."
    )
    api.failures.clear()
    assert delivery_replay(delivery_id=delivery.id) is True
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED


def test_the_api_key_is_never_sent_anywhere_but_the_configured_api(
    api: Emulator, publisher: Any, cd: Any
) -> None:
    # The order reply's ClientId href points at the emulator too, but the client is read
    # from the configured base URL built from the merchant ID, never from the href.
    api.add_order("714", lines=[("5000-A", 1, "Hits")], client_id="C42")
    post(url(publisher), notification("714"))
    process_pending()
    assert api.requests[-1] == ("POST", "/API/407733/Clients/C42")


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_make_exactly_one_order(api: Emulator, publisher: Any, cd: Any) -> None:
    api.add_order("715", lines=[("5000-A", 1, "Hits")])
    for _ in range(6):
        post(url(publisher), notification("715"))
    ids = list(InboundDelivery.objects.values_list("id", flat=True))
    outcomes: list[str] = []

    def run(delivery_id: int) -> None:
        outcomes.append(str(delivery_process(delivery_id=delivery_id).outcome))

    assert run_together(*(partial(run, i) for i in ids)) == []
    assert sorted(outcomes) == sorted([Outcome.ORDER_CREATED] + [Outcome.DUPLICATE] * 5)
    assert Order.objects.count() == 1


def emails() -> list[tuple[str, str]]:
    return [(e.to, e.subject) for e in OutgoingEmail.objects.order_by("id")]


def test_a_failure_is_emailed_to_tserrem_in_plain_words(
    api: Emulator, publisher: Any, cd: Any, django_capture_on_commit_callbacks: Any
) -> None:
    api.api_key = "ANOTHER-KEY"
    api.add_order("720", lines=[("5000-A", 1, "Hits")])
    post(url(publisher, extra="&TSErrEM=errors@example.com"), notification("720"))
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = process_pending()
    assert emails() == [("errors@example.com", "1ShoppingCart order 720 was not placed")]
    email = OutgoingEmail.objects.get()
    assert email.kind == "publisher_error"
    assert email.text.startswith(
        "pressrun received 1ShoppingCart's notification but could not place the order.\n\n"
        "1ShoppingCart refused to give order 720: Invalid Merchant ID or API Key."
    )
    assert f"Publisher ID: {publisher.id}\nDelivery: {delivery.id}" in email.text
    # Processing it again (a task run twice) sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        delivery_process(delivery_id=delivery.id)
    assert len(emails()) == 1


def test_without_tserrem_nothing_is_emailed(
    api: Emulator, publisher: Any, cd: Any, django_capture_on_commit_callbacks: Any
) -> None:
    api.add_order("721", lines=[("NOPE", 1, "Poster")])
    post(url(publisher), notification("721"))
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = process_pending()
    assert delivery.outcome == Outcome.UNMATCHED
    assert emails() == []


def test_skipped_lines_and_a_bad_url_are_emailed_too(
    api: Emulator, publisher: Any, cd: Any, django_capture_on_commit_callbacks: Any
) -> None:
    api.add_order("722", lines=[("5000-A", 1, "Hits"), ("NOPE", 1, "Poster")])
    post(url(publisher, extra="&TSErrEM=errors@example.com"), notification("722"))
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    target = (
        f"/carts/1shoppingcart?TSMode=live&TSPub={publisher.id}&token={publisher.cart_token}"
        "&TSErrEM=errors@example.com"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(target, notification("723")).status_code == 400
    assert emails() == [
        ("errors@example.com", "1ShoppingCart order 722: some products were not sent"),
        ("errors@example.com", "1ShoppingCart order ? was not placed"),
    ]
    assert "SKU 'NOPE' (Poster)" in OutgoingEmail.objects.order_by("id")[0].text
    assert "TSMode must be test or prod." in OutgoingEmail.objects.order_by("id")[1].text


def test_giving_up_after_the_retries_is_emailed(
    api: Emulator, publisher: Any, cd: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CART_RETRY_ATTEMPTS = 1
    api.add_order("724", lines=[("5000-A", 1, "Hits")])
    post(url(publisher, extra="&TSErrEM=errors@example.com"), notification("724"))
    delivery = InboundDelivery.objects.get()
    api.fail_next(1, "drop")
    with django_capture_on_commit_callbacks(execute=True):
        assert process_delivery.call(delivery_id=delivery.id) == Outcome.FAILED
    assert emails() == [("errors@example.com", "1ShoppingCart order 724 was not placed")]
    assert "Gave up after 1 attempt: 1ShoppingCart's API could not be reached" in (
        OutgoingEmail.objects.get().text
    )


@pytest.mark.parametrize("quantity", ["1e999", "inf", "nan", "-1", "1.5"])
def test_an_unreadable_quantity_fails_the_delivery_with_the_reason(
    api: Emulator, publisher: Any, cd: Any, quantity: str
) -> None:
    api.add_order("730", lines=[("5000-A", quantity, "Hits")])
    post(url(publisher), notification("730"))
    delivery = InboundDelivery.objects.get()
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.FAILED
    delivery.refresh_from_db()
    assert delivery.reason == (
        f"1ShoppingCart's reply for order 730 could not be read: Line 1 (SKU '5000-A') has "
        f"quantity '{quantity}', which is not a whole number of copies of at least 1."
    )
    assert (delivery.retry_queued, delivery.attempts) == (False, 1)
    assert not Order.objects.exists()
    assert not UnmatchedProduct.objects.exists()


BAD_MODE_REASON = "TSMode must be test or prod. The Notification URL has TSMode='live'."


def bad_mode_url(publisher: Any) -> str:
    return (
        f"/carts/1shoppingcart?TSMode=live&TSPub={publisher.id}&token={publisher.cart_token}"
        "&TSErrEM=errors@example.com"
    )


def test_a_refused_notification_is_emailed_once_a_day_however_often_it_is_repeated(
    publisher: Any, make_publisher: Any
) -> None:
    for token in ("800", "800", "801", "802"):  # 1ShoppingCart's repeats, then later orders
        assert post(bad_mode_url(publisher), notification(token)).status_code == 400
    assert [(d.outcome, d.reason) for d in InboundDelivery.objects.order_by("id")] == [
        (Outcome.FAILED, BAD_MODE_REASON)
    ] * 4
    assert emails() == [("errors@example.com", "1ShoppingCart order ? was not placed")]
    first = InboundDelivery.objects.order_by("id").first()
    assert first is not None
    email = OutgoingEmail.objects.get()
    assert f"Publisher ID: {publisher.id}\nDelivery: {first.id}," in email.text
    assert "the repeats refused for the same reason today are kept but not emailed again" in (
        email.text
    )
    day = timezone.now().date().isoformat()
    digest = hashlib.sha256(BAD_MODE_REASON.encode()).hexdigest()[:32]
    assert email.key == f"publisher-error:delivery-refused:{publisher.id}:{digest}:{day}"

    # Another reason is another email; so is another publisher, and the next day.
    assert post(url(publisher, extra="&TSErrEM=errors@example.com"), b"not xml").status_code == 400
    other = make_publisher()
    assert post(bad_mode_url(other), notification("800")).status_code == 400
    tomorrow = timezone.now() + timedelta(days=1)
    with mock.patch("django.utils.timezone.now", return_value=tomorrow):
        assert post(bad_mode_url(publisher), notification("800")).status_code == 400
        assert post(bad_mode_url(publisher), notification("800")).status_code == 400
    assert len(emails()) == 4
    assert InboundDelivery.objects.count() == 8
    assert not Order.objects.exists()


def test_a_refusal_whose_email_cannot_be_queued_still_gets_its_answer(
    publisher: Any, caplog: Any
) -> None:
    with mock.patch(
        "pressrun.notifications.services.notify_publisher_error",
        side_effect=RuntimeError("mail table gone"),
    ):
        response = post(bad_mode_url(publisher), notification("800"))
    assert (response.status_code, response.content) == (400, BAD_MODE_REASON.encode() + b"\n")
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, delivery.reason) == (Outcome.FAILED, BAD_MODE_REASON)
    assert not OutgoingEmail.objects.exists()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        f"1shoppingcart delivery {delivery.id}: error email not queued"
    ]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks: PostgreSQL's half (SQLite has no FOR UPDATE; its write lock covers all)",
)
@pytest.mark.django_db(transaction=True)
def test_processing_locks_the_delivery_row_but_not_the_publishers(
    api: Emulator, publisher: Any, cd: Any, monkeypatch: Any
) -> None:
    api.add_order("740", lines=[("5000-A", 1, "Hits")])
    post(url(publisher), notification("740"))
    delivery = InboundDelivery.objects.get()
    with probe_delivery_locks(monkeypatch) as seen:
        assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
    assert seen == [(False, True), (False, True)]  # the claim, then the placing


class TestTheSpecsUrlWithoutToken:
    """`?TSMode=…&TSPub=…&TSErrEM=…` exactly as the spec prints it, without pressrun's token."""

    @staticmethod
    def spec_url(publisher: Any, mode: str = "prod", error_email: str = "") -> str:
        target = f"/carts/1shoppingcart?TSMode={mode}&TSPub={publisher.id}"
        return target + (f"&TSErrEM={error_email}" if error_email else "")

    def test_is_accepted_and_the_order_is_read_from_the_api(
        self, api: Emulator, publisher: Any, cd: Any
    ) -> None:
        api.add_order("730", lines=[("5000-A", 2, "Hits")])
        response = post(self.spec_url(publisher), notification("730"))
        delivery = InboundDelivery.objects.get()
        assert (response.status_code, response.content) == (200, f"ok {delivery.id}\n".encode())
        assert (delivery.outcome, delivery.external_key) == (Outcome.PENDING, "730")
        assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
        order = Order.objects.get()
        assert (order.invoice, order.mode, order.status) == ("730", Mode.PROD, "PROCESSING")

    def test_an_inactive_publisher_is_refused(self, publisher: Any) -> None:
        publisher.is_active = False
        publisher.save()
        assert post(self.spec_url(publisher), notification("1")).status_code == 401
        assert InboundDelivery.objects.count() == 0

    def test_a_forged_notification_only_makes_pressrun_read_a_real_order_again(
        self, api: Emulator, publisher: Any, cd: Any
    ) -> None:
        api.add_order("731", lines=[("5000-A", 1, "Hits")])
        for _ in range(3):  # the real one, then two forgeries naming the same order
            assert post(self.spec_url(publisher), notification("731")).status_code == 200
        outcomes = [d.outcome for d in process_pending()]
        assert outcomes == [Outcome.ORDER_CREATED, Outcome.DUPLICATE, Outcome.DUPLICATE]
        assert Order.objects.count() == 1
        # A made-up order id: 1ShoppingCart does not know it, nothing is made.
        assert post(self.spec_url(publisher), notification("999001")).status_code == 200
        (forged,) = process_pending()
        assert forged.outcome == Outcome.FAILED
        assert forged.reason.startswith(
            "1ShoppingCart refused to give order 999001: Order 999001 not found."
        )
        assert Order.objects.count() == 1

    def test_a_test_mode_notification_cannot_keep_the_real_order_from_being_made(
        self, api: Emulator, publisher: Any, cd: Any
    ) -> None:
        # A forger (or a forgotten test URL) sends the order first with TSMode=test.
        api.add_order("732", lines=[("5000-A", 1, "Hits")])
        post(self.spec_url(publisher, mode="test"), notification("732"))
        post(self.spec_url(publisher, mode="prod"), notification("732"))
        test_delivery, prod_delivery = process_pending()
        assert (test_delivery.external_key, prod_delivery.external_key) == ("test:732", "732")
        assert [d.outcome for d in (test_delivery, prod_delivery)] == [
            Outcome.ORDER_CREATED,
            Outcome.ORDER_CREATED,
        ]
        assert sorted(Order.objects.values_list("invoice", "mode")) == [
            ("732", "prod"),
            ("732", "test"),
        ]
        # Each mode still makes one order only.
        post(self.spec_url(publisher, mode="test"), notification("732"))
        post(self.spec_url(publisher, mode="prod"), notification("732"))
        assert [d.outcome for d in process_pending()] == [Outcome.DUPLICATE] * 2
        assert Order.objects.count() == 2

    @pytest.mark.parametrize(
        ("address", "kept"),
        [
            ("stranger@example.com", False),
            ("{login}", True),
            ("{error}", True),
            ("{login_upper}", True),
        ],
    )
    def test_only_the_publishers_own_address_gets_errors_without_the_token(
        self, api: Emulator, publisher: Any, address: str, kept: bool
    ) -> None:
        publisher.error_email = "errors@publisher.example"
        publisher.save()
        address = address.format(
            login=publisher.email, error=publisher.error_email, login_upper=publisher.email.upper()
        )
        post(self.spec_url(publisher, error_email=address), notification("733"))
        delivery = InboundDelivery.objects.get()
        assert delivery.notify_email == (address if kept else "")
        process_pending()  # 1ShoppingCart does not know order 733: a failure, emailed if kept
        assert [e.to for e in OutgoingEmail.objects.all()] == ([address] if kept else [])

    def test_with_the_token_any_error_address_is_used(self, api: Emulator, publisher: Any) -> None:
        post(url(publisher, extra="&TSErrEM=developer@agency.example"), notification("734"))
        assert InboundDelivery.objects.get().notify_email == "developer@agency.example"
