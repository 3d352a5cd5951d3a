"""The postage window: nothing is made or shipped before the deadline the customer's email
promised; every reader treats an order whose window has passed as ready, before the window
task has run; the task moves it, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.fulfillment import selectors
from pressrun.fulfillment.services import (
    FulfillmentRefused,
    Refusal,
    fulfillment_close_postage_windows,
    fulfillment_move,
)
from pressrun.fulfillment.tasks import close_postage_windows
from pressrun.orders import events as order_events
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from tests.fulfillment.support import today

pytestmark = pytest.mark.django_db

S = FulfillmentState


def end_window(order: Order, *, ago: timedelta = timedelta(minutes=5)) -> datetime:
    """As if the order had been placed (and paid) 12 hours before its window ended `ago`;
    returns the window's end."""
    deadline = timezone.now() - ago
    placed = deadline - timedelta(hours=12)
    paid = {"charged_at": placed, "fulfillment_updated_at": placed} if order.charged_at else {}
    Order.objects.filter(id=order.id).update(
        address_changes_until=deadline, created_at=placed, **paid
    )
    order.refresh_from_db()
    return deadline


@pytest.mark.parametrize("target", [S.READY, S.IN_PRODUCTION, S.PACKED, S.SHIPPED])
def test_nothing_is_made_or_shipped_before_the_window_ends(
    paid: Callable[..., Order], target: str
) -> None:
    order = paid()
    assert order.address_changes_until is not None
    assert order.address_changes_until > timezone.now() + timedelta(hours=11)
    details = {"ship_date": today()} if target == S.SHIPPED else {}
    with pytest.raises(FulfillmentRefused) as refused:
        fulfillment_move(order_id=order.id, to=target, actor="operator:ann", **details)
    assert refused.value.reason == Refusal.WINDOW_OPEN
    assert refused.value.message == (
        f"Order {order.id} waits for its postage window: the customer may correct the address "
        f"until {order.address_changes_until:%Y-%m-%d %H:%M} UTC, and nothing is made or "
        "shipped before then."
    )
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING
    assert not OrderEvent.objects.filter(order=order, kind="fulfillment").exists()


def test_readers_treat_a_passed_window_as_ready_before_the_task_runs(
    paid: Callable[..., Order], publisher: Any
) -> None:
    waiting, passed, shipped = paid(), paid(), paid()
    deadline = end_window(passed)
    end_window(shipped)
    fulfillment_move(order_id=shipped.id, to=S.SHIPPED, actor="t", ship_date=today())
    now = timezone.now()

    assert list(selectors.ready_orders()) == [passed]
    assert set(Order.objects.filter(selectors.state_q(S.WAITING))) == {waiting}
    assert set(Order.objects.filter(selectors.state_q(S.READY))) == {passed}
    assert set(Order.objects.filter(selectors.state_q(S.SHIPPED))) == {shipped}
    assert Order.objects.get(id=passed.id).fulfillment_state == S.WAITING  # stored: unchanged
    assert selectors.effective_state(passed) == S.READY
    assert selectors.effective_state(waiting) == S.WAITING
    assert selectors.window_has_ended(passed) is True
    assert selectors.window_has_ended(waiting) is False
    annotated = {
        o.id: o.effective_fulfillment_state
        for o in selectors.with_effective_state(Order.objects.all())
    }
    assert annotated == {waiting.id: S.WAITING, passed.id: S.READY, shipped.id: S.SHIPPED}

    # ShipStation's "last modified": the window's end, for the order that became ready.
    assert selectors.fulfillment_last_modified(passed, now=now) == deadline
    assert selectors.fulfillment_last_modified(waiting, now=now) == waiting.fulfillment_updated_at
    modified = {
        o.id: o.fulfillment_last_modified
        for o in selectors.with_fulfillment_last_modified(Order.objects.all(), now=now)
    }
    assert modified[passed.id] == deadline
    assert modified[waiting.id] == waiting.fulfillment_updated_at
    assert modified[shipped.id] == Order.objects.get(id=shipped.id).fulfillment_updated_at


