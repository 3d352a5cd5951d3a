"""A processing task that crashes never leaves its delivery pending for good: the delivery is
marked failed with the error and retried; a periodic sweep queues again any delivery left
pending with no task; an operator can replay such a delivery. Delivery locks leave the
publisher's row alone."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.carts.locks import deliveries_for_update
from pressrun.carts.models import Cart, InboundDelivery, Outcome
from pressrun.carts.selectors import stale_pending_delivery_ids
from pressrun.carts.services import deliveries_requeue_stale, delivery_process, delivery_replay
from pressrun.carts.shopify.parse import parse_order
from pressrun.carts.tasks import (
    STALE_DELIVERY_SWEEP_INTERVAL,
    process_delivery,
    requeue_stale_deliveries,
)
from pressrun.core.tasks import housekeeping, schedule_periodic_tasks
from pressrun.orders.models import Order
from tests.carts.lock_spy import probe_delivery_locks, record_delivery_locks
from tests.carts.samcart_payloads import as_json, notification
from tests.carts.shopify_payloads import order_json, shopify_headers

pytestmark = pytest.mark.django_db

CRASHED = (
    "Attempt 1 failed: Unexpected error RuntimeError: parser bug. It will be retried "
    "automatically; it can also be replayed now."
)
LOST = "Its processing task was lost; queued again automatically."


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(
        publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}{294010}{298020}"
    )


@pytest.fixture
def crashing_parser() -> Iterator[mock.Mock]:
    with mock.patch(
        "pressrun.carts.shopify.parse.parse_order", side_effect=RuntimeError("parser bug")
    ) as parser:
        yield parser


def shopify_delivery(publisher: Any, *, webhook_id: str = "w-1") -> InboundDelivery:
    target = f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}"
    response = Client().post(
        target,
        data=order_json(),
        content_type="application/json",
        **shopify_headers(webhook_id=webhook_id),
    )
    assert response.status_code == 200
    return InboundDelivery.objects.get(delivery_id=webhook_id)


def process_tasks() -> list[DBTaskResult[Any, Any]]:
    return list(
        DBTaskResult.objects.filter(task_path=process_delivery.module_path).order_by("enqueued_at")
    )


def lose_tasks_and_age(delivery: InboundDelivery, *, seconds: int) -> None:
    """As if the delivery's tasks had vanished and it was received `seconds` ago."""
    for task in process_tasks():
        if task.args_kwargs["kwargs"]["delivery_id"] == delivery.id:
            task.delete()
    InboundDelivery.objects.filter(id=delivery.id).update(
        received_at=timezone.now() - timedelta(seconds=seconds)
    )


# --- a crash in the task -------------------------------------------------------------------


def test_an_unexpected_error_fails_the_delivery_logs_it_and_retries(
    publisher: Any, cd: Any, crashing_parser: mock.Mock, caplog: Any, settings: Any
) -> None:
    settings.CART_RETRY_BASE_SECONDS = 30
    delivery = shopify_delivery(publisher)
    DBTaskResult.objects.all().delete()
    before = timezone.now()
    with caplog.at_level(logging.ERROR, logger="pressrun.carts.tasks"):
        assert process_delivery.call(delivery_id=delivery.id) == "retrying"
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.reason, delivery.retry_queued) == (
        Outcome.FAILED,
        CRASHED,
        True,
    )
    assert delivery.processed_at is not None
    assert not Order.objects.exists()
    [logged] = [r for r in caplog.records if r.name == "pressrun.carts.tasks"]
    assert logged.getMessage() == f"delivery {delivery.id}: unexpected error (attempt 1)"
    assert logged.exc_info is not None
    assert logged.exc_info[0] is RuntimeError
    [retry] = process_tasks()
    assert retry.status == TaskResultStatus.READY
    assert retry.args_kwargs["kwargs"] == {"delivery_id": delivery.id, "attempt": 2}
    # Backoff: attempt 1 waits between half and all of CART_RETRY_BASE_SECONDS (30 s).
    assert (
        before + timedelta(seconds=15) <= retry.run_after <= timezone.now() + timedelta(seconds=30)
    )

    crashing_parser.side_effect = parse_order  # the bug is fixed before the retry runs
    assert process_delivery.call(delivery_id=delivery.id, attempt=2) == Outcome.ORDER_CREATED
    delivery.refresh_from_db()
    order = Order.objects.get()
    assert (delivery.outcome, delivery.reason, delivery.retry_queued) == (
        Outcome.ORDER_CREATED,
        f"Order {order.id}.",
        False,
    )


def test_the_last_attempt_gives_up_and_leaves_it_to_a_replay(
    publisher: Any, cd: Any, crashing_parser: mock.Mock, settings: Any
) -> None:
    settings.CART_RETRY_ATTEMPTS = 2
    delivery = shopify_delivery(publisher)
    DBTaskResult.objects.all().delete()
    assert process_delivery.call(delivery_id=delivery.id) == "retrying"
    DBTaskResult.objects.all().delete()
    assert process_delivery.call(delivery_id=delivery.id, attempt=2) == Outcome.FAILED
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.reason, delivery.retry_queued) == (
        Outcome.FAILED,
        "Gave up after 2 attempts: Unexpected error RuntimeError: parser bug. Replay it once "
        "the cause is fixed.",
        False,
    )
    assert process_tasks() == []
    assert not Order.objects.exists()
    assert delivery_replay(delivery_id=delivery.id)
    [replay] = process_tasks()
    assert replay.args_kwargs["kwargs"] == {"delivery_id": delivery.id}


