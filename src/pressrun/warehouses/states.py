"""The life of a warehouse order, declared once: DropStream's visible states and the moves
between them. `warehouse_order_move` is the one function that changes a state.

    new ──▶ open ──▶ routed ──▶ partially_shipped ──▶ closed
     │       ▲ │       │   └───────────────────────────▲
     └──▶ error ◀──────┘

- **new**: made from a cart order's lines; its shipping description not yet transformed.
- **open**: its carrier code is known; ready to go to the warehouse.
- **routed**: handed to the warehouse (pulled by its shipping software, or pushed).
- **partially_shipped**: the warehouse has shipped: some of its lines, or every line, which
  `WarehouseOrder.shipped_at` marks. An order shipped in full stays here until its tracking
  has reached the cart (the post-back closes it), since DropStream's "closed" means exactly
  that; `shipped_at` is what tells "all shipped, waiting for the cart" from "some shipped".
- **closed**: everything shipped and the tracking uploaded to the cart. Final.
- **error**: stopped, with its reason (`WarehouseOrder.error`): no Shipping Description
  Transformer rule fits its description, or later the warehouse refused it. An order in
  error whose description a rule now fits is re-checked back to open
  (`warehouses.orders.warehouse_orders_recheck`).

Routing (this app's `orders.py`, called from the carts) makes orders new and moves them to
open or error; the later moves belong to the pull and push protocols and to the shipment
confirmations, which only call `warehouse_order_move`: a pulling warehouse's export moves
open → routed (`pull.py`), its ship notices routed → partially_shipped (`shipments.py`), and
the cart's post-back, once every package has reached the cart, partially_shipped → closed
(through `shipments.warehouse_order_close`, called by `carts`, which sits above this app).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.warehouses.models import WarehouseOrder, WarehouseOrderState

S = WarehouseOrderState


@dataclass(frozen=True)
class StateRule:
    next: frozenset[str]
    meaning: str


WAREHOUSE_ORDER_TABLE: dict[str, StateRule] = {
    S.NEW: StateRule(
        frozenset({S.OPEN, S.ERROR}),
        "Made from the cart order's lines; its shipping description is being transformed.",
    ),
    S.OPEN: StateRule(
        frozenset({S.ROUTED, S.ERROR}),
        "Ready for the warehouse: every line and the carrier code are known.",
    ),
    S.ROUTED: StateRule(
        frozenset({S.PARTIALLY_SHIPPED, S.CLOSED, S.ERROR}),
        "Handed to the warehouse.",
    ),
    S.PARTIALLY_SHIPPED: StateRule(
        frozenset({S.CLOSED, S.ERROR}),
        "The warehouse shipped some of its lines, or all of them (then it waits for the "
        "tracking to reach the cart).",
    ),
    S.CLOSED: StateRule(
        frozenset(),
        "Shipped, and the tracking uploaded to the cart.",
    ),
    S.ERROR: StateRule(
        frozenset({S.OPEN, S.ROUTED}),
        "Stopped: the error says why and what fixes it.",
    ),
}

# States in which lines routed later may still join the order: it has not gone to the
# warehouse yet.
JOINABLE_STATES = frozenset({S.NEW, S.OPEN, S.ERROR})


class MoveRefused(DomainError):
    """The table has no such move (nothing was written)."""


def warehouse_order_move(
    *,
    order_id: int,
    to: str,
    error: str = "",
    carrier_code: str | None = None,
    at: datetime | None = None,
) -> WarehouseOrder:
    """Move the warehouse order to `to` under its row lock, as the table allows, and stamp
    `updated_at` (its LastModified) with `at` (default now). `error` is required for (and
    only kept in) the error state; `carrier_code`, when given, is saved with the move.
    Moving to the state the order is in writes nothing (so a repeated or concurrent move
    never moves LastModified again), except that an order in error takes the new reason and
    a given carrier code is saved. Raises MoveRefused for a move the table does not
    declare."""
    if to not in WAREHOUSE_ORDER_TABLE:
        raise MoveRefused(f"There is no warehouse order state {to!r}.")
    if to == S.ERROR and not error:
        raise MoveRefused("An order in error needs its reason.")
    with transaction.atomic():
        order = WarehouseOrder.objects.select_for_update().get(id=order_id)
        if order.state != to and to not in WAREHOUSE_ORDER_TABLE[order.state].next:
            raise MoveRefused(
                f"Warehouse order {order.id} is {order.get_state_display().lower()}: it cannot "
                f"become {S(to).label.lower()}."
            )
        if (
            order.state == to
            and to != S.ERROR
            and (carrier_code is None or carrier_code == order.carrier_code)
        ):
            return order
        fields = ["state", "error", "updated_at"]
        order.state = to
        order.error = error if to == S.ERROR else ""
        if carrier_code is not None:
            order.carrier_code = carrier_code
            fields.append("carrier_code")
        order.updated_at = at or timezone.now()
        order.save(update_fields=fields)
    return order


__all__ = [
    "JOINABLE_STATES",
    "WAREHOUSE_ORDER_TABLE",
    "MoveRefused",
    "StateRule",
    "warehouse_order_move",
]
