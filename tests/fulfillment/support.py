"""Helpers for tests that need an order in a given physical state."""

from __future__ import annotations

from collections import deque
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from pressrun.fulfillment.services import fulfillment_move
from pressrun.fulfillment.states import ENTRY_STATES, FULFILLMENT_TABLE
from pressrun.orders.models import FulfillmentState, Order

S = FulfillmentState


def today() -> date:
    """Today's UTC date: a ship date every order placed in a test may have."""
    return timezone.now().date()


def close_window(order: Order | int) -> None:
    """End the order's postage window a minute ago (as if its delay had passed)."""
    order_id = order if isinstance(order, int) else order.id
    Order.objects.filter(id=order_id).update(
        address_changes_until=timezone.now() - timedelta(minutes=1)
    )


def ship(
    order: Order | int,
    *,
    ship_date: date | None = None,
    tracking_id: str = "",
    carrier: str = "",
    service: str = "",
    postage_cost: Decimal | None = None,
    actor: str = "operator:test",
) -> Order:
    """Close the order's window and mark it shipped (today unless `ship_date`)."""
    order_id = order if isinstance(order, int) else order.id
    close_window(order_id)
    return fulfillment_move(
        order_id=order_id,
        to=S.SHIPPED,
        actor=actor,
        ship_date=ship_date or today(),
        tracking_id=tracking_id,
        carrier=carrier,
        service=service,
        postage_cost=postage_cost,
    ).order


def correct_shipment(
    order: Order | int,
    *,
    ship_date: date | None = None,
    tracking_id: str = "",
    carrier: str = "",
    actor: str = "operator:ann",
    **details: Any,
) -> Order:
    """An operator's correction of the shipped order's shipment (today unless `ship_date`;
    `service`, `postage_cost` as `fulfillment_move` takes them)."""
    order_id = order if isinstance(order, int) else order.id
    return fulfillment_move(
        order_id=order_id,
        to=S.SHIPPED,
        actor=actor,
        correction=True,
        ship_date=ship_date or today(),
        tracking_id=tracking_id,
        carrier=carrier,
        **details,
    ).order


def flag_address(order: Order | int, description: str, *, actor: str = "operator:test") -> Order:
    """Put the order in address error with `description`."""
    order_id = order if isinstance(order, int) else order.id
    return fulfillment_move(
        order_id=order_id, to=S.ADDRESS_ERROR, actor=actor, description=description
    ).order


DETAILS: dict[str, dict[str, Any]] = {
    S.SHIPPED: {"tracking_id": "9400100000000000000001", "carrier": "USPS"},
    S.ADDRESS_ERROR: {"description": "No such street."},
    S.CANCELLED: {"reason": "The customer asked for a refund."},
}


def details_for(state: str) -> dict[str, Any]:
    """The details a move to `state` needs (a ship date of today for shipped)."""
    details = dict(DETAILS.get(state, {}))
    if state == S.SHIPPED:
        details["ship_date"] = today()
    return details


def path_to(state: str, *, start: str = S.READY) -> list[str]:
    """The shortest list of moves the table allows from `start` to `state` (generated from
    the table, so a new state is reachable here without editing this file)."""
    queue: deque[list[str]] = deque([[start]])
    seen = {start}
    while queue:
        path = queue.popleft()
        if path[-1] == state:
            return path[1:]
        for following in sorted(FULFILLMENT_TABLE[path[-1]].next):
            if following not in seen:
                seen.add(following)
                queue.append([*path, following])
    raise AssertionError(f"the table has no path from {start} to {state}")


def bring_to(order: Order | int, state: str) -> Order:
    """Move a paid order (waiting or ready) to `state` along the table, its window closed
    first (an entry state other than its own is reached by setting the column: no move
    leads into one)."""
    order_id = order if isinstance(order, int) else order.id
    current = Order.objects.get(id=order_id)
    if state in ENTRY_STATES:
        if state == S.WAITING:
            Order.objects.filter(id=order_id).update(
                fulfillment_state=S.WAITING,
                address_changes_until=timezone.now() + timedelta(hours=12),
            )
        else:
            close_window(order_id)
            fulfillment_move(order_id=order_id, to=S.READY, actor="test")
        return Order.objects.get(id=order_id)
    close_window(order_id)
    start = S.READY
    if current.fulfillment_state == S.WAITING:
        fulfillment_move(order_id=order_id, to=S.READY, actor="test")
    for step in path_to(state, start=start):
        fulfillment_move(order_id=order_id, to=step, actor="test", **details_for(step))
    return Order.objects.get(id=order_id)
