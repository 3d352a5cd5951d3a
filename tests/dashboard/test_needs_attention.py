""" "Needs attention" can be cleared by the publisher: a failed delivery dismissed (who and
when; it stays in the log) or replayed (the same idempotent processing as the operators'
Replay: never a second order), an unmatched product ignored ("not a disc") and asked again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery, Outcome, UnmatchedProduct
from pressrun.carts.services import delivery_receive
from pressrun.carts.unmatched import CartProduct, unmatched_record
from pressrun.orders.models import Order
from tests.carts.shopify_payloads import order_json
from tests.dashboard.pages import text
from tests.threads import skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db

ACTOR = "dashboard (owner@example.com)"


def failed_delivery(publisher: Publisher, **fields: Any) -> InboundDelivery:
    values: dict[str, Any] = {
        "cart": "shopify",
        "publisher": publisher,
        "received_at": timezone.now(),
        "body": order_json(),
        "topic": "orders/fulfilled",
        "external_key": "press-demo.myshopify.com:820982911946154508",
        "outcome": Outcome.FAILED,
        "reason": "Gave up after 8 attempts: the database was unavailable. Replay it once the "
        "cause is fixed.",
        "processed_at": timezone.now(),
    }
    values.update(fields)
    return InboundDelivery.objects.create(**values)


def problem_count(client: Client) -> str:
    page = client.get("/home").content.decode()
    return page.split('data-testid="problem-count">')[1].split("<")[0]


def test_a_failed_delivery_can_be_dismissed_and_stays_in_the_log(
    signed_in: Client, publisher: Publisher
) -> None:
    delivery = failed_delivery(publisher)
    assert problem_count(signed_in) == "1"
    home = signed_in.get("/home").content.decode()
    assert f'action="/integrations/deliveries/{delivery.id}/dismiss"' in home

    before = timezone.now()
    response = signed_in.post(
        f"/integrations/deliveries/{delivery.id}/dismiss", {"back": "home"}, follow=True
    )
    assert response.redirect_chain == [("/home#problems-detail", 302)]
    assert (
        f"Delivery {delivery.id} is dismissed: it no longer needs attention and stays in the "
        "delivery log." in text(response)
    )
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.FAILED
    assert delivery.dismissed_by == ACTOR
    assert delivery.dismissed_at is not None
    assert delivery.dismissed_at >= before
    assert problem_count(signed_in) == "0"
    assert "Failed cart deliveries" not in signed_in.get("/home").content.decode()

    log = text(signed_in.get("/integrations"))
    assert f"Dismissed {delivery.dismissed_at:%Y-%m-%d %H:%M} UTC by {ACTOR}" in log

    # A second dismissal keeps the first one's who and when.
    first = delivery.dismissed_at
    signed_in.post(f"/integrations/deliveries/{delivery.id}/dismiss")
    delivery.refresh_from_db()
    assert delivery.dismissed_at == first


def test_only_a_failed_delivery_can_be_dismissed(signed_in: Client, publisher: Publisher) -> None:
    delivery = failed_delivery(publisher, outcome=Outcome.UNMATCHED)
    response = signed_in.post(f"/integrations/deliveries/{delivery.id}/dismiss", follow=True)
    assert (
        f"Delivery {delivery.id} is unmatched (no line matches a project), not failed: only a "
        "failed delivery can be dismissed." in text(response)
    )
    delivery.refresh_from_db()
    assert delivery.dismissed_at is None


def test_a_failed_delivery_replayed_by_the_publisher_makes_one_order(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_project(publisher, title="Greatest Hits", ecommerce_ids="{VTD234-100}")
    delivery = failed_delivery(publisher)
    signed_in.post(f"/integrations/deliveries/{delivery.id}/dismiss")
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/integrations/deliveries/{delivery.id}/replay", follow=True)
    assert response.redirect_chain == [("/integrations#deliveries", 302)]
    assert f"Delivery {delivery.id} is queued to be processed again" in text(response)
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert delivery.dismissed_at is None  # replayed: the dismissal is over
    assert Order.objects.filter(publisher=publisher).count() == 1

    # Replaying again never makes a second order.
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/integrations/deliveries/{delivery.id}/replay", follow=True)
    assert (
        f"Delivery {delivery.id} is order created: only a failed or unmatched delivery can be "
        "replayed." in text(response)
    )
    assert Order.objects.filter(publisher=publisher).count() == 1


def test_a_delivery_refused_for_its_signature_is_never_replayed(
    signed_in: Client, publisher: Publisher
) -> None:
    delivery, _ = delivery_receive(
        cart="shopify",
        publisher=publisher,
        headers={},
        body=order_json(),
        topic="orders/fulfilled",
        failure="Signature does not match.",
    )
    page = signed_in.get("/integrations").content.decode()
    assert f"/integrations/deliveries/{delivery.id}/replay" not in page
    response = signed_in.post(f"/integrations/deliveries/{delivery.id}/replay", follow=True)
    assert "it is never replayed" in text(response)
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.FAILED


def test_an_unmatched_product_can_be_ignored_for_good_and_asked_again(
    signed_in: Client, publisher: Publisher
) -> None:
    first = failed_delivery(publisher, outcome=Outcome.UNMATCHED)
    unmatched_record(delivery=first, products=[CartProduct("POSTER-9", "Tour poster")])
    product = UnmatchedProduct.objects.get(publisher=publisher)
    assert problem_count(signed_in) == "1"

    response = signed_in.post(f"/integrations/unmatched/{product.id}/ignore", follow=True)
    assert response.redirect_chain == [("/integrations#unmatched", 302)]
    assert "Shopify product 'POSTER-9' is ignored" in text(response)
    product.refresh_from_db()
    assert product.ignored_by == ACTOR
    assert product.ignored_at is not None
    assert problem_count(signed_in) == "0"
    page = signed_in.get("/integrations").content.decode()
    assert f'action="/integrations/unmatched/{product.id}/map"' not in page
    assert f'action="/integrations/unmatched/{product.id}/ask-again"' in page

    # A later delivery with the same product does not bring it back.
    later = failed_delivery(
        publisher, outcome=Outcome.UNMATCHED, external_key="press-demo.myshopify.com:2"
    )
    unmatched_record(delivery=later, products=[CartProduct("POSTER-9", "Tour poster")])
    product.refresh_from_db()
    assert product.times_seen == 2
    assert product.ignored_at is not None
    assert problem_count(signed_in) == "0"

    # Undo.
    response = signed_in.post(f"/integrations/unmatched/{product.id}/ask-again", follow=True)
    assert "Shopify product 'POSTER-9' is listed again." in text(response)
    product.refresh_from_db()
    assert product.ignored_at is None
    assert product.ignored_by == ""
    assert problem_count(signed_in) == "1"


def test_the_actions_need_a_post(signed_in: Client, publisher: Publisher) -> None:
    delivery = failed_delivery(publisher)
    product = UnmatchedProduct.objects.create(
        publisher=publisher,
        cart="samcart",
        product_ref="294010",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    for path in (
        f"/integrations/deliveries/{delivery.id}/dismiss",
        f"/integrations/deliveries/{delivery.id}/replay",
        f"/integrations/unmatched/{product.id}/ignore",
        f"/integrations/unmatched/{product.id}/ask-again",
    ):
        assert signed_in.get(path).status_code == 405, path
    delivery.refresh_from_db()
    product.refresh_from_db()
    assert (delivery.dismissed_at, delivery.outcome, product.ignored_at) == (
        None,
        Outcome.FAILED,
        None,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_and_a_dismissal_make_one_order(
    make_publisher: Callable[..., Any], make_project: Callable[..., Any], settings: Any
) -> None:
    """Eight replays of one failed delivery at once (two browser tabs, a double click), with a
    dismissal among them: exactly one is queued, the processing makes one order."""
    from django.db import connection

    from pressrun.carts.services import (
        DeliveryActionRefused,
        delivery_dismiss,
        delivery_process,
        delivery_replay_by_publisher,
    )

    skip_unless_threads_share_the_database()
    publisher = make_publisher(email="owner@example.com")
    make_project(publisher, title="Greatest Hits", ecommerce_ids="{VTD234-100}")
    delivery = failed_delivery(publisher)
    barrier = threading.Barrier(9)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def replay() -> None:
        try:
            barrier.wait(timeout=30)
            delivery_replay_by_publisher(publisher=publisher, delivery_id=delivery.id)
            outcomes.append("queued")
        except DeliveryActionRefused:
            outcomes.append("refused")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def dismiss() -> None:
        try:
            barrier.wait(timeout=30)
            delivery_dismiss(publisher=publisher, delivery_id=delivery.id, actor=ACTOR)
        except DeliveryActionRefused:
            pass  # already pending again: nothing to dismiss
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=replay) for _ in range(8)]
    threads.append(threading.Thread(target=dismiss))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == ["queued"] + ["refused"] * 7
    delivery_process(delivery_id=delivery.id)
    delivery_process(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert Order.objects.filter(publisher=publisher).count() == 1


# --- webhooks and cart post-backs that gave up ------------------------------------------------


def webhook_endpoint(publisher: Publisher, *, enabled: bool = True) -> Any:
    from pressrun.core.sealed import seal
    from pressrun.webhooks.models import WebhookEndpoint

    now = timezone.now()
    return WebhookEndpoint.objects.create(
        publisher=publisher,
        url="https://hooks.example.com/pressrun",
        secret_sealed=seal("whsec_test"),
        event_types=["order.shipped"],
        enabled=enabled,
        created_at=now,
        updated_at=now,
        secret_created_at=now,
    )


def webhook(publisher: Publisher, *, status: str = "failed", **fields: Any) -> Any:
    from pressrun.webhooks.models import WebhookDelivery

    now = timezone.now()
    values: dict[str, Any] = {
        "event_id": f"evt_{WebhookDelivery.objects.count():032d}",
        "publisher": publisher,
        "event_type": "order.shipped",
        "body": "{}",
        "created_at": now,
        "status": status,
        "gave_up_at": now if status == "failed" else None,
        "last_error": "HTTP 500",
        "last_response_code": 500,
    }
    values.update(fields)
    return WebhookDelivery.objects.create(**values)


def postback(order: Order, *, state: str = "gave_up", days_ago: float = 0) -> Any:
    from datetime import timedelta

    from pressrun.carts.models import CartPostback

    when = timezone.now() - timedelta(days=days_ago)
    return CartPostback.objects.create(
        order=order,
        cart="shopify",
        state=state,
        attempts=12,
        last_error="No Shopify Admin API access token is saved: add it under Settings → Cart "
        "credentials, then send again.",
        created_at=when,
        updated_at=when,
    )


@pytest.fixture
def tasks_not_run(settings: Any) -> None:
    """Tasks are queued, never run: what a "Send again" leaves is the state before its task."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def problems(client: Client) -> str:
    return text(client.get("/home"))


