"""The physical-state table, applied by `fulfillment_move`: every allowed move and every
refused one, generated from the table itself, so a state added later is tested without
editing this file. Plus repeats, conflicts, details, corrections and the published events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.fulfillment.services import FulfillmentRefused, Refusal, fulfillment_move
from pressrun.fulfillment.states import (
    ENTRY_STATES,
    FINAL_STATES,
    FULFILLMENT_TABLE,
    REPORTED_STATUS,
    move_allowed,
)
from pressrun.orders import events as order_events
from pressrun.orders.models import FulfillmentState, Order, OrderEvent, OrderStatus
from tests.fulfillment.support import bring_to, close_window, details_for, today

pytestmark = pytest.mark.django_db

S = FulfillmentState
STATES = list(FULFILLMENT_TABLE)
PAIRS = [(start, target) for start in STATES for target in STATES if start != target]

SNAPSHOT_FIELDS = (
    "status",
    "fulfillment_state",
    "fulfillment_updated_at",
    "error_description",
    "ship_date",
    "tracking_id",
    "carrier",
    "service",
    "postage_cost",
    "charged_at",
    "updated_at",
)


def snapshot(order_id: int) -> tuple[Any, ...]:
    """What a refused move must leave as it was: the order, its history, the ledger."""
    values = Order.objects.values_list(*SNAPSHOT_FIELDS).get(id=order_id)
    return (
        values,
        OrderEvent.objects.filter(order_id=order_id).count(),
        LedgerEntry.objects.count(),
    )


def refused(why: Refusal, order_id: int, to: str, /, **details: Any) -> str:
    """Try the move; it must be refused for `why` and leave everything as it was."""
    before = snapshot(order_id)
    with pytest.raises(FulfillmentRefused) as caught:
        fulfillment_move(order_id=order_id, to=to, actor="operator:test", **details)
    assert caught.value.reason == why, caught.value.message
    assert snapshot(order_id) == before
    return caught.value.message


# --- the table itself ------------------------------------------------------------------------


def test_every_state_is_in_the_table_once_and_every_target_is_a_state() -> None:
    assert set(FULFILLMENT_TABLE) == set(FulfillmentState.values)
    for rule in FULFILLMENT_TABLE.values():
        assert rule.next <= set(FULFILLMENT_TABLE)
        assert rule.status in OrderStatus.values
    assert {S.WAITING, S.READY} == ENTRY_STATES
    assert {S.SHIPPED, S.CANCELLED} == FINAL_STATES
    # No move leads into an entry state but ready (the window's end, a correction).
    assert all(S.WAITING not in rule.next for rule in FULFILLMENT_TABLE.values())


def test_every_open_state_can_reach_every_final_state_and_an_address_error() -> None:
    from tests.fulfillment.support import path_to

    for state in STATES:
        if state in FINAL_STATES:
            continue
        for target in (S.SHIPPED, S.CANCELLED, S.ADDRESS_ERROR):
            if state != target:
                assert path_to(target, start=state if state != S.WAITING else S.READY)


def test_reported_status_of_every_state() -> None:
    assert REPORTED_STATUS == {
        S.WAITING: "PROCESSING",
        S.READY: "PROCESSING",
        S.IN_PRODUCTION: "PROCESSING",
        S.PACKED: "PROCESSING",
        S.SHIPPED: "SHIPPED",
        S.ADDRESS_ERROR: "ERROR",
        S.CANCELLED: "CANCELLED",
    }


# --- every move, generated from the table ------------------------------------------------------


def _allowed_after_the_window(start: str, target: str) -> bool:
    """The table's answer once the postage window is over: from waiting, every move from
    ready is possible too (it passes through ready)."""
    if start == S.WAITING and target in FULFILLMENT_TABLE[S.READY].next:
        return True
    return move_allowed(start, target)


@pytest.mark.parametrize(("start", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_move_after_the_window(
    paid: Callable[..., Order], published: list[Any], start: str, target: str
) -> None:
    order = paid()
    order = bring_to(order, start)
    if start == S.WAITING:
        close_window(order)  # the window is over, the task has not run
    assert order.fulfillment_state == start
    events_before = OrderEvent.objects.filter(order=order).count()
    published.clear()
    if not _allowed_after_the_window(start, target):
        message = refused(Refusal.NOT_ALLOWED, order.id, target, **details_for(target))
        assert f"Order {order.id} is " in message
        assert published == []
        return

    result = fulfillment_move(
        order_id=order.id, to=target, actor="operator:test", **details_for(target)
    )
    moved = Order.objects.get(id=order.id)
    assert (result.changed, result.from_state) == (True, start)
    assert (moved.fulfillment_state, moved.status) == (target, REPORTED_STATUS[target])
    steps = [start, target] if move_allowed(start, target) else [start, S.READY, target]
    history = list(OrderEvent.objects.filter(order=order).order_by("id"))[events_before:]
    assert [(e.kind, e.from_state, e.to_state) for e in history] == [
        ("fulfillment", a, b) for a, b in itertools.pairwise(steps)
    ]
    assert [(e.from_status, e.to_status) for e in history] == [
        (REPORTED_STATUS[a], REPORTED_STATUS[b]) for a, b in itertools.pairwise(steps)
    ]
    assert {e.actor for e in history} == {"operator:test"}
    moves = [e for e in published if isinstance(e, order_events.FulfillmentMoved)]
    assert [(e.from_state, e.to_state) for e in moves] == list(itertools.pairwise(steps))
    assert [e.history_event_id for e in moves] == [e.id for e in history]


@pytest.mark.parametrize("target", STATES)
def test_every_move_from_waiting_while_the_window_is_open(
    paid: Callable[..., Order], published: list[Any], target: str
) -> None:
    order = paid()
    assert order.fulfillment_state == S.WAITING
    published.clear()
    if target == S.WAITING:  # asking for the state it is in: a no-op
        result = fulfillment_move(order_id=order.id, to=target, actor="operator:test")
        assert result.changed is False
    elif target in FULFILLMENT_TABLE[S.READY].next - FULFILLMENT_TABLE[S.WAITING].next or (
        target == S.READY
    ):
        message = refused(Refusal.WINDOW_OPEN, order.id, target, **details_for(target))
        assert "waits for its postage window" in message
        assert "nothing is made or shipped before then" in message
    elif move_allowed(S.WAITING, target):
        fulfillment_move(order_id=order.id, to=target, actor="operator:test", **details_for(target))
        assert Order.objects.get(id=order.id).fulfillment_state == target
        return
    else:
        refused(Refusal.NOT_ALLOWED, order.id, target, **details_for(target))
    assert [e for e in published if isinstance(e, order_events.FulfillmentMoved)] == []


@pytest.mark.parametrize("state", STATES)
def test_a_repeated_identical_move_is_a_no_op(
    paid: Callable[..., Order], published: list[Any], state: str
) -> None:
    order = bring_to(paid(), state)
    before = snapshot(order.id)
    published.clear()
    result = fulfillment_move(
        order_id=order.id, to=state, actor="operator:again", **details_for(state)
    )
    assert (result.changed, result.order.fulfillment_state) == (False, state)
    assert snapshot(order.id) == before
    assert published == []


# --- conflicts and corrections ----------------------------------------------------------------


def test_shipping_again_with_other_details_is_a_conflict(paid: Callable[..., Order]) -> None:
    order = bring_to(paid(), S.SHIPPED)
    message = refused(
        Refusal.CONFLICT,
        order.id,
        S.SHIPPED,
        ship_date=today(),
        tracking_id="OTHER-1",
        carrier="USPS",
    )
    assert message == (
        f"Order {order.id} already shipped: Shipped {today():%m/%d/%Y} by USPS, tracking "
        "9400100000000000000001. A different shipment can only be recorded as an operator's "
        "correction."
    )


def test_a_repeat_without_the_postage_cost_is_the_same_shipment(
    paid: Callable[..., Order],
) -> None:
    order = bring_to(paid(), S.READY)
    shipment = {"ship_date": today(), "tracking_id": "LX1", "carrier": "USPS"}
    fulfillment_move(
        order_id=order.id, to=S.SHIPPED, actor="t", postage_cost=Decimal("3.50"), **shipment
    )
    again = fulfillment_move(order_id=order.id, to=S.SHIPPED, actor="t", **shipment)
    assert again.changed is False
    refused(Refusal.CONFLICT, order.id, S.SHIPPED, postage_cost=Decimal("4.00"), **shipment)
    assert Order.objects.get(id=order.id).postage_cost == Decimal("3.50")


def test_a_second_address_problem_is_a_conflict(paid: Callable[..., Order]) -> None:
    order = bring_to(paid(), S.ADDRESS_ERROR)
    message = refused(Refusal.CONFLICT, order.id, S.ADDRESS_ERROR, description="Other problem.")
    assert message.endswith("already stopped for another address problem: No such street.")
    # The same description, spaced differently, is the same move.
    result = fulfillment_move(
        order_id=order.id, to=S.ADDRESS_ERROR, actor="x", description="  No  such street. "
    )
    assert result.changed is False


def test_an_operator_corrects_a_shipment(paid: Callable[..., Order], published: list[Any]) -> None:
    order = bring_to(paid(), S.SHIPPED)
    published.clear()
    result = fulfillment_move(
        order_id=order.id,
        to=S.SHIPPED,
        actor="operator:ann",
        correction=True,
        ship_date=today(),
        tracking_id="1Z999",
        carrier="UPS",
        service="UPS Ground",
        postage_cost=Decimal("8.10"),
        note="Label reprinted.",
    )
    assert result.changed
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state) == ("SHIPPED", S.SHIPPED)
    assert (order.tracking_id, order.carrier, order.service, order.postage_cost) == (
        "1Z999",
        "UPS",
        "UPS Ground",
        Decimal("8.10"),
    )
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert (event.kind, event.from_state, event.to_state, event.actor) == (
        "shipment_corrected",
        S.SHIPPED,
        S.SHIPPED,
        "operator:ann",
    )
    assert event.message == (
        f"Shipment corrected: Shipped {today():%m/%d/%Y} by UPS (UPS Ground), tracking 1Z999. "
        "Label reprinted."
    )
    [corrected] = published
    assert isinstance(corrected, order_events.ShipmentCorrected)
    assert corrected.previous.tracking_id == "9400100000000000000001"
    assert corrected.history_event_id == event.id
    # The same correction again changes nothing.
    again = fulfillment_move(
        order_id=order.id,
        to=S.SHIPPED,
        actor="operator:ann",
        correction=True,
        ship_date=today(),
        tracking_id="1Z999",
        carrier="UPS",
        service="UPS Ground",
    )
    assert again.changed is False


@pytest.mark.parametrize("state", [s for s in STATES if s != S.SHIPPED])
def test_only_a_shipped_order_can_be_corrected(paid: Callable[..., Order], state: str) -> None:
    order = bring_to(paid(), state)
    if state == S.WAITING:
        close_window(order)
    message = refused(Refusal.NOT_ALLOWED, order.id, S.SHIPPED, correction=True, ship_date=today())
    assert message in (
        "Only a shipped order's shipment details can be corrected.",
        f"Order {order.id} is cancelled; it cannot be moved to shipped (shipped and cancelled "
        "orders are final).",
    )


# --- details ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "details", "reason", "message"),
    [
        (S.SHIPPED, {}, Refusal.DETAILS_MISSING, "A ship date is required"),
        (S.ADDRESS_ERROR, {"description": "  "}, Refusal.DETAILS_MISSING, "Describe the"),
        (S.CANCELLED, {}, Refusal.DETAILS_MISSING, "Say why the order is cancelled"),
        (S.PACKED, {"tracking_id": "1"}, Refusal.DETAILS_INVALID, "belong to a move to shipped"),
        (S.READY, {"description": "x"}, Refusal.DETAILS_INVALID, "belongs to a move to address"),
        (S.PACKED, {"reason": "x"}, Refusal.DETAILS_INVALID, "belongs to a move to cancelled"),
        (
            S.SHIPPED,
            {"ship_date": "today", "tracking_id": "9" * 101},
            Refusal.DETAILS_INVALID,
            "Tracking ID is longer than 100 characters.",
        ),
        (
            S.SHIPPED,
            {"ship_date": "today", "carrier": "C" * 51},
            Refusal.DETAILS_INVALID,
            "Carrier is longer than 50",
        ),
        (
            S.SHIPPED,
            {"ship_date": "today", "postage_cost": Decimal("-1.00")},
            Refusal.DETAILS_INVALID,
            "The postage cost must be whole cents from 0.00 to 9999.99.",
        ),
        (
            S.SHIPPED,
            {"ship_date": "today", "postage_cost": Decimal("1.005")},
            Refusal.DETAILS_INVALID,
            "The postage cost must be whole cents",
        ),
        (
            S.SHIPPED,
            {"ship_date": "last year"},
            Refusal.DETAILS_INVALID,
            "is not between the day order",
        ),
        (
            S.SHIPPED,
            {"ship_date": "in two months"},
            Refusal.DETAILS_INVALID,
            "is not between the day order",
        ),
        (
            S.ADDRESS_ERROR,
            {"description": "x" * 501},
            Refusal.DETAILS_INVALID,
            "longer than 500",
        ),
        ("lost", {}, Refusal.NOT_ALLOWED, "'lost' is not a fulfillment state."),
    ],
)
def test_a_move_without_its_details_or_with_wrong_ones_is_refused(
    paid: Callable[..., Order],
    target: str,
    details: dict[str, Any],
    reason: Refusal,
    message: str,
) -> None:
    order = bring_to(paid(), S.READY)
    days = {"today": 0, "last year": -365, "in two months": 60}
    if "ship_date" in details:
        details = {**details, "ship_date": today() + timedelta(days=days[details["ship_date"]])}
    assert message in refused(reason, order.id, target, **details)


def test_a_ship_date_a_day_before_placement_or_a_month_ahead_is_accepted(
    paid: Callable[..., Order],
) -> None:
    first, second = bring_to(paid(), S.READY), bring_to(paid(), S.READY)
    yesterday = today() - timedelta(days=1)
    fulfillment_move(order_id=first.id, to=S.SHIPPED, actor="t", ship_date=yesterday)
    ahead = today() + timedelta(days=30)
    fulfillment_move(order_id=second.id, to=S.SHIPPED, actor="t", ship_date=ahead)
    assert Order.objects.get(id=first.id).ship_date == yesterday
    assert Order.objects.get(id=second.id).ship_date == ahead


def test_details_are_stored_and_said_in_the_history(
    paid: Callable[..., Order], published: list[Any]
) -> None:
    order = bring_to(paid(), S.PACKED)
    published.clear()
    fulfillment_move(
        order_id=order.id,
        to=S.SHIPPED,
        actor="shipstation:1",
        ship_date=today(),
        tracking_id=" 9400 1118 ",
        carrier=" USPS ",
        service="USPS  First Class Mail",
        postage_cost=Decimal("4.63"),
    )
    order.refresh_from_db()
    assert (
        order.ship_date,
        order.tracking_id,
        order.carrier,
        order.service,
        order.postage_cost,
        order.status,
    ) == (today(), "9400 1118", "USPS", "USPS First Class Mail", Decimal("4.63"), "SHIPPED")
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert event.message == (
        f"Shipped {today():%m/%d/%Y} by USPS (USPS First Class Mail), tracking 9400 1118."
    )
    moved, shipped = published
    assert isinstance(moved, order_events.FulfillmentMoved)
    assert isinstance(shipped, order_events.OrderShipped)
    assert (shipped.from_state, shipped.actor, shipped.history_event_id) == (
        S.PACKED,
        "shipstation:1",
        event.id,
    )
    assert shipped.order.tracking_id == "9400 1118"


def test_an_address_error_and_its_correction(
    paid: Callable[..., Order], published: list[Any]
) -> None:
    order = bring_to(paid(), S.IN_PRODUCTION)
    published.clear()
    fulfillment_move(
        order_id=order.id, to=S.ADDRESS_ERROR, actor="packer", description="Apt   missing."
    )
    order.refresh_from_db()
    assert (order.status, order.error_description) == ("ERROR", "Apt missing.")
    raised = published[-1]
    assert isinstance(raised, order_events.AddressErrorRaised)
    assert (raised.description, raised.from_state) == ("Apt missing.", S.IN_PRODUCTION)
    fulfillment_move(order_id=order.id, to=S.READY, actor="customer", note="Apt 4 added.")
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state, order.error_description) == (
        "PROCESSING",
        S.READY,
        "",
    )
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert (event.message, event.actor) == (
        "Address corrected: ready to be made. Apt 4 added.",
        "customer",
    )
    ready = published[-1]
    assert isinstance(ready, order_events.OrderReady)
    assert ready.from_state == S.ADDRESS_ERROR


def test_an_address_corrected_before_the_window_ends_waits_for_it(
    paid: Callable[..., Order], published: list[Any]
) -> None:
    order = paid()
    fulfillment_move(order_id=order.id, to=S.ADDRESS_ERROR, actor="op", description="Bad zip.")
    published.clear()
    result = fulfillment_move(order_id=order.id, to=S.READY, actor="op")
    assert (result.changed, result.order.fulfillment_state, result.order.status) == (
        True,
        S.WAITING,
        "PROCESSING",
    )
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert (event.from_state, event.to_state, event.message) == (
        S.ADDRESS_ERROR,
        S.WAITING,
        "Address corrected: waiting for the postage window.",
    )
    assert [type(e).__name__ for e in published] == ["FulfillmentMoved"]


# --- HOLD, test and unknown orders ------------------------------------------------------------


@pytest.mark.parametrize("target", STATES)
def test_hold_and_test_orders_have_no_moves(
    place: Callable[..., Order], make_publisher: Callable[..., Any], make_project: Any, target: str
) -> None:
    broke = make_publisher()
    hold = place(broke, make_project(broke))
    assert (hold.status, hold.fulfillment_state) == ("HOLD", "")
    message = refused(Refusal.NOT_IN_FULFILLMENT, hold.id, target, **details_for(target))
    assert message == f"Order {hold.id} is HOLD: it is made and shipped only once it is paid."
    test = place(broke, make_project(broke), mode="test")
    assert (test.status, test.fulfillment_state) == ("TEST", "")
    message = refused(Refusal.NOT_IN_FULFILLMENT, test.id, target, **details_for(target))
    assert message == f"Order {test.id} is TEST: test orders are never made or shipped."


def test_an_unknown_order(db: None) -> None:
    with pytest.raises(Order.DoesNotExist):
        fulfillment_move(order_id=987654, to=S.READY, actor="t")


# --- money: cancelling refunds, once ------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(FULFILLMENT_TABLE.keys() - FINAL_STATES))
def test_cancelling_refunds_the_charge_once(
    paid: Callable[..., Order], publisher: Any, published: list[Any], state: str
) -> None:
    order = bring_to(paid(), state)
    publisher.refresh_from_db()
    balance = publisher.balance
    published.clear()
    fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="operator:ann", reason="Asked to.")
    publisher.refresh_from_db()
    assert publisher.balance == balance + order.total_cost
    [refund] = LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND)
    assert refund.amount == order.total_cost
    assert refund.description == f"Refund of cancelled order {order.id}: Asked to."
    order.refresh_from_db()
    assert (order.status, order.error_description) == ("CANCELLED", "Asked to.")
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert event.message == f"Cancelled: Asked to. Refunded ${order.total_cost} to the balance."
    cancelled = published[-1]
    assert isinstance(cancelled, order_events.OrderCancelled)
    assert (cancelled.refunded, cancelled.reason) == (order.total_cost, "Asked to.")
    # Again: a no-op, no second refund.
    fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="operator:ann", reason="Again.")
    publisher.refresh_from_db()
    assert publisher.balance == balance + order.total_cost
    assert LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND).count() == 1


def test_a_refund_releases_hold_orders(
    place: Callable[..., Order], make_publisher: Callable[..., Any], make_project: Any
) -> None:
    publisher = make_publisher(balance="6.00")
    cd = make_project(publisher)
    paid = place(publisher, cd)
    held = place(publisher, cd)
    assert (paid.status, held.status, paid.total_cost) == ("PROCESSING", "HOLD", Decimal("6.00"))
    fulfillment_move(order_id=paid.id, to=S.CANCELLED, actor="op", reason="Duplicate.")
    held.refresh_from_db()
    assert (held.status, held.fulfillment_state) == ("PROCESSING", S.WAITING)
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("0.00")


# --- orders flagged before fulfillment existed (never charged) ---------------------------------


def _legacy_unpaid_address_error(order: Order) -> None:
    """What the data migration makes of an ERROR order that was never paid."""
    Order.objects.filter(id=order.id).update(
        status="ERROR",
        fulfillment_state=S.ADDRESS_ERROR,
        error_description="Old problem.",
        address_changes_until=timezone.now() - timedelta(days=3),
    )


def test_an_unpaid_address_error_is_charged_when_corrected_or_refused(
    place: Callable[..., Order], make_publisher: Callable[..., Any], make_project: Any
) -> None:
    publisher = make_publisher()
    order = place(publisher, make_project(publisher))
    _legacy_unpaid_address_error(order)
    message = refused(Refusal.NOT_PAID, order.id, S.READY)
    assert message == f"Order {order.id} is not paid and the balance does not cover $6.00."
    # Cancelling it refunds nothing.
    from pressrun.billing.services import ledger_credit

    ledger_credit(publisher_id=publisher.id, amount=Decimal("6.00"), description="", actor="t")
    fulfillment_move(order_id=order.id, to=S.READY, actor="op")
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state) == ("PROCESSING", S.READY)
    assert order.charged_at is not None
    assert LedgerEntry.objects.get(order=order, kind=LedgerKind.ORDER_CHARGE).amount == -6


def test_cancelling_an_unpaid_address_error_refunds_nothing(
    place: Callable[..., Order], make_publisher: Callable[..., Any], make_project: Any
) -> None:
    publisher = make_publisher()
    order = place(publisher, make_project(publisher))
    _legacy_unpaid_address_error(order)
    fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="op", reason="Gone.")
    assert not LedgerEntry.objects.filter(order=order).exists()
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert event.message == "Cancelled: Gone. Nothing was charged, so nothing is refunded."


# --- entering fulfillment at payment ------------------------------------------------------------


def test_intake_enters_a_paid_order_in_the_same_insert(
    place: Callable[..., Order], publisher: Any, cd: Any
) -> None:
    with CaptureQueriesContext(connection) as queries:
        order = place(publisher, cd)
    assert (order.status, order.fulfillment_state) == ("PROCESSING", S.WAITING)
    assert order.fulfillment_updated_at == order.created_at
    order_writes = [
        q["sql"]
        for q in queries.captured_queries
        if '"orders_order"' in q["sql"] and not q["sql"].lstrip().upper().startswith("SELECT")
    ]
    # One statement writes the order, an INSERT (on PostgreSQL within the one statement that
    # writes all of intake's rows, core.prepared.JoinedInsert), and nothing updates it.
    assert len(order_writes) == 1
    assert order_writes[0].count('INSERT INTO "orders_order"') == 1
    assert 'UPDATE "orders_order"' not in order_writes[0]
    [placed, charged] = OrderEvent.objects.filter(order=order).order_by("id")
    assert (placed.to_state, charged.from_state, charged.to_state) == ("", "", S.WAITING)


def test_a_publisher_without_address_changes_has_orders_ready_at_once(
    place: Callable[..., Order], publisher: Any, cd: Any
) -> None:
    publisher.customer_address_changes = False
    publisher.save()
    order = place(publisher, cd)
    assert (order.address_changes_until, order.fulfillment_state) == (None, S.READY)


def test_a_hold_order_paid_in_its_window_waits_and_one_paid_after_is_ready(
    place: Callable[..., Order],
    make_publisher: Callable[..., Any],
    make_project: Any,
    published: list[Any],
) -> None:
    from pressrun.billing.services import ledger_credit

    publisher = make_publisher()
    cd = make_project(publisher)
    early, late = place(publisher, cd), place(publisher, cd)
    assert (early.fulfillment_state, late.fulfillment_state) == ("", "")
    close_window(late)
    ledger_credit(publisher_id=publisher.id, amount=Decimal("12.00"), description="", actor="t")
    early.refresh_from_db()
    late.refresh_from_db()
    assert (early.status, early.fulfillment_state) == ("PROCESSING", S.WAITING)
    assert (late.status, late.fulfillment_state) == ("PROCESSING", S.READY)
    event = OrderEvent.objects.filter(order=late).latest("id")
    assert (event.kind, event.from_status, event.to_status, event.from_state, event.to_state) == (
        "charged",
        "HOLD",
        "PROCESSING",
        "",
        S.READY,
    )
    assert late.fulfillment_updated_at == late.charged_at
    paid_events = [e for e in published if isinstance(e, order_events.OrderPaid)]
    assert [(e.order.id, e.actor) for e in paid_events] == [(early.id, "t"), (late.id, "t")]
    assert paid_events[1].history_event_id == event.id


def test_a_move_from_a_state_the_order_has_left_is_refused(paid: Callable[..., Order]) -> None:
    """The caller's precondition (`from_states`): the window task only moves waiting orders,
    never one an operator put in production meanwhile back to ready."""
    order = bring_to(paid(), S.IN_PRODUCTION)
    message = refused(Refusal.STATE_CHANGED, order.id, S.READY, from_states={S.WAITING})
    assert message == (f"Order {order.id} is in production now, not waiting (address window open).")
    # Already where it was asked to go: still a no-op, whatever the precondition.
    result = fulfillment_move(
        order_id=order.id, to=S.IN_PRODUCTION, actor="t", from_states={S.READY}
    )
    assert result.changed is False


def test_the_documented_table_is_the_table() -> None:
    """docs/fulfillment.md's table lists every state, its status and its moves, as declared."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "fulfillment.md").read_text()
    names = "|".join(STATES)
    rows = {}
    for line in doc.splitlines():
        match = re.fullmatch(r"\| `([a-z_]+)` \| ([^|]+) \| [^|]+ \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    assert set(rows) == set(STATES)
    for state, (status, moves) in rows.items():
        assert status.startswith(REPORTED_STATUS[state]), state
        assert set(re.findall(rf"\b({names})\b", moves)) == FULFILLMENT_TABLE[state].next, state


def test_a_waiting_order_whose_window_is_over_meets_a_ready_precondition(
    paid: Callable[..., Order],
) -> None:
    """A batch that read ready orders (`ready_orders`) asks for {ready}; an order still
    stored as waiting, its window over, is one of them."""
    order = paid()
    refused(Refusal.STATE_CHANGED, order.id, S.IN_PRODUCTION, from_states={S.READY})
    close_window(order)
    result = fulfillment_move(
        order_id=order.id, to=S.IN_PRODUCTION, actor="batch:1", from_states={S.READY}
    )
    assert (result.from_state, result.order.fulfillment_state) == (S.WAITING, S.IN_PRODUCTION)


def _diagram_edges(diagram: str) -> set[tuple[str, str]]:
    """The moves the ASCII state diagram draws: the main line (each state to the next), the
    "taken out" arrows (a │ under a state goes back to the state above the ▲), the "also:"
    pairs, and the rows "a · b ──▶ c" (every state on the left to the one on the right)."""
    import itertools
    import re

    lines = [line for line in diagram.splitlines() if line.strip()]
    edges: set[tuple[str, str]] = set()
    [main_index] = [i for i, line in enumerate(lines) if "(paid)" in line]
    main = lines[main_index]
    spans = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\b[a-z_]{4,}\b", main)]
    chain = [word for _, _, word in spans if word in STATES]
    edges |= set(itertools.pairwise(chain))

    def state_at(column: int) -> str:
        [word] = [word for start, end, word in spans if start <= column < end]
        return word

    marks = lines[main_index + 1]
    [target] = [state_at(i) for i, char in enumerate(marks) if char == "▲"]
    edges |= {(state_at(i), target) for i, char in enumerate(marks) if char == "│"}
    for line in lines[main_index + 2 :]:
        if line.strip().startswith("also:"):
            edges |= set(re.findall(r"([a-z_]+) → ([a-z_]+)", line))
        elif "──▶" in line:
            # "a · b ──▶ c ──(why)──▶ d": every state of a part to the first of the next.
            parts = [
                [word for word in re.findall(r"\b([a-z_]+)\b", part) if word in STATES]
                for part in re.split(r"──(?:\([^)]*\)──)?▶", line)
            ]
            for sources, targets in itertools.pairwise(parts):
                edges |= {(source, targets[0]) for source in sources}
    return edges


def test_the_documented_diagram_is_the_table() -> None:
    """The diagram in docs/fulfillment.md is the one in states.py, and it draws exactly the
    moves the table allows."""
    from pathlib import Path

    import pressrun.fulfillment.states as states_module

    doc = (Path(__file__).resolve().parents[2] / "docs" / "fulfillment.md").read_text()
    documented = doc.split("## The states\n\n```\n")[1].split("```")[0]
    declared = (states_module.__doc__ or "").split("\n\n", 1)[1].split("\n\n`FULFILLMENT")[0]

    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    assert lines(documented) == lines(declared)
    table = {(state, to) for state in STATES for to in FULFILLMENT_TABLE[state].next}
    assert _diagram_edges(documented) == table
