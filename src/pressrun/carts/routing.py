"""Routing a cart order's lines to where they are made: pressrun's own order or one of the
publisher's warehouses.

Each line of a cart order goes to exactly one place, decided in this order:

1. its SKU names a project (the eCommerce ID String, as ever): **pressrun's order**;
2. it is listed at one of the publisher's enabled warehouse connections: a **warehouse
   order** for that connection (the listing decides what the warehouse is sent);
3. the publisher sends SKUs unknown to pressrun to a warehouse
   (`WarehouseConnection.receives_unknown_skus`, enabled): a warehouse order there, the
   SKU unchanged;
4. otherwise it is **not routed**: the "missing SKU" case, shown on the delivery and on the
   unmatched-products page until a project or a listing names it.

One cart order can make both halves; each has its own state. The cart order and where each
of its lines went are kept (`CartOrder`, `CartOrderLine`, unique per cart order and line),
and its row is the lock under which its lines are routed, so processing a delivery again,
another topic of the same order, or `cart_order_reroute` after a fix routes only the lines
not routed yet: never a second pressrun order (intake is reached once per cart order), never
a line twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.carts.locks import delivery_locked_with_publisher_or_none
from pressrun.carts.models import (
    MADE_ORDERS,
    CartOrder,
    CartOrderLine,
    InboundDelivery,
    LineDestination,
    Outcome,
)
from pressrun.carts.outcomes import ALREADY_IMPORTED, delivery_finish
from pressrun.carts.unmatched import CartProduct
from pressrun.catalog.selectors import projects_for_cart_ids
from pressrun.core.prepared import PreparedRowRead, PreparedRowsRead
from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import OrderPrepared, order_place, order_prepare
from pressrun.warehouses.listings import connections_listing, listings_for
from pressrun.warehouses.models import WarehouseConnection, WarehouseOrder
from pressrun.warehouses.orders import (
    CartLineToRoute,
    CartOrderHeader,
    OrderNotJoinable,
    warehouse_order_add,
)

D = LineDestination
MAX_KEY_LENGTH = 300
# The most of one cart line a warehouse order takes (a bundle's component at most 10,000 per
# item: the product still fits the warehouse line's integer column).
MAX_ROUTED_QUANTITY = 100_000
# A cart's quantity beyond this is kept as "not a whole number" (the column's integer range).
_STORABLE_QUANTITY = 2**31 - 1


@dataclass(frozen=True)
class CartLine:
    """One line of a cart order as a parser read it."""

    key: str  # the cart's line id, unique in the order (`line_keys`)
    ref: str  # its SKU (or the product id a mapping would name); "" for none
    title: str
    quantity: int | None  # None: not a whole number
    project_ids: tuple[int, ...] = ()  # the projects it names
    # False: `ref` is not a SKU but an id (a Shopify line without SKU is named by its
    # variant id): a mapping may name it, but no warehouse is sent it.
    has_sku: bool = True

    def product(self) -> CartProduct:
        return CartProduct(ref=self.ref, title=self.title)


def line_keys(ids: Sequence[str], refs: Sequence[str]) -> list[str]:
    """A key per line: the cart's own line id when it has one, else its SKU (the second line
    with the same SKU `SKU#2`, …), so that the key of a line is the same each time the order
    is read."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for line_id, ref in zip(ids, refs, strict=True):
        if line_id:
            key = f"id:{line_id}"
        else:
            base = f"sku:{ref}"
            seen[base] = seen.get(base, 0) + 1
            key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        while key in keys:
            key += "'"
        keys.append(key[:MAX_KEY_LENGTH])
    return keys


@dataclass(frozen=True)
class CartOrderSnapshot:
    """What routing keeps of a cart order: its name, the shipping description as the cart
    wrote it, and the request intake is given for pressrun's half, without its lines (its
    recipient is also the warehouse order's)."""

    name: str
    shipping_description: str
    request: OrderRequest  # lines=()


def request_to_json(request: OrderRequest) -> dict[str, Any]:
    data = dataclasses.asdict(request)
    data.pop("lines", None)
    if data.get("customer_price") is not None:
        data["customer_price"] = str(data["customer_price"])
    return data


