"""The one function that moves a paid order through its physical states, and the postage
window's task body.

`fulfillment_move` is the only writer of `Order.fulfillment_state` after payment (intake and
billing set the entry state, `orders.status.order_enter_fulfillment`). Under the order's row
lock it checks the table (`fulfillment/states.py`) and the per-move rules, saves the state
with the status the table declares, the shipment details and `fulfillment_updated_at`, writes
one `OrderEvent` per step and publishes the domain events (`orders/events.py`), all in one
transaction: a subscriber's work (the tracking email, a post-back) commits with the move or
not at all.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from pressrun.billing.services import order_charge, order_refund, publisher_lock_balance
from pressrun.core.errors import DomainError
from pressrun.core.events import publish
from pressrun.core.money import format_money, is_whole_cents
from pressrun.fulfillment.selectors import window_has_ended
from pressrun.fulfillment.states import (
    FULFILLMENT_TABLE,
    REPORTED_STATUS,
    THROUGH_READY_FROM_WAITING,
    move_allowed,
    state_label,
)
from pressrun.orders.events import (
    AddressErrorRaised,
    FulfillmentMoved,
    OrderCancelled,
    OrderReady,
    OrderShipped,
    ShipmentCorrected,
    ShipmentDetails,
)
from pressrun.orders.models import FulfillmentState, Mode, Order, OrderEvent
from pressrun.orders.status import record_transition

S = FulfillmentState

MAX_DESCRIPTION_LENGTH = 500  # Order.error_description
MAX_ACTOR_LENGTH = 100  # OrderEvent.actor
MAX_TRACKING_ID_LENGTH = 100
MAX_CARRIER_LENGTH = 50
MAX_SERVICE_LENGTH = 100
MAX_POSTAGE_COST = Decimal("9999.99")
# A ship date may be a day before the order's UTC placement day (the shop's local day) and up
# to this far ahead (the spec: "sometimes this is in the future").
SHIP_DATE_MAX_AHEAD = timedelta(days=30)
WINDOW_ACTOR = "postage window"


class Refusal(enum.Enum):
    """Why a move was refused. Channels map each to their own format (an HTTP status, an
    admin message); the exception's message says it in words."""

    NOT_IN_FULFILLMENT = "not_in_fulfillment"  # a HOLD or test order: nothing to move
    NOT_ALLOWED = "not_allowed"  # the table has no such move
    WINDOW_OPEN = "window_open"  # the postage window has not ended yet
    CONFLICT = "conflict"  # already in that state, with other details
    DETAILS_MISSING = "details_missing"  # e.g. shipped without a ship date
    DETAILS_INVALID = "details_invalid"  # e.g. a ship date before the order was placed
    NOT_PAID = "not_paid"  # never charged, and the balance does not cover it
    STATE_CHANGED = "state_changed"  # not in `from_states` any more (moved on meanwhile)


