"""What happens to orders, told to the layers above (see `pressrun.core.events`).

`orders` (intake and changes) and `fulfillment` (every physical move, through
`pressrun.fulfillment.services.fulfillment_move`) publish these inside the transaction of the
change; `notifications` subscribes (emails), and any other upper layer may. The fulfillment
events are declared here rather than in `fulfillment/` so that every layer above orders may
subscribe to them, `notifications` included, which sits below fulfillment. An event carries
what a subscriber needs even when the order row is gone (`OrderDeleted` is a snapshot taken
before the delete).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from pressrun.accounts.models import Publisher
from pressrun.core.events import DomainEvent
from pressrun.orders.models import Order


@dataclass(frozen=True)
class OrderPlaced(DomainEvent):
    """Intake stored a new order (any channel), charged or on HOLD or a test."""

    order: Order


@dataclass(frozen=True)
class PlacedOrderRelayed(DomainEvent):
    """The worker's relay (`orders.relay`) hands a placed order to the follow-ups that need
    not share intake's transaction (its notification, its address check), in the relay's own
    transaction, once per order. `order` is the order as intake placed it: its status and
    fulfillment state are those of the placement (HOLD, TEST, or paid at once), whatever
    happened to it since; its other fields are the row's as the relay read it."""

    order: Order


@dataclass(frozen=True)
class OrderPaid(DomainEvent):
    """A HOLD order was paid from the balance later than it was placed (a payment released it,
    or an operator paid it: billing) and entered fulfillment, waiting or ready. An order paid
    at once is told by `OrderPlaced` (its status PROCESSING)."""

    order: Order
    actor: str
    history_event_id: int


# --- fulfillment: published by fulfillment_move, after the order is saved -----------------
#
# Every move publishes `FulfillmentMoved`; the moves a subscriber is likely to act on also
# publish their own event, after it. `order` is the saved order (its new state, status,
# shipment details and `fulfillment_updated_at`); `history_event_id` is the OrderEvent the
# move wrote. A repeated identical move is a no-op and publishes nothing.


@dataclass(frozen=True)
class FulfillmentMoved(DomainEvent):
    """Any move of the physical state (`from_state` → `order.fulfillment_state`)."""

    order: Order
    from_state: str
    to_state: str
    actor: str
    history_event_id: int


@dataclass(frozen=True)
class OrderReady(DomainEvent):
    """The order may be made: its postage window ended (from waiting), its address was
    corrected (from address_error), or it was taken out of a batch (from in_production or
    packed)."""

    order: Order
    from_state: str
    actor: str
    history_event_id: int


@dataclass(frozen=True)
class OrderShipped(DomainEvent):
    """The order shipped: `order.ship_date`, `carrier`, `service`, `tracking_id` (blank for a
    letter without tracking) and `postage_cost` are set. The customer's tracking email
    follows it (notifications)."""

    order: Order
    from_state: str
    actor: str
    history_event_id: int


@dataclass(frozen=True)
class AddressErrorRaised(DomainEvent):
    """The order stopped for an address problem (`description`, also in
    `order.error_description`; the status reply's ERROR / 10)."""

    order: Order
    from_state: str
    description: str
    actor: str
    history_event_id: int


@dataclass(frozen=True)
class OrderCancelled(DomainEvent):
    """An operator cancelled the order; `refunded` (0.00 when it was never charged) went
    back to the publisher's balance in the same transaction."""

    order: Order
    from_state: str
    reason: str
    refunded: Decimal
    actor: str
    history_event_id: int


@dataclass(frozen=True)
class ShipmentDetails:
    ship_date: date | None
    carrier: str
    service: str
    tracking_id: str
    postage_cost: Decimal | None

    @classmethod
    def of(cls, order: Order) -> ShipmentDetails:
        """The shipment details the order records."""
        return cls(
            ship_date=order.ship_date,
            carrier=order.carrier,
            service=order.service,
            tracking_id=order.tracking_id,
            postage_cost=order.postage_cost,
        )


@dataclass(frozen=True)
class ShipmentCorrected(DomainEvent):
    """An operator corrected a shipped order's shipment details (`previous` → the order's
    current ones); the order stays shipped."""

    order: Order
    previous: ShipmentDetails
    actor: str
    history_event_id: int

    @property
    def changed(self) -> frozenset[str]:
        """The names of the details the correction changed ("tracking_id", "carrier",
        "service", "ship_date", "postage_cost"): what each subscriber decides by."""
        now = ShipmentDetails.of(self.order)
        return frozenset(
            field.name
            for field in fields(ShipmentDetails)
            if getattr(now, field.name) != getattr(self.previous, field.name)
        )


@dataclass(frozen=True)
class LineChange:
    """One line of a changed order: what it orders, its quantity before and after."""

    title: str
    project_id: int
    old_quantity: int
    new_quantity: int


@dataclass(frozen=True)
class OrderChanged(DomainEvent):
    """The publisher changed a HOLD order (`order_modify`): the saved order, the history
    entry written for it, and which parts changed."""

    order: Order
    history_event_id: int
    lines: tuple[LineChange, ...]  # every line, changed or not, in order
    items_changed: bool
    address_changed: bool
    old_address: tuple[str, ...]  # the address lines before the change


@dataclass(frozen=True)
class OrderAddressCorrected(DomainEvent):
    """The address of a placed order was corrected (`order_correct_address`): by its customer
    through the link, or, for an order stopped for an address problem, by its publisher or
    an operator. `order` is saved with the new address (its address check cleared);
    `old_address` is the address before, in `ADDRESS_FIELDS` order; `was_address_error` says
    the order was in address error when it was corrected (fulfillment then puts it back to
    ready, in the same transaction)."""

    order: Order
    actor: str
    history_event_id: int
    old_address: tuple[str, ...]
    was_address_error: bool


@dataclass(frozen=True)
class DeletedLine:
    title: str
    project_id: int
    quantity: int


@dataclass(frozen=True)
class OrderDeleted(DomainEvent):
    """The publisher deleted a HOLD or test order (`order_delete`). The order's row is gone
    by the time the transaction commits, so this carries what its customer must be told."""

    publisher: Publisher
    order_number: int
    mode: str
    status: str  # before the deletion: HOLD or TEST
    invoice: str
    email: str
    name: str
    send_notification_email: bool | None
    placed_at: datetime
    lines: tuple[DeletedLine, ...]