def test_a_replay_while_the_retry_waits_still_makes_one_order(
    publisher: Any, cd: Any, crashing_parser: mock.Mock
) -> None:
    delivery = shopify_delivery(publisher)
    assert process_delivery.call(delivery_id=delivery.id) == "retrying"
    crashing_parser.side_effect = parse_order
    assert delivery_replay(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.retry_queued) == (Outcome.PENDING, False)
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    # The retry queued by the crash runs later and finds nothing left to do.
    assert process_delivery.call(delivery_id=delivery.id, attempt=2) == Outcome.ORDER_CREATED
    assert Order.objects.count() == 1
    assert InboundDelivery.objects.get().orders.count() == 1


def test_a_samcart_order_whose_notifications_crashed_is_retried_as_one_order(
    publisher: Any, cd: Any
) -> None:
    target = f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}"
    for product_id in ("294010", "298020"):
        body = as_json(notification(product_id=product_id))
        Client().post(target, data=body, content_type="application/json")
    first, second = InboundDelivery.objects.order_by("id")
    with mock.patch(
        "pressrun.carts.samcart.parse.parse_group", side_effect=RuntimeError("grouping bug")
    ):
        assert process_delivery.call(delivery_id=first.id) == "retrying"
        assert process_delivery.call(delivery_id=second.id) == "retrying"
    assert list(InboundDelivery.objects.values_list("outcome", "retry_queued")) == [
        (Outcome.FAILED, True),
        (Outcome.FAILED, True),
    ]
    # The first retry re-opens both notifications, so the order gets both products.
    assert process_delivery.call(delivery_id=first.id, attempt=2) == Outcome.ORDER_CREATED
    assert process_delivery.call(delivery_id=second.id, attempt=2) == Outcome.DUPLICATE
    order = Order.objects.get()
    assert sorted(line.quantity for line in order.lines.all()) == [2]
    assert [
        (d.outcome, d.reason, d.retry_queued) for d in InboundDelivery.objects.order_by("id")
    ] == [
        (Outcome.ORDER_CREATED, f"Order {order.id}.", False),
        (Outcome.DUPLICATE, f"Merged into order {order.id}.", False),
    ]


def test_an_error_after_the_outcome_is_committed_changes_nothing(publisher: Any, cd: Any) -> None:
    delivery = shopify_delivery(publisher)
    DBTaskResult.objects.all().delete()

    def process_then_fail(*, delivery_id: int) -> InboundDelivery:
        delivery_process(delivery_id=delivery_id)
        raise RuntimeError("after the commit")

    with mock.patch("pressrun.carts.services.delivery_process", side_effect=process_then_fail):
        assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.retry_queued) == (Outcome.ORDER_CREATED, False)
    assert process_tasks() == []
    assert Order.objects.count() == 1


def test_a_missing_delivery_is_not_retried() -> None:
    assert process_delivery.call(delivery_id=987654) == "missing"
    assert process_tasks() == []


# --- the sweep for deliveries left pending -------------------------------------------------


def test_the_sweep_queues_again_a_pending_delivery_whose_task_was_lost(
    publisher: Any, cd: Any
) -> None:
    delivery = shopify_delivery(publisher)
    lose_tasks_and_age(delivery, seconds=601)
    assert stale_pending_delivery_ids() == [delivery.id]
    assert deliveries_requeue_stale() == 1
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.reason) == (Outcome.PENDING, LOST)
    [task] = process_tasks()
    assert (task.status, task.args_kwargs["kwargs"]) == (
        TaskResultStatus.READY,
        {"delivery_id": delivery.id},
    )
    assert deliveries_requeue_stale() == 0  # its new task is queued
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    # The lost task turning up after all makes no second order.
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    assert Order.objects.count() == 1
    assert deliveries_requeue_stale() == 0


def test_the_sweep_leaves_deliveries_that_are_recent_or_have_a_task(
    publisher: Any, cd: Any, settings: Any
) -> None:
    settings.PRESSRUN_SAMCART_GRACE_SECONDS = 10
    recent = shopify_delivery(publisher, webhook_id="recent")
    lose_tasks_and_age(recent, seconds=590)
    queued = shopify_delivery(publisher, webhook_id="queued")  # behind a stopped worker
    InboundDelivery.objects.filter(id=queued.id).update(
        received_at=timezone.now() - timedelta(hours=2)
    )
    retrying = shopify_delivery(publisher, webhook_id="retrying")
    lose_tasks_and_age(retrying, seconds=7200)
    process_delivery.using(run_after=timezone.now() + timedelta(minutes=30)).enqueue(
        delivery_id=retrying.id, attempt=4
    )
    # SamCart's notifications wait for the grace window before they are due.
    target = f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}"
    Client().post(target, data=as_json(notification()), content_type="application/json")
    samcart = InboundDelivery.objects.get(cart=Cart.SAMCART)
    lose_tasks_and_age(samcart, seconds=605)

    assert stale_pending_delivery_ids() == []
    assert deliveries_requeue_stale() == 0
    assert len(process_tasks()) == 2
    lose_tasks_and_age(samcart, seconds=611)
    assert stale_pending_delivery_ids() == [samcart.id]
    lose_tasks_and_age(queued, seconds=7201)
    assert stale_pending_delivery_ids() == [queued.id, samcart.id]  # oldest first