class FulfillmentRefused(DomainError):
    """A move the table or its rules do not allow; nothing was written."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class MoveResult:
    """What `fulfillment_move` did: the order as saved (or as found, for a no-op), the
    state it was in before, and whether anything changed."""

    order: Order
    from_state: str
    changed: bool


@dataclass(frozen=True)
class _Details:
    ship_date: date | None = None
    tracking_id: str = ""
    carrier: str = ""
    service: str = ""
    postage_cost: Decimal | None = None
    description: str = ""
    reason: str = ""
    note: str = ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clean(
    to: str,
    *,
    ship_date: date | None,
    tracking_id: str,
    carrier: str,
    service: str,
    postage_cost: Decimal | None,
    description: str,
    reason: str,
    note: str,
) -> _Details:
    """The move's details, normalized and checked against what `to` takes."""
    if to not in FULFILLMENT_TABLE:
        raise FulfillmentRefused(
            Refusal.NOT_ALLOWED, f"'{str(to)[:30]}' is not a fulfillment state."
        )
    details = _Details(
        ship_date=ship_date,
        tracking_id=_one_line(tracking_id),
        carrier=_one_line(carrier),
        service=_one_line(service),
        postage_cost=postage_cost,
        description=_one_line(description),
        reason=_one_line(reason),
        note=_one_line(note)[:MAX_DESCRIPTION_LENGTH],
    )
    shipment_given = (
        details.ship_date is not None
        or details.tracking_id
        or details.carrier
        or details.service
        or details.postage_cost is not None
    )
    if to != S.SHIPPED and shipment_given:
        raise FulfillmentRefused(
            Refusal.DETAILS_INVALID,
            "Ship date, tracking, carrier, service and postage cost belong to a move to shipped.",
        )
    if to != S.ADDRESS_ERROR and details.description:
        raise FulfillmentRefused(
            Refusal.DETAILS_INVALID, "A description belongs to a move to address_error."
        )
    if to != S.CANCELLED and details.reason:
        raise FulfillmentRefused(
            Refusal.DETAILS_INVALID, "A reason belongs to a move to cancelled."
        )
    if to == S.SHIPPED:
        if details.ship_date is None:
            raise FulfillmentRefused(
                Refusal.DETAILS_MISSING, "A ship date is required to mark an order shipped."
            )
        for value, limit, name in (
            (details.tracking_id, MAX_TRACKING_ID_LENGTH, "Tracking ID"),
            (details.carrier, MAX_CARRIER_LENGTH, "Carrier"),
            (details.service, MAX_SERVICE_LENGTH, "Service"),
        ):
            if len(value) > limit:
                raise FulfillmentRefused(
                    Refusal.DETAILS_INVALID, f"{name} is longer than {limit} characters."
                )
        cost = details.postage_cost
        if cost is not None and (not is_whole_cents(cost) or not 0 <= cost <= MAX_POSTAGE_COST):
            raise FulfillmentRefused(
                Refusal.DETAILS_INVALID,
                f"The postage cost must be whole cents from 0.00 to {MAX_POSTAGE_COST}.",
            )
    if to == S.ADDRESS_ERROR:
        if not details.description:
            raise FulfillmentRefused(
                Refusal.DETAILS_MISSING, "Describe the address problem for the publisher."
            )
        if len(details.description) > MAX_DESCRIPTION_LENGTH:
            raise FulfillmentRefused(
                Refusal.DETAILS_INVALID,
                f"The description is longer than {MAX_DESCRIPTION_LENGTH} characters.",
            )
    if to == S.CANCELLED:
        if not details.reason:
            raise FulfillmentRefused(
                Refusal.DETAILS_MISSING, "Say why the order is cancelled; the publisher sees it."
            )
        if len(details.reason) > MAX_DESCRIPTION_LENGTH:
            raise FulfillmentRefused(
                Refusal.DETAILS_INVALID,
                f"The reason is longer than {MAX_DESCRIPTION_LENGTH} characters.",
            )
    return details


def _same_shipment(order: Order, details: _Details) -> bool:
    """Whether a repeated move to shipped says what the order already records (a postage
    cost not given is not compared)."""
    return (
        order.ship_date == details.ship_date
        and order.tracking_id == details.tracking_id
        and order.carrier == details.carrier
        and order.service == details.service
        and (details.postage_cost is None or order.postage_cost == details.postage_cost)
    )


def _describe_shipment(order: Order) -> str:
    """'Shipped 12/04/2026 by USPS (Priority Mail), tracking 9400….' The history is shown to
    the publisher, so what the postage cost us is not in it (the operator's pages show it)."""
    assert order.ship_date is not None
    text = f"Shipped {order.ship_date:%m/%d/%Y}"
    if order.carrier:
        text += f" by {order.carrier}"
    if order.service:
        text += f" ({order.service})"
    tracking = f"tracking {order.tracking_id}" if order.tracking_id else "no tracking"
    return f"{text}, {tracking}."


def _check_ship_date(order: Order, ship_date: date, *, now: datetime) -> None:
    earliest = order.created_at.date() - timedelta(days=1)
    latest = (now + SHIP_DATE_MAX_AHEAD).date()
    if not earliest <= ship_date <= latest:
        raise FulfillmentRefused(
            Refusal.DETAILS_INVALID,
            f"Ship date {ship_date:%m/%d/%Y} is not between the day order {order.id} was placed "
            f"({order.created_at:%m/%d/%Y}) and {latest:%m/%d/%Y}.",
        )