def request_from_json(data: dict[str, Any], lines: tuple[LineRequest, ...]) -> OrderRequest:
    values = dict(data)
    values["recipient"] = RecipientRequest(**values["recipient"])
    if values.get("customer_price") is not None:
        values["customer_price"] = Decimal(values["customer_price"])
    return OrderRequest(**values, lines=lines)


@dataclass
class Routed:
    """What one routing did: pressrun's order placed now (if any), the warehouse orders made
    or joined now, and the lines still not routed (with their reasons)."""

    cart_order: CartOrder
    order: Order | None = None
    warehouse_orders: list[WarehouseOrder] = field(default_factory=list)
    unrouted: list[CartOrderLine] = field(default_factory=list)
    # Unrouted lines that a project mapping or a listing would route (recorded as unmatched
    # products), as opposed to lines no mapping helps (a quantity that is not a count).
    missing: list[CartProduct] = field(default_factory=list)
    routed_before: bool = False  # some line had been routed before this call

    @property
    def routed_now(self) -> bool:
        return self.order is not None or bool(self.warehouse_orders)

    def warehouse_text(self) -> str:
        """ "Warehouse order 7 (Acme 3PL): 2 lines." for each order made or joined."""
        parts = []
        for order in self.warehouse_orders:
            count = order.lines.count()
            parts.append(
                f"Warehouse order {order.id} ({order.connection.name}): {count} "
                f"line{'' if count == 1 else 's'}, {order.get_state_display().lower()}"
                + (f": {order.error}" if order.error else ".")
            )
        return " ".join(parts)


def _cart_order_locked(
    *, delivery: InboundDelivery, snapshot: CartOrderSnapshot | None
) -> CartOrder:
    """The delivery's cart order, created at its first routing, under its row lock."""
    if snapshot is not None:
        request = snapshot.request
        CartOrder.objects.bulk_create(
            [
                CartOrder(
                    publisher_id=delivery.publisher_id,
                    cart=delivery.cart,
                    external_key=delivery.external_key,
                    name=snapshot.name[:100],
                    test=request.mode == "test",
                    recipient=dataclasses.asdict(request.recipient),
                    shipping_description=snapshot.shipping_description[:500],
                    request=request_to_json(request),
                    created_at=timezone.now(),
                )
            ],
            ignore_conflicts=True,
        )
    locked = _cart_order_for_update.get(delivery.publisher_id, delivery.cart, delivery.external_key)
    if locked is None:
        raise CartOrder.DoesNotExist(f"No cart order {delivery.cart} {delivery.external_key}.")
    return cast(CartOrder, locked)


# The delivery's cart order under its row lock, read inside the delivery's transaction (on
# SQLite under the write lock): compiled once per process, as the reads below.
_cart_order_for_update = PreparedRowRead(
    CartOrder, keys=("publisher", "cart", "external_key"), for_update=True
)


def _countable(line: CartLine) -> bool:
    """Whether the line asks for a whole number of items, at least one."""
    return line.quantity is not None and line.quantity >= 1


def _quantity_reason(line: CartLine) -> str:
    if line.quantity is None:
        return "Its quantity is not a whole number of items."
    return "Its quantity is below 1."


# The first of a cart order's lines that carries pressrun's order, read inside a delivery's
# transaction (on SQLite under the write lock): compiled once per process, not built as a
# queryset for every delivery (docs/performance.md, "sixteenth round").
_line_with_order = PreparedRowRead(
    CartOrderLine, keys=("cart_order",), order_by=("pk",), order__isnull=False
)


# A cart order's lines (all of them, and those not routed), read inside a delivery's
# transaction likewise, in the model's order.
_lines_of = PreparedRowRead(CartOrderLine, keys=("cart_order",), order_by=("pk",))
_unrouted_lines_of = PreparedRowRead(
    CartOrderLine, keys=("cart_order",), order_by=("pk",), destination=D.UNROUTED
)


