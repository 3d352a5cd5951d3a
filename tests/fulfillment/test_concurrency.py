"""Moves racing each other on PostgreSQL: threads make the same move, conflicting moves, and
the window task at once; exactly one wins, the history has exactly one event per move, and
money moves once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.fulfillment.services import (
    FulfillmentRefused,
    MoveResult,
    Refusal,
    fulfillment_close_postage_windows,
    fulfillment_move,
)
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from tests.fulfillment.support import bring_to, close_window, today

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

S = FulfillmentState
ROUNDS = 5
SHIPMENT = {"ship_date": today(), "tracking_id": "9400111", "carrier": "USPS"}


def race(*jobs: Callable[[], MoveResult]) -> list[MoveResult | FulfillmentRefused]:
    """Run the jobs at the same moment, one thread each; their results or refusals, in
    order. Any other exception fails the test."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[MoveResult | FulfillmentRefused | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], MoveResult]) -> None:
        barrier.wait()
        try:
            outcomes[index] = job()
        except FulfillmentRefused as exc:
            outcomes[index] = exc
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def moves_into(order: Order, state: str) -> int:
    return OrderEvent.objects.filter(order=order, kind="fulfillment", to_state=state).count()


def assert_ledger_matches_balance(publisher: Any) -> None:
    publisher.refresh_from_db()
    total = LedgerEntry.objects.filter(publisher=publisher).aggregate(s=Sum("amount"))["s"]
    assert publisher.balance == total


def test_the_same_move_twice_at_once_moves_once(paid: Callable[..., Order]) -> None:
    for _ in range(ROUNDS):
        order = bring_to(paid(), S.PACKED)

        def ship(order: Order = order) -> MoveResult:
            return fulfillment_move(order_id=order.id, to=S.SHIPPED, actor="t", **SHIPMENT)

        outcomes = race(ship, ship, ship)
        assert all(isinstance(o, MoveResult) for o in outcomes)
        assert sorted(o.changed for o in outcomes if isinstance(o, MoveResult)) == [
            False,
            False,
            True,
        ]
        assert moves_into(order, S.SHIPPED) == 1
        assert Order.objects.get(id=order.id).status == "SHIPPED"


def test_conflicting_moves_at_once_one_wins(paid: Callable[..., Order], publisher: Any) -> None:
    for _ in range(ROUNDS):
        order = bring_to(paid(), S.PACKED)

        def ship(order: Order = order) -> MoveResult:
            return fulfillment_move(order_id=order.id, to=S.SHIPPED, actor="t", **SHIPMENT)

        def cancel(order: Order = order) -> MoveResult:
            return fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="t", reason="r")

        shipped, cancelled = race(ship, cancel)
        won = [o for o in (shipped, cancelled) if isinstance(o, MoveResult)]
        lost = [o for o in (shipped, cancelled) if isinstance(o, FulfillmentRefused)]
        assert len(won) == len(lost) == 1
        assert lost[0].reason == Refusal.NOT_ALLOWED
        final = Order.objects.get(id=order.id).fulfillment_state
        assert final == won[0].order.fulfillment_state
        assert moves_into(order, S.SHIPPED) + moves_into(order, S.CANCELLED) == 1
        refunds = LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND).count()
        assert refunds == (1 if final == S.CANCELLED else 0)
    assert_ledger_matches_balance(publisher)


def test_two_different_shipments_at_once_one_is_a_conflict(paid: Callable[..., Order]) -> None:
    for _ in range(ROUNDS):
        order = bring_to(paid(), S.READY)

        def ship(tracking: str, order: Order = order) -> Callable[[], MoveResult]:
            return lambda: fulfillment_move(
                order_id=order.id, to=S.SHIPPED, actor="t", ship_date=today(), tracking_id=tracking
            )

        outcomes = race(ship("A-1"), ship("B-2"))
        [won] = [o for o in outcomes if isinstance(o, MoveResult)]
        [lost] = [o for o in outcomes if isinstance(o, FulfillmentRefused)]
        assert lost.reason == Refusal.CONFLICT
        assert Order.objects.get(id=order.id).tracking_id == won.order.tracking_id
        assert moves_into(order, S.SHIPPED) == 1


def test_cancelling_twice_at_once_refunds_once(paid: Callable[..., Order], publisher: Any) -> None:
    for _ in range(ROUNDS):
        order = bring_to(paid(), S.IN_PRODUCTION)

        def cancel(order: Order = order) -> MoveResult:
            return fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="t", reason="r")

        outcomes = race(cancel, cancel)
        assert sorted(o.changed for o in outcomes if isinstance(o, MoveResult)) == [False, True]
        [refund] = LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND)
        assert refund.amount == order.total_cost
        assert moves_into(order, S.CANCELLED) == 1
    assert_ledger_matches_balance(publisher)


def test_window_tasks_racing_an_operator_record_ready_once(paid: Callable[..., Order]) -> None:
    orders = [paid() for _ in range(8)]
    for order in orders:
        close_window(order)

    def sweep() -> MoveResult:
        fulfillment_close_postage_windows()
        return MoveResult(order=orders[0], from_state="", changed=False)

    def operator() -> MoveResult:
        return fulfillment_move(order_id=orders[3].id, to=S.IN_PRODUCTION, actor="op")

    race(sweep, sweep, operator)
    for order in orders:
        assert moves_into(order, S.READY) == 1
    assert Order.objects.get(id=orders[3].id).fulfillment_state == S.IN_PRODUCTION
    assert {o.fulfillment_state for o in Order.objects.exclude(id=orders[3].id)} == {S.READY}


def test_a_refund_racing_a_payment_keeps_the_ledger_whole(
    paid: Callable[..., Order], publisher: Any
) -> None:
    from pressrun.billing.services import ledger_credit

    for _ in range(ROUNDS):
        order = bring_to(paid(), S.READY)

        def cancel(order: Order = order) -> MoveResult:
            return fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="t", reason="r")

        def pay(order: Order = order) -> MoveResult:
            ledger_credit(
                publisher_id=publisher.id, amount=Decimal("5.00"), description="", actor="t"
            )
            return MoveResult(order=order, from_state="", changed=False)

        race(cancel, pay)
    assert_ledger_matches_balance(publisher)