def test_the_window_task_moves_waiting_orders_once(
    paid: Callable[..., Order], published: list[Any], settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    waiting, passed = paid(), paid()
    deadline = end_window(passed)
    before = selectors.fulfillment_last_modified(passed)
    published.clear()

    assert close_postage_windows.call() == 1
    passed.refresh_from_db()
    assert (passed.fulfillment_state, passed.status) == (S.READY, "PROCESSING")
    # It became ready when the window ended: the "last modified" time readers saw stays.
    assert passed.fulfillment_updated_at == deadline == before
    event = OrderEvent.objects.filter(order=passed).latest("id")
    assert (event.kind, event.from_state, event.to_state, event.actor, event.message) == (
        "fulfillment",
        S.WAITING,
        S.READY,
        "postage window",
        f"Postage window ended {deadline:%Y-%m-%d %H:%M} UTC: ready to be made.",
    )
    assert [type(e) for e in published] == [order_events.FulfillmentMoved, order_events.OrderReady]
    assert Order.objects.get(id=waiting.id).fulfillment_state == S.WAITING

    # A second run (or a second worker) finds nothing; nothing is written again.
    events = OrderEvent.objects.count()
    assert close_postage_windows.call() == 0
    assert fulfillment_close_postage_windows() == 0
    assert OrderEvent.objects.count() == events
    # Each run keeps one future run queued.
    [next_run] = DBTaskResult.objects.filter(
        task_path=close_postage_windows.module_path, status=TaskResultStatus.READY
    )
    assert next_run.run_after is not None
    assert next_run.run_after > timezone.now() + timedelta(seconds=50)


def test_a_move_from_waiting_after_the_window_passes_through_ready(
    paid: Callable[..., Order], published: list[Any]
) -> None:
    order = paid()
    deadline = end_window(order)
    published.clear()
    result = fulfillment_move(order_id=order.id, to=S.IN_PRODUCTION, actor="operator:ann")
    assert (result.from_state, result.order.fulfillment_state) == (S.WAITING, S.IN_PRODUCTION)
    steps = [
        (e.from_state, e.to_state, e.actor)
        for e in OrderEvent.objects.filter(order=order, kind="fulfillment").order_by("id")
    ]
    assert steps == [
        (S.WAITING, S.READY, "operator:ann"),
        (S.READY, S.IN_PRODUCTION, "operator:ann"),
    ]
    assert [type(e).__name__ for e in published] == [
        "FulfillmentMoved",
        "OrderReady",
        "FulfillmentMoved",
    ]
    assert result.order.fulfillment_updated_at is not None
    assert result.order.fulfillment_updated_at > deadline
    # The task has nothing left to do for it.
    assert fulfillment_close_postage_windows() == 0


def test_a_refused_move_through_ready_writes_neither_step(paid: Callable[..., Order]) -> None:
    order = paid()
    end_window(order)
    with pytest.raises(FulfillmentRefused):
        fulfillment_move(
            order_id=order.id,
            to=S.SHIPPED,
            actor="t",
            ship_date=today() + timedelta(days=90),
        )
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING
    assert not OrderEvent.objects.filter(order=order, kind="fulfillment").exists()


def test_a_zero_hour_delay_is_waiting_until_the_task_and_ready_to_readers(
    place: Callable[..., Order], make_publisher: Callable[..., Any], make_project: Any
) -> None:
    publisher = make_publisher(balance="20", postage_delay_hours=0)
    order = place(publisher, make_project(publisher))
    assert order.address_changes_until == order.created_at
    assert (order.fulfillment_state, selectors.effective_state(order)) == (S.WAITING, S.READY)
    assert list(selectors.ready_orders()) == [order]
    assert fulfillment_close_postage_windows() == 1
    assert Order.objects.get(id=order.id).fulfillment_state == S.READY


def test_ready_orders_leaves_out_hold_test_and_stopped_orders(
    place: Callable[..., Order],
    make_publisher: Callable[..., Any],
    make_project: Any,
    paid: Callable[..., Order],
) -> None:
    broke = make_publisher()
    hold = place(broke, make_project(broke))
    test = place(broke, make_project(broke), mode="test")
    for order in (hold, test):
        end_window(order)
    flagged, ready = paid(), paid()
    end_window(flagged)
    end_window(ready)
    fulfillment_move(order_id=flagged.id, to=S.ADDRESS_ERROR, actor="t", description="Bad.")
    assert list(selectors.ready_orders()) == [ready]