# The cart order's delivery that made orders (at most one delivery per cart order may:
# `inbounddelivery_one_order_per_external_key`) and that delivery's orders, read when none of
# the cart order's lines carries pressrun's order, which is every cart order's first routing,
# inside the delivery's transaction. Compiled once per process likewise: building the
# queryset was about half a millisecond of a delivery's write lock on SQLite
# (docs/performance.md, "seventeenth round").
_deliveries_made_order = PreparedRowsRead(
    InboundDelivery,
    columns=("pk",),
    among="external_key",
    keys=("cart", "publisher"),
    outcome=Outcome.ORDER_CREATED,
)
_orders_of_deliveries = PreparedRowsRead(
    InboundDelivery.orders.through, columns=("order",), among="inbounddelivery"
)


def _placed_order(cart_order: CartOrder) -> Order | None:
    """pressrun's order for this cart order, if it was placed: the one its first line
    carrying an order carries, else (older cart orders) the one its delivery made."""
    line = _line_with_order.get(cart_order.id)
    placed = line.order_id if line is not None else None
    if placed is None:
        made = _deliveries_made_order.rows(
            cart_order.cart, cart_order.publisher_id, among=[cart_order.external_key]
        )
        if made:
            orders = _orders_of_deliveries.rows(among=[delivery_id for (delivery_id,) in made])
            placed = min((order_id for (order_id,) in orders), default=None)
    return Order.objects.filter(id=placed).first() if placed else None


def _project_request(request: dict[str, Any], lines: Sequence[CartLine]) -> OrderRequest:
    """The request for pressrun's order of a cart order (kept as `request_to_json`): its
    `lines`, each of every project it names."""
    return request_from_json(
        request,
        tuple(
            LineRequest(project_id=project_id, quantity=line.quantity or 0)
            for line in lines
            for project_id in line.project_ids
        ),
    )


def cart_order_prepare(
    *,
    publisher: Publisher,
    external_key: str,
    snapshot: CartOrderSnapshot | None,
    lines: Sequence[CartLine],
) -> OrderPrepared | None:
    """pressrun's order of a cart order routed for the first time (every line waiting, no
    order placed before it), prepared before the delivery's transaction
    (`orders.services.order_prepare`): on SQLite that transaction holds the database's write
    lock. `cart_order_route` writes it if what it sends to pressrun's order is exactly this
    request, and prepares the order inside otherwise. None when the delivery is not routed
    (no cart order: no `external_key` or `snapshot`), or when a line names no project: its
    cart parses the order again inside then (a mapping saved meanwhile must count)."""
    if not external_key or snapshot is None or any(not line.project_ids for line in lines):
        return None
    to_project = [line for line in lines if _countable(line)]
    if not to_project:
        return None
    # As `_cart_order_locked` keeps it and `_route` reads it back: through JSON.
    kept = json.loads(json.dumps(request_to_json(snapshot.request)))
    return order_prepare(request=_project_request(kept, to_project), publisher=publisher)


