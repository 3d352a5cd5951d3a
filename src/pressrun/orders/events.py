"""What happens to orders, told to the layers above (see `pressrun.core.events`).

`orders` publishes these inside the transaction of the change; `notifications` subscribes
(emails), and any other upper layer may. An event carries what a subscriber needs even when
the order row is gone (`OrderDeleted` is a snapshot taken before the delete).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pressrun.accounts.models import Publisher
from pressrun.core.events import DomainEvent
from pressrun.orders.models import Order


@dataclass(frozen=True)
class OrderPlaced(DomainEvent):
    """Intake stored a new order (any channel), charged or on HOLD or a test."""

    order: Order


@dataclass(frozen=True)
class OrderShipped(DomainEvent):
    """An order moved to SHIPPED (with or without a tracking ID)."""

    order: Order


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