def test_the_sweep_runs_every_few_minutes_and_the_worker_start_schedules_it() -> None:
    schedule_periodic_tasks()
    schedule_periodic_tasks()
    for periodic in (housekeeping, requeue_stale_deliveries):
        assert DBTaskResult.objects.filter(task_path=periodic.module_path).count() == 1
    DBTaskResult.objects.all().delete()
    before = timezone.now()
    assert requeue_stale_deliveries.call() == 0
    [next_run] = DBTaskResult.objects.filter(task_path=requeue_stale_deliveries.module_path)
    assert next_run.status == TaskResultStatus.READY
    assert before + STALE_DELIVERY_SWEEP_INTERVAL <= next_run.run_after
    assert next_run.run_after <= timezone.now() + STALE_DELIVERY_SWEEP_INTERVAL
    assert timedelta(minutes=5) == STALE_DELIVERY_SWEEP_INTERVAL


def test_a_failing_sweep_still_schedules_the_next_one() -> None:
    with (
        mock.patch(
            "pressrun.carts.services.deliveries_requeue_stale", side_effect=RuntimeError("x")
        ),
        pytest.raises(RuntimeError),
    ):
        requeue_stale_deliveries.call()
    assert DBTaskResult.objects.filter(task_path=requeue_stale_deliveries.module_path).count() == 1


# --- replaying a delivery left pending -----------------------------------------------------


def test_a_stale_pending_delivery_can_be_replayed_and_a_waiting_one_cannot(
    publisher: Any, cd: Any
) -> None:
    delivery = shopify_delivery(publisher)
    assert not delivery_replay(delivery_id=delivery.id)  # its task is queued
    lose_tasks_and_age(delivery, seconds=30)
    assert not delivery_replay(delivery_id=delivery.id)  # not overdue yet
    lose_tasks_and_age(delivery, seconds=601)
    assert delivery_replay(delivery_id=delivery.id)
    assert [t.args_kwargs["kwargs"] for t in process_tasks()] == [{"delivery_id": delivery.id}]
    assert not delivery_replay(delivery_id=delivery.id)  # queued now
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED


def test_the_admin_replays_a_stale_pending_delivery(
    publisher: Any, cd: Any, admin_client: Any
) -> None:
    delivery = shopify_delivery(publisher)
    lose_tasks_and_age(delivery, seconds=3600)
    response = admin_client.post(
        "/admin/carts/inbounddelivery/",
        {"action": "replay", "_selected_action": [delivery.id]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Queued 1 deliveries again; skipped 0 (only failed or unmatched ones are replayed, "
        "and pending ones no task is left to process)."
    ]
    assert [t.args_kwargs["kwargs"] for t in process_tasks()] == [{"delivery_id": delivery.id}]


# --- locks -----------------------------------------------------------------------------------


def test_delivery_locks_name_only_the_delivery_table(monkeypatch: Any) -> None:
    monkeypatch.setattr(connection.features, "has_select_for_update_of", True)
    assert deliveries_for_update().query.select_for_update_of == ("self",)
    monkeypatch.setattr(connection.features, "has_select_for_update_of", False)
    assert deliveries_for_update().query.select_for_update
    assert deliveries_for_update().query.select_for_update_of == ()


def test_processing_samcart_never_locks_the_publisher_row(
    publisher: Any, cd: Any, monkeypatch: Any
) -> None:
    """Every lock SamCart's processing takes through the ORM on deliveries names the
    delivery table only (Shopify's and 1ShoppingCart's compiled reads: below and in
    test_oneshoppingcart)."""
    monkeypatch.setattr(connection.features, "has_select_for_update_of", True)
    target = f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}"
    Client().post(target, data=as_json(notification()), content_type="application/json")
    samcart = InboundDelivery.objects.get(cart=Cart.SAMCART)
    with record_delivery_locks() as locks:
        assert delivery_process(delivery_id=samcart.id).outcome == Outcome.ORDER_CREATED
    assert locks == [("self",)]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks: PostgreSQL's half (SQLite has no FOR UPDATE; its write lock covers all)",
)
@pytest.mark.django_db(transaction=True)
def test_processing_shopify_locks_the_delivery_row_but_not_the_publishers(
    publisher: Any, cd: Any, monkeypatch: Any
) -> None:
    delivery = shopify_delivery(publisher)
    with probe_delivery_locks(monkeypatch) as seen:
        assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
    assert seen == [(False, True)]