def _route(
    *,
    delivery: InboundDelivery,
    cart_order: CartOrder,
    lines: Sequence[CartLine],
    prepared: OrderPrepared | None = None,
) -> Routed:
    """Route every line of `lines` whose row is not routed yet. Writes the routing; raises
    OrderRefused from intake (the caller's savepoint rolls everything back)."""
    rows = {row.key: row for row in _lines_of.all(cart_order.id)}
    new_rows = [
        CartOrderLine(
            cart_order=cart_order,
            key=line.key,
            ref=line.ref[:255],
            has_sku=line.has_sku,
            title=line.title[:300],
            quantity=(
                line.quantity
                if line.quantity is None or abs(line.quantity) <= _STORABLE_QUANTITY
                else None
            ),
        )
        for line in lines
        if line.key not in rows
    ]
    if new_rows:
        CartOrderLine.objects.bulk_create(new_rows)
        rows.update((row.key, row) for row in new_rows)
    routed = Routed(cart_order=cart_order)
    routed.routed_before = any(row.destination != D.UNROUTED for row in rows.values())
    waiting = [line for line in lines if rows[line.key].destination == D.UNROUTED]
    if not waiting:
        return routed

    placed = _placed_order(cart_order) if any(line.project_ids for line in waiting) else None
    to_project: list[CartLine] = []
    to_warehouse: dict[int, list[CartLine]] = {}
    unrouted: dict[str, str] = {}
    missing: list[CartLine] = []
    others = [line for line in waiting if not line.project_ids]
    connections: dict[int, WarehouseConnection] = {}
    listed: dict[str, list[int]] = {}
    unknown_to: WarehouseConnection | None = None
    if others:
        connections = {
            connection.id: connection
            for connection in WarehouseConnection.objects.filter(
                publisher_id=delivery.publisher_id, enabled=True
            )
        }
        if connections:
            listed = connections_listing(
                publisher_id=delivery.publisher_id,
                channel_skus=[line.ref for line in others if line.has_sku],
            )
            unknown_to = next((c for c in connections.values() if c.receives_unknown_skus), None)
    for line in waiting:
        if line.project_ids:
            if not _countable(line):
                unrouted[line.key] = _quantity_reason(line)
            elif placed is not None:
                unrouted[line.key] = (
                    f"It names a project, but pressrun's order {placed.id} was already placed "
                    "for this cart order: add it to that order by hand."
                )
            else:
                to_project.append(line)
            continue
        at = listed.get(line.ref, [])
        if not line.ref or not line.has_sku:
            unrouted[line.key] = (
                "It has no SKU, so no warehouse can be sent it: give the product a SKU in the "
                "cart, or map it to a project."
                if connections
                else f"'{line.ref}' names no project: map it to a project."
            )
            missing.append(line)
        elif len(at) > 1:
            names = " and ".join(connections[c].name for c in at)
            unrouted[line.key] = (
                f"SKU '{line.ref}' is listed at {names}: keep its listing at one warehouse."
            )
            missing.append(line)
        elif at or unknown_to is not None:
            if line.quantity is None or line.quantity < 1:
                unrouted[line.key] = _quantity_reason(line)
            elif line.quantity > MAX_ROUTED_QUANTITY:
                unrouted[line.key] = (
                    f"Its quantity {line.quantity:,} is more than a warehouse order takes of "
                    f"one line ({MAX_ROUTED_QUANTITY:,})."
                )
            else:
                target = at[0] if at else (unknown_to.id if unknown_to is not None else 0)
                to_warehouse.setdefault(target, []).append(line)
        else:
            unrouted[line.key] = (
                f"SKU '{line.ref}' names no project and no listing of your warehouses: map it "
                "to a project or add a listing."
                if connections
                else f"SKU '{line.ref}' names no project: map it to a project."
            )
            missing.append(line)

    now = timezone.now()
    if to_project:
        request = _project_request(cart_order.request, to_project)
        order = order_place(request=request, publisher=delivery.publisher, prepared=prepared)
        routed.order = order
        CartOrderLine.objects.filter(
            cart_order=cart_order, key__in=[line.key for line in to_project]
        ).update(destination=D.PROJECT, order=order, reason="", routed_at=now)

    header = CartOrderHeader(
        cart=cart_order.cart,
        external_key=cart_order.external_key,
        name=cart_order.name,
        test=cart_order.test,
        recipient={key: str(value) for key, value in cart_order.recipient.items()},
        shipping_description=cart_order.shipping_description,
    )
    for connection_id, connection_lines in sorted(to_warehouse.items()):
        connection = connections[connection_id]
        try:
            warehouse_order, _ = warehouse_order_add(
                connection=connection,
                header=header,
                lines=[
                    CartLineToRoute(
                        line_key=line.key,
                        sku=line.ref,
                        title=line.title,
                        quantity=line.quantity or 0,
                    )
                    for line in connection_lines
                ],
                listings=listings_for(
                    connection.id, channel_skus=[line.ref for line in connection_lines]
                ),
            )
        except OrderNotJoinable as exc:
            for line in connection_lines:
                unrouted[line.key] = exc.message
            continue
        routed.warehouse_orders.append(warehouse_order)
        CartOrderLine.objects.filter(
            cart_order=cart_order, key__in=[line.key for line in connection_lines]
        ).update(destination=D.WAREHOUSE, warehouse_order=warehouse_order, reason="", routed_at=now)

    for key, reason in unrouted.items():
        CartOrderLine.objects.filter(cart_order=cart_order, key=key).update(reason=reason)
    routed.unrouted = _unrouted_lines_of.all(cart_order.id)
    routed.missing = [line.product() for line in missing]
    return routed


