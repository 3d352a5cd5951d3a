"""The placed orders' relay (`orders.relay`): intake's transaction writes the order's placed
event for the worker to relay instead of its follow-ups' task rows; the relay hands each
order to the follow-ups once, as it was placed, and an order whose relay fails neither is
half handed nor holds back the others."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError
from django_tasks_db.models import DBTaskResult

from pressrun.billing.services import ledger_credit
from pressrun.core.events import subscribe, unsubscribe
from pressrun.orders import relay
from pressrun.orders.changes import order_delete
from pressrun.orders.events import PlacedOrderRelayed
from pressrun.orders.models import Order, OrderEvent
from pressrun.orders.relay import RELAY_BATCH, placed_orders_relay
from tests import intake
from tests.threads import run_together, skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_order_set_aside() -> Iterator[None]:
    relay._failed_at.clear()
    yield
    relay._failed_at.clear()


EMAIL = "pressrun.notifications.tasks.order_placed_email"
CHECK = "pressrun.fulfillment.address.tasks.check_order_address"


def queued() -> list[tuple[str, int]]:
    """Every queued task that names an order: (task, order id), sorted."""
    return sorted(
        (row.task_path, row.args_kwargs["kwargs"]["order_id"])
        for row in DBTaskResult.objects.all()
        if "order_id" in row.args_kwargs["kwargs"]
    )


def follow_ups(*orders: Order) -> list[tuple[str, int]]:
    """The tasks a paid production order's relay queues (its email, its address check)."""
    return sorted((path, order.id) for order in orders for path in (CHECK, EMAIL))


def pending() -> list[int]:
    return sorted(OrderEvent.objects.filter(relay_pending=True).values_list("order_id", flat=True))


@pytest.fixture
def relayed() -> Iterator[list[tuple[int, str, str]]]:
    """What `PlacedOrderRelayed` told its subscribers: (order id, status, fulfillment state)."""
    seen: list[tuple[int, str, str]] = []

    def record(event: PlacedOrderRelayed) -> None:
        seen.append((event.order.id, event.order.status, event.order.fulfillment_state))

    subscribe(PlacedOrderRelayed, record)
    yield seen
    unsubscribe(PlacedOrderRelayed, record)


def place(publisher: Any, project: Any, invoice: str, **options: Any) -> Order:
    return intake.place(publisher, [(project, 1)], invoice=invoice, **options)


def test_a_paid_order_is_relayed_once_as_placed(
    make_publisher: Any, make_project: Any, relayed: list[tuple[int, str, str]]
) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher), "P-1")
    assert order.status == "PROCESSING"
    # Intake's transaction queued nothing: the placed event waits for the relay.
    assert queued() == []
    assert pending() == [order.id]
    assert placed_orders_relay() == 1
    assert relayed == [(order.id, "PROCESSING", order.fulfillment_state)]
    assert queued() == follow_ups(order)
    assert pending() == []
    assert placed_orders_relay() == 0
    assert queued() == follow_ups(order)
    assert len(relayed) == 1


def test_a_hold_order_paid_before_its_relay_is_relayed_as_held_and_checked_once(
    make_publisher: Any, make_project: Any, relayed: list[tuple[int, str, str]]
) -> None:
    poor = make_publisher(balance="0")
    order = place(poor, make_project(poor), "H-1")
    assert order.status == "HOLD"
    ledger_credit(publisher_id=poor.id, amount=order.total_cost, description="t", actor="test")
    order.refresh_from_db()
    assert order.status == "PROCESSING"
    assert queued() == [(CHECK, order.id)]  # the payment's (OrderPaid)
    assert placed_orders_relay() == 1
    # As placed: on HOLD, outside fulfillment; so its check is not queued a second time.
    assert relayed == [(order.id, "HOLD", "")]
    assert queued() == follow_ups(order)


def test_a_test_order_is_relayed_as_a_test(
    make_publisher: Any, make_project: Any, relayed: list[tuple[int, str, str]]
) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher), "T-1", mode="test")
    assert placed_orders_relay() == 1
    assert relayed == [(order.id, "TEST", "")]
    assert queued() == [(EMAIL, order.id)]  # no address check for a test order


