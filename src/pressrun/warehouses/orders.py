"""Warehouse orders: the lines of a cart order that one of the publisher's warehouses makes
or stocks (routing is the carts' side: `pressrun.carts.routing`).

`warehouse_order_add` makes the order for (connection, cart, cart order), or adds lines to
the one there is while it has not gone to the warehouse; each cart line becomes warehouse
lines through the connection's listings (`listings.resolve_line`: unchanged, replaced, or a
bundle's components with quantities multiplied). A new order's shipping description is
transformed to a carrier code at once (`carrier_codes.description_carrier_code`): the order
is then open, or in error with the sentence that names the description.
`warehouse_orders_recheck` re-checks a connection's orders stopped for their description
(called when a rule is added, and from the dashboard), moving those a rule now fits to open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.warehouses.carrier_codes import description_carrier_code
from pressrun.warehouses.listings import Listings, listings_for, resolve_line
from pressrun.warehouses.models import (
    WarehouseConnection,
    WarehouseOrder,
    WarehouseOrderLine,
    WarehouseOrderState,
    WarehousePush,
)
from pressrun.warehouses.push import warehouse_push_queue
from pressrun.warehouses.states import JOINABLE_STATES, warehouse_order_move

S = WarehouseOrderState


@dataclass(frozen=True)
class CartOrderHeader:
    """What a warehouse order keeps of its cart order."""

    cart: str
    external_key: str
    name: str
    test: bool
    recipient: Mapping[str, str]  # name, company, address, city, state, postal_code, country, email
    shipping_description: str


@dataclass(frozen=True)
class CartLineToRoute:
    """One cart line routed to a warehouse: `quantity` x the cart's `sku`."""

    line_key: str
    sku: str
    title: str
    quantity: int


class OrderNotJoinable(DomainError):
    """The cart order's warehouse order at this connection has gone to the warehouse: lines
    can no longer join it (`order` says which)."""

    def __init__(self, message: str, order: WarehouseOrder) -> None:
        super().__init__(message)
        self.order = order


def _push_started(order: WarehouseOrder) -> bool:
    """Whether the order's push has fixed what the warehouse is sent (its first attempt
    began): lines can no longer join it, though it is still open until accepted."""
    return WarehousePush.objects.filter(order_id=order.id).exclude(body="").exists()


def _clip(value: str, length: int) -> str:
    return value[:length]


def _new_order(connection: WarehouseConnection, header: CartOrderHeader) -> WarehouseOrder:
    assert connection.publisher_id is not None, "pressrun's own station takes no cart orders"
    recipient = header.recipient
    now = timezone.now()
    return WarehouseOrder(
        publisher_id=connection.publisher_id,
        connection=connection,
        cart=header.cart,
        external_key=header.external_key,
        cart_order_name=_clip(header.name, 100),
        test=header.test,
        ship_name=_clip(recipient.get("name", ""), 200),
        ship_company=_clip(recipient.get("company", ""), 200),
        ship_address=_clip(recipient.get("address", ""), 500),
        ship_city=_clip(recipient.get("city", ""), 200),
        ship_state=_clip(recipient.get("state", ""), 100),
        ship_postal_code=_clip(recipient.get("postal_code", ""), 50),
        ship_country=_clip(recipient.get("country", ""), 100),
        ship_email=_clip(recipient.get("email", ""), 254),
        shipping_description=_clip(header.shipping_description, 500),
        state=S.NEW,
        created_at=now,
        updated_at=now,
    )


def warehouse_order_add(
    *,
    connection: WarehouseConnection,
    header: CartOrderHeader,
    lines: Sequence[CartLineToRoute],
    listings: Listings | None = None,
) -> tuple[WarehouseOrder, bool]:
    """Route `lines` of the cart order `header` to `connection`: into a new warehouse order,
    or into the one the cart order has there while it is new, open or in error. Returns
    (order, created). A cart line already in the order is not added again. Raises
    OrderNotJoinable when the cart order's warehouse order has already gone to the
    warehouse. Call inside the transaction that records the routing; the unique constraints
    (one order per connection and cart order, one row per cart line and warehouse SKU) make
    a concurrent second attempt fail rather than double anything."""
    if listings is None:
        listings = listings_for(connection.id)
    with transaction.atomic():
        order = (
            WarehouseOrder.objects.select_for_update()
            .filter(connection=connection, cart=header.cart, external_key=header.external_key)
            .first()
        )
        created = order is None
        if order is None:
            order = _new_order(connection, header)
            order.save(force_insert=True)
        elif order.state not in JOINABLE_STATES or _push_started(order):
            state = "sent" if order.state in JOINABLE_STATES else order.get_state_display()
            raise OrderNotJoinable(
                f"Warehouse order {order.id} at {connection.name} is already "
                f"{state.lower()}: add this line there by hand.",
                order,
            )
        present = set(order.lines.values_list("line_key", flat=True))
        rows = [
            WarehouseOrderLine(
                order=order,
                line_key=line.line_key,
                channel_sku=line.sku,
                warehouse_sku=resolved.sku,
                quantity=resolved.quantity,
                title=line.title[:300],
            )
            for line in lines
            if line.line_key not in present
            for resolved in resolve_line(sku=line.sku, quantity=line.quantity, listings=listings)
        ]
        WarehouseOrderLine.objects.bulk_create(rows)
        if created:
            transformed = description_carrier_code(
                connection_id=connection.id, description=header.shipping_description
            )
            if transformed.ok:
                order = warehouse_order_move(
                    order_id=order.id, to=S.OPEN, carrier_code=transformed.code
                )
                # A push connection's order goes out now (an outbox row and its task).
                warehouse_push_queue(order_id=order.id)
            else:
                order = warehouse_order_move(order_id=order.id, to=S.ERROR, error=transformed.error)
        elif rows:
            WarehouseOrder.objects.filter(id=order.id).update(updated_at=timezone.now())
    return order, created


def warehouse_orders_recheck(*, connection_id: int) -> int:
    """Transform again the description of each of the connection's orders stopped in error
    for it (no carrier code yet), and move those a rule now fits to open; returns how many
    moved. Called when a rule is added; safe to repeat and to run concurrently (each move
    re-checks the order under its row lock)."""
    waiting = list(
        WarehouseOrder.objects.filter(
            connection_id=connection_id, state=S.ERROR, carrier_code=""
        ).values_list("id", "shipping_description")
    )
    moved = 0
    for order_id, description in waiting:
        transformed = description_carrier_code(connection_id=connection_id, description=description)
        if not transformed.ok:
            continue
        with transaction.atomic():
            still = (
                WarehouseOrder.objects.select_for_update()
                .filter(id=order_id, state=S.ERROR, carrier_code="")
                .exists()
            )
            if still:
                warehouse_order_move(order_id=order_id, to=S.OPEN, carrier_code=transformed.code)
                warehouse_push_queue(order_id=order_id)
                moved += 1
    return moved


def warehouse_orders_recheck_for_publisher(*, publisher_id: int, connection_id: int) -> int:
    """The dashboard's “Check again”: `warehouse_orders_recheck` for the publisher's own
    connection. Raises WarehouseConnection.DoesNotExist for anyone else's."""
    connection = WarehouseConnection.objects.get(id=connection_id, publisher_id=publisher_id)
    return warehouse_orders_recheck(connection_id=connection.id)


__all__ = [
    "CartLineToRoute",
    "CartOrderHeader",
    "OrderNotJoinable",
    "warehouse_order_add",
    "warehouse_orders_recheck",
    "warehouse_orders_recheck_for_publisher",
]