def fulfillment_move(
    *,
    order_id: int,
    to: str,
    actor: str,
    ship_date: date | None = None,
    tracking_id: str = "",
    carrier: str = "",
    service: str = "",
    postage_cost: Decimal | None = None,
    description: str = "",
    reason: str = "",
    note: str = "",
    correction: bool = False,
    from_states: Collection[str] | None = None,
) -> MoveResult:
    """Move order `order_id` to the physical state `to` (a `FulfillmentState`), by `actor`
    ("operator:ann", "shipstation:3", "postage window", ...).

    Details, by target: shipped takes `ship_date` (required), `tracking_id` (blank for a
    letter), `carrier`, `service` and `postage_cost` (what postage cost us); address_error
    takes `description` (required; the status reply's OrderStatusErrDesc); cancelled takes
    `reason` (required). `note` (any move) is added to the history entry. A detail given to a
    move that does not take it is refused (DETAILS_INVALID).

    `from_states`, when given, is the caller's precondition: the move is made only from one
    of those states, and refused with STATE_CHANGED if the order has moved on since the
    caller looked (the window task passes {waiting}, so it never pulls an order that an
    operator already put in production back to ready; a batch taking ready orders passes
    {ready}, which a waiting order whose window is over satisfies, as it does every reader).

    Checks the table and its rules (fulfillment/states.py) under the order's row lock, then,
    in one transaction: saves the state, the status the table declares for it, the details
    and `fulfillment_updated_at`; writes one OrderEvent (kind "fulfillment") per step; refunds
    a cancelled order (billing's `order_refund`); publishes `FulfillmentMoved` and the move's
    own event (`OrderReady`, `OrderShipped`, `AddressErrorRaised`, `OrderCancelled`).

    Safe to repeat: asking for the state the order is already in, with the same details, is a
    no-op (`changed` False; nothing written or published). Asking for it with other details
    is refused (CONFLICT) — except an operator's `correction=True` of a shipped order's
    shipment details, which saves them and publishes `ShipmentCorrected`. Concurrent calls
    serialize on the row lock: of two racing identical moves one moves and one is a no-op;
    of two conflicting ones, the second is refused.

    Raises Order.DoesNotExist for an unknown order and FulfillmentRefused (nothing written)
    otherwise. May be called inside a caller's transaction (e.g. a batch that moves many
    orders); the caller must then not hold other orders' row locks taken out of id order.
    """
    details = _clean(
        to,
        ship_date=ship_date,
        tracking_id=tracking_id,
        carrier=carrier,
        service=service,
        postage_cost=postage_cost,
        description=description,
        reason=reason,
        note=note,
    )
    actor = actor.strip()[:MAX_ACTOR_LENGTH] or "unknown"
    with transaction.atomic():
        found = Order.objects.filter(id=order_id).values_list("publisher_id", "charged_at").first()
        if found is None:
            raise Order.DoesNotExist(f"No order {order_id}.")
        publisher_id, charged_at = found
        if to == S.CANCELLED or charged_at is None:
            # Money may move (a refund, or charging an order flagged before it was paid):
            # the publisher's row first, then the order's, as every balance change does.
            publisher_lock_balance(publisher_id=publisher_id)
        order = Order.objects.select_for_update().get(id=order_id)
        return _move_locked(
            order, to, details, actor=actor, correction=correction, from_states=from_states
        )


def _move_locked(
    order: Order,
    to: str,
    details: _Details,
    *,
    actor: str,
    correction: bool,
    from_states: Collection[str] | None,
) -> MoveResult:
    now = timezone.now()
    current = order.fulfillment_state
    if order.mode == Mode.TEST or not current:
        raise FulfillmentRefused(
            Refusal.NOT_IN_FULFILLMENT,
            f"Order {order.id} is {order.status}: "
            + (
                "test orders are never made or shipped."
                if order.mode == Mode.TEST
                else "it is made and shipped only once it is paid."
            ),
        )
    if current == to:
        return _repeat(order, details, actor=actor, correction=correction)
    window_open = not window_has_ended(order, now=now)
    # A waiting order whose window is over is ready to every reader: so to a precondition.
    effective = S.READY if current == S.WAITING and not window_open else current
    if from_states is not None and current not in from_states and effective not in from_states:
        raise FulfillmentRefused(
            Refusal.STATE_CHANGED,
            f"Order {order.id} is {state_label(current).lower()} now, not "
            f"{' or '.join(state_label(state).lower() for state in sorted(from_states))}.",
        )
    if correction:
        raise FulfillmentRefused(
            Refusal.NOT_ALLOWED, "Only a shipped order's shipment details can be corrected."
        )
    if current == S.WAITING and to == S.READY and window_open:
        raise _window_open(order)
    if current == S.WAITING and to in THROUGH_READY_FROM_WAITING:
        if window_open:
            raise _window_open(order)
        # The window is over but the task has not moved it yet: it is ready (every reader
        # already says so); record that step first.
        _check_rules(order, S.READY, details, now=now)
        _step(order, S.READY, _Details(), actor=actor, now=now)
    elif not move_allowed(current, to):
        raise FulfillmentRefused(
            Refusal.NOT_ALLOWED,
            f"Order {order.id} is {state_label(current).lower()}; it cannot be moved to "
            f"{state_label(to).lower()}"
            + (
                " (shipped and cancelled orders are final)."
                if not FULFILLMENT_TABLE[current].next
                else f" (from {current}: {', '.join(sorted(FULFILLMENT_TABLE[current].next))})."
            ),
        )
    from_state = current
    target = to
    if to == S.READY and window_open:
        # From address_error before the window's end: the window still holds.
        target = S.WAITING
    _check_rules(order, target, details, now=now)
    _step(order, target, details, actor=actor, now=now)
    return MoveResult(order=order, from_state=from_state, changed=True)


