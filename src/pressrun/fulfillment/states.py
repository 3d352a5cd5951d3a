"""The physical lifecycle of a paid order, declared once: the states, the moves between them,
and what the publisher is told in each.

               window ends
    (paid) ─▶ waiting ───────▶ ready ───▶ in_production ───▶ packed ───▶ shipped
                                 ▲              │                │
                                 └── taken out ─┴────────────────┘
    also:  ready → packed,  ready → shipped,  in_production → shipped,  packed → in_production

    waiting · ready · in_production · packed ──▶ address_error ──(corrected)──▶ ready
    waiting · ready · in_production · packed · address_error ──▶ cancelled (refunded)

`FULFILLMENT_TABLE` is the whole table (django-oscar's pipeline: each state with the states
it may move to); `pressrun.fulfillment.services.fulfillment_move` is the one function that
applies it, with the rules that go with particular moves:

- nothing leaves **waiting** for production or shipping while the postage window
  (`Order.address_changes_until`) is open; once it has ended, a move from waiting to
  in_production, packed or shipped passes through ready (two history events);
- **ready** is reached only after the window: asked for from address_error while the window
  is still open, the order goes back to waiting (the window task then makes it ready);
- **shipped** needs a ship date (tracking, carrier, service and postage cost as known; a
  letter has no tracking); **address_error** needs a description; **cancelled** a reason;
- **cancelled** credits the publisher what the order was charged (billing's `order_refund`,
  once per order);
- an order not yet charged (only an order flagged before fulfillment existed) is charged
  when it moves on to ready, and the move is refused if the balance does not cover it;
- **shipped** and **cancelled** are final; an operator may correct a shipped order's
  shipment details (`fulfillment_move(..., to=SHIPPED, correction=True)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pressrun.orders.models import FulfillmentState, OrderStatus

S = FulfillmentState


@dataclass(frozen=True)
class StateRule:
    """One row of the table: what the publisher is told while an order is in the state
    (`status`, the gateway's OrderStatus), where it may move next, and what it means."""

    status: str
    next: frozenset[str]
    meaning: str


FULFILLMENT_TABLE: dict[str, StateRule] = {
    S.WAITING: StateRule(
        OrderStatus.PROCESSING,
        frozenset({S.READY, S.ADDRESS_ERROR, S.CANCELLED}),
        "Paid; the customer may still correct the address (the postage window is open).",
    ),
    S.READY: StateRule(
        OrderStatus.PROCESSING,
        frozenset({S.IN_PRODUCTION, S.PACKED, S.SHIPPED, S.ADDRESS_ERROR, S.CANCELLED}),
        "The window is over: the order may be made and shipped.",
    ),
    S.IN_PRODUCTION: StateRule(
        OrderStatus.PROCESSING,
        frozenset({S.READY, S.PACKED, S.SHIPPED, S.ADDRESS_ERROR, S.CANCELLED}),
        "In a production batch: discs burned and printed.",
    ),
    S.PACKED: StateRule(
        OrderStatus.PROCESSING,
        frozenset({S.READY, S.IN_PRODUCTION, S.SHIPPED, S.ADDRESS_ERROR, S.CANCELLED}),
        "Made and packed, waiting for postage.",
    ),
    S.SHIPPED: StateRule(
        OrderStatus.SHIPPED,
        frozenset(),
        "Postage printed and handed to the carrier (ship date, carrier, service, tracking).",
    ),
    S.ADDRESS_ERROR: StateRule(
        OrderStatus.ERROR,
        frozenset({S.READY, S.CANCELLED}),
        "Stopped: the address cannot be shipped to until it is corrected.",
    ),
    S.CANCELLED: StateRule(
        OrderStatus.CANCELLED,
        frozenset(),
        "Cancelled by an operator; what the order was charged went back to the balance.",
    ),
}

# What the publisher is told in each state (the `status` column, kept equal by the move).
REPORTED_STATUS: dict[str, str] = {state: rule.status for state, rule in FULFILLMENT_TABLE.items()}

# States an order may enter at payment; no move leads into them.
ENTRY_STATES = frozenset({S.WAITING, S.READY})
# States after which nothing moves (shipped details may still be corrected).
FINAL_STATES = frozenset(state for state, rule in FULFILLMENT_TABLE.items() if not rule.next)
# The states in which the order still has to be made or shipped.
OPEN_STATES = frozenset(FULFILLMENT_TABLE) - FINAL_STATES
# Moves from waiting that pass through ready once the postage window has ended.
THROUGH_READY_FROM_WAITING = FULFILLMENT_TABLE[S.READY].next - FULFILLMENT_TABLE[S.WAITING].next


def move_allowed(from_state: str, to_state: str) -> bool:
    """Whether the table lists `from_state` → `to_state` (the per-move rules aside)."""
    rule = FULFILLMENT_TABLE.get(from_state)
    return rule is not None and to_state in rule.next


def state_label(state: str) -> str:
    """The state's name for people ("In production"); "—" for none (HOLD and test orders)."""
    return FulfillmentState(state).label if state else "—"