@pytest.mark.usefixtures("tasks_not_run")
def test_a_webhook_that_gave_up_needs_attention_until_sent_again_or_turned_off(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    order = place_order(publisher, make_project(publisher))
    webhook_endpoint(publisher)
    failed = webhook(publisher, order=order)
    webhook(publisher, status="delivered", gave_up_at=None)
    webhook(publisher, event_type="webhook.test")  # a failed test event: shown where sent
    other = make_publisher(email="other@example.com")
    webhook_endpoint(other)
    webhook(other)

    assert problem_count(signed_in) == "1"
    home = signed_in.get("/home").content.decode()
    assert (
        f'<a href="/integrations/webhooks/deliveries/{failed.id}">order.shipped</a> about order '
        f"{order.id}, given up {failed.gave_up_at:%Y-%m-%d %H:%M} UTC: HTTP 500</li>" in home
    )
    assert "Webhooks that could not be delivered (1)" in problems(signed_in)
    assert 'href="/integrations/webhooks#log"' in home

    # Sent again: pending (its task queued, not run here), no longer a problem.
    response = signed_in.post(f"/integrations/webhooks/deliveries/{failed.id}/redeliver")
    assert response.status_code == 302
    assert problem_count(signed_in) == "0"
    assert "Webhooks that could not be delivered" not in problems(signed_in)

    # Given up again, then webhooks turned off: off the list, still in the log.
    from pressrun.webhooks.models import WebhookDelivery, WebhookEndpoint

    WebhookDelivery.objects.filter(id=failed.id).update(status="failed", gave_up_at=timezone.now())
    assert problem_count(signed_in) == "1"
    WebhookEndpoint.objects.filter(publisher=publisher).update(enabled=False)
    assert problem_count(signed_in) == "0"
    assert WebhookDelivery.objects.get(id=failed.id).status == "failed"


@pytest.mark.usefixtures("tasks_not_run")
def test_a_post_back_that_gave_up_needs_attention_until_sent_again(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    project = make_project(publisher)
    gave_up = postback(place_order(publisher, project))
    postback(place_order(publisher, project), state="sent")
    postback(place_order(publisher, project), days_ago=31)  # older: on the order page only
    other = make_publisher(email="other@example.com")
    postback(place_order(other, make_project(other)))

    assert problem_count(signed_in) == "1"
    home = signed_in.get("/home").content.decode()
    order = gave_up.order
    assert (
        f'<a href="/orders/{order.id}">Order {order.id}</a> (invoice {order.invoice}): Not sent '
        "to Shopify: No Shopify Admin API access token is saved: add it under Settings → Cart "
        "credentials, then send again.</li>" in home
    )
    assert "Tracking not sent to the cart (1)" in problems(signed_in)

    # Sent again: pending (its task queued, not run here), no longer a problem.
    response = signed_in.post(f"/orders/{order.id}/send-tracking-again")
    assert response.status_code == 302
    gave_up.refresh_from_db()
    assert gave_up.state == "pending"
    assert problem_count(signed_in) == "0"
    assert "Nothing to fix." in problems(signed_in)