def _window_open(order: Order) -> FulfillmentRefused:
    assert order.address_changes_until is not None
    return FulfillmentRefused(
        Refusal.WINDOW_OPEN,
        f"Order {order.id} waits for its postage window: the customer may correct the address "
        f"until {order.address_changes_until:%Y-%m-%d %H:%M} UTC, and nothing is made or "
        "shipped before then.",
    )


def _check_rules(order: Order, to: str, details: _Details, *, now: datetime) -> None:
    """The per-move rules that need the locked order (the table is checked already)."""
    if to == S.SHIPPED:
        assert details.ship_date is not None
        _check_ship_date(order, details.ship_date, now=now)
    # Only an order flagged for its address before fulfillment existed is unpaid here.
    unpaid = order.charged_at is None and to not in (S.ADDRESS_ERROR, S.CANCELLED)
    if unpaid and not order_charge(order=order):
        raise FulfillmentRefused(
            Refusal.NOT_PAID,
            f"Order {order.id} is not paid and the balance does not cover "
            f"{format_money(order.total_cost)}.",
        )


def _step(order: Order, to: str, details: _Details, *, actor: str, now: datetime) -> None:
    """Apply one allowed move to the locked order: fields, event, domain events."""
    from_state = order.fulfillment_state
    fields = ["fulfillment_state", "fulfillment_updated_at", "charged_at"]
    message = ""
    refunded = Decimal("0.00")
    if to == S.READY and from_state == S.WAITING:
        # It became ready when its window ended, whenever this runs: the "last modified"
        # time every reader computed meanwhile (selectors.fulfillment_last_modified) stays.
        deadline = order.address_changes_until or now
        updated = order.fulfillment_updated_at
        order.fulfillment_updated_at = max(updated, deadline) if updated else deadline
        message = (
            f"Postage window ended {deadline:%Y-%m-%d %H:%M} UTC: ready to be made."
            if order.address_changes_until
            else "Ready to be made."
        )
    else:
        order.fulfillment_updated_at = now
    order.fulfillment_state = to
    if to in (S.READY, S.WAITING) and from_state == S.ADDRESS_ERROR:
        order.error_description = ""
        fields.append("error_description")
        message = "Address corrected: " + (
            "ready to be made." if to == S.READY else "waiting for the postage window."
        )
    elif to == S.READY and from_state in (S.IN_PRODUCTION, S.PACKED):
        message = "Taken out of production: ready to be made."
    elif to == S.IN_PRODUCTION:
        message = "In production." if from_state != S.PACKED else "Back in production."
    elif to == S.PACKED:
        message = "Packed."
    elif to == S.SHIPPED:
        order.ship_date = details.ship_date
        order.tracking_id = details.tracking_id
        order.carrier = details.carrier
        order.service = details.service
        order.postage_cost = details.postage_cost
        order.error_description = ""
        fields += ["ship_date", "tracking_id", "carrier", "service", "postage_cost"]
        fields.append("error_description")
        message = _describe_shipment(order)
    elif to == S.ADDRESS_ERROR:
        order.error_description = details.description
        fields.append("error_description")
        message = f"Address problem: {details.description}"
    elif to == S.CANCELLED:
        refunded = order_refund(order=order, reason=details.reason, actor=actor)
        order.error_description = details.reason
        fields.append("error_description")
        message = f"Cancelled: {details.reason}" + (
            f" Refunded {format_money(refunded)} to the balance."
            if refunded
            else " Nothing was charged, so nothing is refunded."
        )
    if details.note:
        message = f"{message} {details.note}".strip()
    history = record_transition(
        order=order,
        to_status=REPORTED_STATUS[to],
        kind="fulfillment",
        message=message,
        actor=actor,
        extra_fields=tuple(fields),
        from_state=from_state,
        at=now,
    )
    _publish(order, from_state, to, history, actor=actor, refunded=refunded, details=details)