def cart_order_route(
    *,
    delivery: InboundDelivery,
    snapshot: CartOrderSnapshot,
    lines: Sequence[CartLine],
    prepared: OrderPrepared | None = None,
) -> Routed:
    """Route the lines of the delivery's cart order that are not routed yet (all of them the
    first time). Call under the delivery's row lock, inside a savepoint the caller rolls back
    on intake's refusal (OrderRefused propagates) or on a unique constraint's IntegrityError.
    Links what was made to the delivery. `prepared`: `cart_order_prepare`'s order, if any.
    """
    cart_order = _cart_order_locked(delivery=delivery, snapshot=snapshot)
    routed = _route(delivery=delivery, cart_order=cart_order, lines=lines, prepared=prepared)
    if routed.order is not None:
        delivery.orders.add(routed.order)
    if routed.warehouse_orders:
        delivery.warehouse_orders.add(*routed.warehouse_orders)
    return routed


def unrouted_lines_text(rows: Sequence[CartOrderLine]) -> str:
    """The lines left, for a delivery's reason."""
    return "; ".join(
        f"SKU '{row.ref}' ({row.title or 'no title'}): {row.reason}".strip() for row in rows
    )


def routed_summary(routed: Routed, *, order_note: str = "") -> str:
    """A delivery's reason after routing: pressrun's order, the warehouse orders, and the
    lines not routed."""
    parts = []
    if routed.order is not None:
        parts.append(order_note or f"Order {routed.order.id}.")
    warehouse = routed.warehouse_text()
    if warehouse:
        parts.append(warehouse)
    if routed.unrouted:
        parts.append(f"Not routed: {unrouted_lines_text(routed.unrouted)}")
    return " ".join(parts)


def delivery_finish_routed(
    delivery: InboundDelivery, routed: Routed, *, skipped: str, skipped_label: str
) -> bool:
    """Record the outcome of a routing that made or joined an order (True), or of one that
    found every line routed before by another delivery of the cart order (True: duplicate).
    False: nothing was routed at all, and the caller records why as it always has."""
    if routed.routed_now:
        parts = [f"Order {routed.order.id}."] if routed.order is not None else []
        warehouse = routed.warehouse_text()
        if warehouse:
            parts.append(warehouse)
        if skipped:
            parts.append(f"{skipped_label}: {skipped}")
        outcome = Outcome.ORDER_CREATED if routed.order is not None else Outcome.ROUTED
        delivery_finish(delivery, outcome, " ".join(parts))
        return True
    if routed.routed_before:
        delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
        return True
    return False


# --- routing again after a fix ---------------------------------------------------------


@dataclass(frozen=True)
class Rerouted:
    delivery_id: int
    routed: Routed | None
    refused: str = ""


def cart_order_slot_delivery(cart_order: CartOrder) -> InboundDelivery | None:
    """The delivery that holds the cart order's orders (order_created or routed), if any."""
    return InboundDelivery.objects.filter(
        cart=cart_order.cart,
        publisher_id=cart_order.publisher_id,
        external_key=cart_order.external_key,
        outcome__in=MADE_ORDERS,
    ).first()