def test_an_order_deleted_before_its_relay_has_no_follow_ups(
    make_publisher: Any, make_project: Any, relayed: list[tuple[int, str, str]]
) -> None:
    poor = make_publisher(balance="0")
    order = place(poor, make_project(poor), "H-1")
    order_delete(publisher=poor, order_id=order.id, actor="publisher")
    assert pending() == []
    assert placed_orders_relay() == 0
    assert relayed == []
    assert [path for path, order_id in queued() if order_id == order.id] == []


def test_a_relay_hands_a_batch_oldest_first(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="1000")
    project = make_project(publisher, price=Decimal("1.00"))
    orders = [place(publisher, project, f"B-{n}") for n in range(RELAY_BATCH + 5)]
    assert placed_orders_relay() == RELAY_BATCH
    assert pending() == [order.id for order in orders[RELAY_BATCH:]]
    assert placed_orders_relay() == 5
    assert placed_orders_relay() == 0
    assert queued() == follow_ups(*orders)


def test_an_order_whose_relay_fails_is_set_aside_and_holds_back_no_other(
    make_publisher: Any, make_project: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    first, failing, third = (place(publisher, project, f"F-{n}") for n in range(3))

    def fail_on_one(event: PlacedOrderRelayed) -> None:
        if event.order.id == failing.id:
            raise RuntimeError("a subscriber failed")

    subscribe(PlacedOrderRelayed, fail_on_one)
    try:
        with caplog.at_level(logging.ERROR, logger="pressrun.orders.relay"):
            assert placed_orders_relay() == 2
        # The batch failed and was relayed order by order: the failing order's follow-ups
        # went back with its own transaction (nothing half done), the others' are queued.
        assert queued() == follow_ups(first, third)
        assert pending() == [failing.id]
        [logged] = caplog.records
        assert logged.exc_info is not None
        assert logged.exc_info[0] is RuntimeError
        # Left aside for a while: polls meanwhile do not retry it.
        assert placed_orders_relay() == 0
    finally:
        unsubscribe(PlacedOrderRelayed, fail_on_one)
    monkeypatch.setattr(relay, "RETRY_FAILED_SECONDS", 0.0)
    assert placed_orders_relay() == 1
    assert queued() == follow_ups(first, failing, third)
    assert pending() == []


def test_a_failure_of_the_database_sets_no_order_aside(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    orders = [place(publisher, project, f"D-{n}") for n in range(2)]

    def connection_lost(event: PlacedOrderRelayed) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    subscribe(PlacedOrderRelayed, connection_lost)
    try:
        # Not the orders' fault: the batch is left whole for the next poll, none set aside.
        with pytest.raises(OperationalError):
            placed_orders_relay()
    finally:
        unsubscribe(PlacedOrderRelayed, connection_lost)
    assert relay._failed_at == {}
    assert queued() == []
    assert placed_orders_relay() == 2
    assert queued() == follow_ups(*orders)


def test_without_a_worker_the_relay_runs_as_the_order_is_placed(
    settings: Any, make_publisher: Any, make_project: Any, relayed: list[tuple[int, str, str]]
) -> None:
    # A backend that runs each task as it is queued has no worker to relay: intake does.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher), "I-1")
    assert pending() == []
    assert relayed == [(order.id, "PROCESSING", order.fulfillment_state)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_hand_each_order_once(make_publisher: Any, make_project: Any) -> None:
    skip_unless_threads_share_the_database()
    publisher = make_publisher(balance="1000")
    project = make_project(publisher, price=Decimal("1.00"))
    orders = [place(publisher, project, f"C-{n}") for n in range(3 * RELAY_BATCH)]
    handed: list[int] = []

    def worker() -> None:
        while relayed_now := placed_orders_relay():
            handed.append(relayed_now)

    assert run_together(*(worker for _ in range(6))) == []
    assert sum(handed) == len(orders)
    assert pending() == []
    assert queued() == follow_ups(*orders)