def _publish(
    order: Order,
    from_state: str,
    to: str,
    history: OrderEvent,
    *,
    actor: str,
    refunded: Decimal,
    details: _Details,
) -> None:
    common: dict[str, Any] = {"order": order, "actor": actor, "history_event_id": history.id}
    publish(FulfillmentMoved(from_state=from_state, to_state=to, **common))
    if to == S.READY:
        publish(OrderReady(from_state=from_state, **common))
    elif to == S.SHIPPED:
        publish(OrderShipped(from_state=from_state, **common))
    elif to == S.ADDRESS_ERROR:
        publish(
            AddressErrorRaised(from_state=from_state, description=details.description, **common)
        )
    elif to == S.CANCELLED:
        publish(
            OrderCancelled(
                from_state=from_state, reason=details.reason, refunded=refunded, **common
            )
        )


def _repeat(order: Order, details: _Details, *, actor: str, correction: bool) -> MoveResult:
    """The order is already in the state asked for: a no-op, a conflict, or a correction."""
    state = order.fulfillment_state
    unchanged = MoveResult(order=order, from_state=state, changed=False)
    if state == S.SHIPPED:
        if _same_shipment(order, details):
            return unchanged
        if not correction:
            raise FulfillmentRefused(
                Refusal.CONFLICT,
                f"Order {order.id} already shipped: {_describe_shipment(order)} A different "
                "shipment can only be recorded as an operator's correction.",
            )
        return _correct_shipment(order, details, actor=actor)
    if correction:
        raise FulfillmentRefused(
            Refusal.NOT_ALLOWED, "Only a shipped order's shipment details can be corrected."
        )
    if state == S.ADDRESS_ERROR and details.description != order.error_description:
        raise FulfillmentRefused(
            Refusal.CONFLICT,
            f"Order {order.id} is already stopped for another address problem: "
            f"{order.error_description}",
        )
    return unchanged


def _correct_shipment(order: Order, details: _Details, *, actor: str) -> MoveResult:
    now = timezone.now()
    assert details.ship_date is not None
    _check_ship_date(order, details.ship_date, now=now)
    previous = ShipmentDetails.of(order)
    order.ship_date = details.ship_date
    order.tracking_id = details.tracking_id
    order.carrier = details.carrier
    order.service = details.service
    if details.postage_cost is not None:
        order.postage_cost = details.postage_cost
    order.fulfillment_updated_at = now
    order.save(
        update_fields=[
            "ship_date",
            "tracking_id",
            "carrier",
            "service",
            "postage_cost",
            "fulfillment_updated_at",
            "updated_at",
        ]
    )
    message = f"Shipment corrected: {_describe_shipment(order)}"
    if details.note:
        message += f" {details.note}"
    history = OrderEvent.objects.create(
        order=order,
        at=now,
        kind="shipment_corrected",
        from_status=order.status,
        to_status=order.status,
        from_state=S.SHIPPED,
        to_state=S.SHIPPED,
        message=message,
        actor=actor,
    )
    publish(
        ShipmentCorrected(order=order, previous=previous, actor=actor, history_event_id=history.id)
    )
    return MoveResult(order=order, from_state=S.SHIPPED, changed=True)


# --- the postage window ---------------------------------------------------------------------

WINDOW_BATCH = 500


def fulfillment_close_postage_windows(*, now: datetime | None = None) -> int:
    """Move every waiting order whose postage window has ended to ready (one transaction per
    order, through `fulfillment_move`); returns how many moved. Safe to run twice or in two
    workers at once: an order another run (or a move) took on first is skipped."""
    now = now or timezone.now()
    moved = 0
    skipped: set[int] = set()
    while True:
        due = list(
            Order.objects.filter(fulfillment_state=S.WAITING, address_changes_until__lte=now)
            .exclude(id__in=skipped)
            .order_by("address_changes_until", "id")
            .values_list("id", flat=True)[:WINDOW_BATCH]
        )
        if not due:
            return moved
        for order_id in due:
            try:
                result = fulfillment_move(
                    order_id=order_id, to=S.READY, actor=WINDOW_ACTOR, from_states={S.WAITING}
                )
            except (FulfillmentRefused, Order.DoesNotExist):
                skipped.add(order_id)  # moved on (or charged nothing) meanwhile
                continue
            if result.changed:
                moved += 1
            else:
                skipped.add(order_id)


__all__ = [
    "FulfillmentRefused",
    "MoveResult",
    "Refusal",
    "fulfillment_close_postage_windows",
    "fulfillment_move",
    "window_has_ended",
]