def cart_order_reroute(*, cart_order_id: int) -> Rerouted | None:
    """Route the lines of a cart order that made orders and still has lines not routed
    (after a project mapping or a listing was added), from what was kept of it: the cart is
    not asked again and nothing already routed is touched. The delivery that holds its
    orders records the result (a routed delivery whose pressrun half is placed now becomes
    order_created). Returns None when no delivery holds its orders (its deliveries are
    replayed instead: `carts.services.unmatched_reprocess`). Safe to repeat and to run
    concurrently: it runs under that delivery's row lock, then the cart order's."""
    from pressrun.carts.unmatched import unmatched_record
    from pressrun.orders.services import OrderRefused

    cart_order = CartOrder.objects.filter(id=cart_order_id).first()
    if cart_order is None:
        return None
    slot = cart_order_slot_delivery(cart_order)
    if slot is None:
        return None
    with transaction.atomic():
        delivery = delivery_locked_with_publisher_or_none(slot.id)
        if delivery is None or delivery.outcome not in MADE_ORDERS:
            return None
        locked = CartOrder.objects.select_for_update().get(id=cart_order.id)
        waiting = list(CartOrderLine.objects.filter(cart_order=locked, destination=D.UNROUTED))
        if not waiting:
            return Rerouted(delivery_id=delivery.id, routed=None)
        projects = projects_for_cart_ids(
            publisher_id=locked.publisher_id,
            cart_ids=sorted({row.ref for row in waiting if row.ref}),
        )
        lines = [
            CartLine(
                key=row.key,
                ref=row.ref,
                title=row.title,
                quantity=row.quantity,
                project_ids=tuple(project.id for project in projects.get(row.ref, [])),
                has_sku=row.has_sku,
            )
            for row in waiting
        ]
        try:
            with transaction.atomic():
                routed = _route(delivery=delivery, cart_order=locked, lines=lines)
                if routed.order is not None:
                    delivery.orders.add(routed.order)
                if routed.warehouse_orders:
                    delivery.warehouse_orders.add(*routed.warehouse_orders)
                if routed.routed_now:
                    if routed.order is not None:
                        delivery.outcome = Outcome.ORDER_CREATED
                    delivery.reason = _state_text(locked, delivery)
                    delivery.processed_at = timezone.now()
                    delivery.save(update_fields=["outcome", "reason", "processed_at"])
        except OrderRefused as exc:
            return Rerouted(delivery_id=delivery.id, routed=None, refused=exc.message)
        if routed.missing:
            unmatched_record(delivery=delivery, products=routed.missing)
    return Rerouted(delivery_id=delivery.id, routed=routed)


def _state_text(cart_order: CartOrder, delivery: InboundDelivery) -> str:
    """The whole routing of a cart order, for its delivery's reason after a re-route."""
    rows = list(CartOrderLine.objects.filter(cart_order=cart_order).select_related())
    orders = sorted({row.order_id for row in rows if row.order_id})
    orders += [
        order_id
        for order_id in delivery.orders.values_list("id", flat=True)
        if order_id not in orders
    ]
    warehouse_ids = sorted({row.warehouse_order_id for row in rows if row.warehouse_order_id})
    parts = [f"Order {order_id}." for order_id in orders]
    for order in WarehouseOrder.objects.filter(id__in=warehouse_ids).select_related("connection"):
        count = order.lines.count()
        parts.append(
            f"Warehouse order {order.id} ({order.connection.name}): {count} "
            f"line{'' if count == 1 else 's'}, {order.get_state_display().lower()}"
            + (f": {order.error}" if order.error else ".")
        )
    unrouted = [row for row in rows if row.destination == D.UNROUTED]
    if unrouted:
        parts.append(f"Not routed: {unrouted_lines_text(unrouted)}")
    return " ".join(parts)


def cart_orders_waiting_on(*, publisher_id: int, cart: str, ref: str) -> list[int]:
    """The ids of the publisher's cart orders (of this cart) with a line not routed whose
    SKU is `ref`."""
    return sorted(
        set(
            CartOrderLine.objects.filter(
                cart_order__publisher_id=publisher_id,
                cart_order__cart=cart,
                destination=D.UNROUTED,
                ref=ref,
            ).values_list("cart_order_id", flat=True)
        )
    )


def delivery_cart_order(delivery: InboundDelivery) -> CartOrder | None:
    if not delivery.external_key:
        return None
    return CartOrder.objects.filter(
        publisher_id=delivery.publisher_id, cart=delivery.cart, external_key=delivery.external_key
    ).first()
