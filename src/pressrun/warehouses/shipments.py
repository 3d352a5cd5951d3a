"""A publisher's warehouse confirming a shipment: its ShipStation ShipNotice
(`POST /warehouses/shipstation?action=shipnotify` with the connection's credentials).

`warehouse_notice_receive` reads the notice (`shipstation.parse_notice`), finds the order
among the connection's own (`WH-<id>` in OrderID or order_number; a test order is never
one), and under the order's row lock records a `WarehouseShipment` (unique per order and
tracking number), adds the quantities it covers to the lines' `quantity_shipped` and moves
the order to partially_shipped through `warehouse_order_move` (from open first when the
notice overtook the export: a warehouse may ship what it got another way, and the order is
the connection's). Once every line has shipped, `shipped_at` is set: the order waits there
for its tracking to reach the cart, which closes it (states.py). Each package recorded
publishes `WarehouseShipmentRecorded` (events.py) in its transaction: the cart's post-back
subscribes, and calls `warehouse_order_close` once the cart has every package.

Which lines a notice covers: its Items, each by LineItemID (the line id we exported) or
else by SKU (the first line of that warehouse SKU with something left), the item's
Quantity or else what is left of the line; a notice without Items covers every line's
remainder. An item naming no line of the order, or more than is left, refuses the notice.

As for pressrun's own station (notices.py), every notice is kept as a `ShipNotice` with
what became of it; one that cannot be applied (an order that is not the connection's: 404,
a refusal: 409) changes nothing else. The same notice again (same order and tracking) is
answered 200 and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.core.events import publish
from pressrun.warehouses.events import WarehouseShipmentRecorded
from pressrun.warehouses.models import (
    NoticeOutcome,
    ShipNotice,
    WarehouseConnection,
    WarehouseOrder,
    WarehouseOrderLine,
    WarehouseOrderState,
    WarehouseShipment,
)
from pressrun.warehouses.notices import NoticeResult, notice_digest, notice_keep
from pressrun.warehouses.selectors import (
    warehouse_order_id,
    warehouse_order_number,
    warehouse_orders_pulled,
)
from pressrun.warehouses.shipstation import Notice, ProtocolError, parse_notice
from pressrun.warehouses.states import warehouse_order_move

S = WarehouseOrderState
# The states a shipment may be recorded in (open: the notice overtook the export).
SHIPPABLE_STATES = (S.OPEN, S.ROUTED, S.PARTIALLY_SHIPPED)


class ShipmentRefused(DomainError):
    """The notice names the order but cannot be applied to it (nothing was written)."""


def _find(connection: WarehouseConnection, notice: Notice) -> WarehouseOrder | None:
    ids = {
        found
        for found in (warehouse_order_id(notice.order_id), warehouse_order_id(notice.order_number))
        if found is not None
    }
    if not ids:
        return None
    return warehouse_orders_pulled(connection).filter(id__in=ids).order_by("id").first()


def _covered(
    notice: Notice, lines: list[WarehouseOrderLine]
) -> list[tuple[WarehouseOrderLine, int]]:
    """The (line, quantity) pairs the notice covers. Raises ShipmentRefused."""
    left = {line.id: line.quantity - line.quantity_shipped for line in lines}
    if not notice.items:
        return [(line, left[line.id]) for line in lines if left[line.id] > 0]
    by_id = {str(line.id): line for line in lines}
    covered: dict[int, int] = {}
    for item in notice.items:
        line = by_id.get(item.line_item_id) if item.line_item_id else None
        if line is None and item.line_item_id and not item.sku:
            raise ShipmentRefused(f"The order has no line {item.line_item_id[:50]!r}.")
        if line is None:
            same_sku = [candidate for candidate in lines if candidate.warehouse_sku == item.sku]
            open_lines = [c for c in same_sku if left[c.id] - covered.get(c.id, 0) > 0]
            candidates = open_lines or same_sku
            line = candidates[0] if candidates else None
        if line is None:
            raise ShipmentRefused(f"The order has no line of SKU {item.sku[:60]!r}.")
        remaining = left[line.id] - covered.get(line.id, 0)
        quantity = item.quantity if item.quantity is not None else remaining
        if quantity > remaining or quantity == 0:
            raise ShipmentRefused(
                f"Line {line.id} ({line.warehouse_sku[:60]}) has {remaining} left to ship, "
                f"not {quantity}."
            )
        covered[line.id] = covered.get(line.id, 0) + quantity
    return [(line, covered[line.id]) for line in lines if line.id in covered]


def _apply(
    *, connection: WarehouseConnection, order_id: int, notice: Notice, body: bytes, now: datetime
) -> tuple[WarehouseOrder, bool]:
    """Record the shipment under the order's row lock; returns (order, recorded). Raises
    ShipmentRefused. Call inside a transaction."""
    order = WarehouseOrder.objects.select_for_update().get(id=order_id)
    if WarehouseShipment.objects.filter(
        order=order, tracking_number=notice.tracking_number
    ).exists():
        return order, False
    if order.state not in SHIPPABLE_STATES:
        raise ShipmentRefused(
            f"Warehouse order {warehouse_order_number(order.id)} is "
            f"{order.get_state_display().lower()}: it takes no shipment."
        )
    lines = list(order.lines.select_for_update().order_by("id"))
    covered = _covered(notice, lines)
    if not covered:
        raise ShipmentRefused(
            f"Every line of warehouse order {warehouse_order_number(order.id)} has shipped "
            "already; this package covers nothing."
        )
    try:
        with transaction.atomic():
            shipment = WarehouseShipment.objects.create(
                connection=connection,
                order=order,
                tracking_number=notice.tracking_number[:200],
                carrier=notice.carrier[:100],
                service=notice.service[:100],
                ship_date=notice.ship_date or now.date(),
                lines=[
                    {"line": line.id, "sku": line.warehouse_sku, "quantity": quantity}
                    for line, quantity in covered
                ],
                body=body.decode("utf-8", "replace").replace("\x00", ""),
                received_at=now,
            )
    except IntegrityError:
        # The order's row lock serializes notices, so only a tracking number longer than
        # the column (clipped onto another's) gets here: the same package again.
        return order, False
    for line, quantity in covered:
        line.quantity_shipped += quantity
        line.save(update_fields=["quantity_shipped"])
    if order.state == S.OPEN:
        warehouse_order_move(order_id=order.id, to=S.ROUTED, at=now)
    order = warehouse_order_move(order_id=order.id, to=S.PARTIALLY_SHIPPED, at=now)
    everything = not any(line.quantity_shipped < line.quantity for line in lines)
    order.shipped_at = now if everything else None
    # A second package changes what the warehouse is shown even when the state stays.
    order.updated_at = now
    order.save(update_fields=["shipped_at", "updated_at"])
    # The layers above (the cart's post-back) act on the package in this transaction.
    publish(WarehouseShipmentRecorded(order=order, shipment=shipment))
    return order, True


def warehouse_notice_receive(
    *,
    connection: WarehouseConnection,
    query_string: str,
    params: dict[str, str],
    body: bytes,
) -> NoticeResult:
    """Apply one ShipNotice from a publisher's warehouse (see the module docstring).
    Raises ProtocolError (nothing written) for a notice that cannot be read or has no
    tracking number."""
    notice = parse_notice(body, params)
    if not notice.tracking_number:
        raise ProtocolError("A warehouse's ShipNotice needs its TrackingNumber.")
    return warehouse_shipment_record(
        connection=connection, notice=notice, body=body, digest=notice_digest(query_string, body)
    )


def warehouse_shipment_record(
    *, connection: WarehouseConnection, notice: Notice, body: bytes, digest: str
) -> NoticeResult:
    """Apply a shipment confirmation already read (a ShipNotice, or the push protocol's
    JSON confirmation, `inbound.py`) and keep it as a `ShipNotice` under `digest`: 200
    recorded or repeated, 404 not an order of the connection, 409 refused (see the module
    docstring). `notice.tracking_number` must not be empty."""
    now = timezone.now()
    order = _find(connection, notice)

    def keep(outcome: str, detail: str) -> ShipNotice:
        return notice_keep(
            connection=connection,
            digest=digest,
            notice=notice,
            body=body,
            order=None,
            outcome=outcome,
            detail=detail,
            now=now,
        )

    if order is None:
        reference = notice.order_id or notice.order_number
        reason = f"No warehouse order {reference[:50]!r} is shipped from here."
        with transaction.atomic():
            kept = keep(NoticeOutcome.UNKNOWN, reason)
        return NoticeResult(404, reason, NoticeOutcome.UNKNOWN, kept, None)
    number = warehouse_order_number(order.id)
    try:
        with transaction.atomic():
            order, recorded = _apply(
                connection=connection, order_id=order.id, notice=notice, body=body, now=now
            )
            if recorded:
                outcome = NoticeOutcome.APPLIED
                message = f"Warehouse order {number}: shipment {notice.tracking_number} recorded."
            else:
                outcome = NoticeOutcome.REPEATED
                message = (
                    f"Warehouse order {number} already had shipment {notice.tracking_number}; "
                    "nothing changed."
                )
            kept = keep(outcome, message)
        return NoticeResult(200, message, outcome, kept, None)
    except ShipmentRefused as exc:
        with transaction.atomic():
            kept = keep(NoticeOutcome.REFUSED, f"{number}: {exc.message}")
        return NoticeResult(409, exc.message, NoticeOutcome.REFUSED, kept, None)


def warehouse_order_close(*, order_id: int) -> bool:
    """Close a warehouse order whose every package has reached the cart (DropStream's
    "closed": tracking uploaded). The caller (the cart's post-back, which sits above this
    app) decides that the cart has them all; this checks, under the order's row lock, that
    the warehouse shipped every line (`shipped_at`) and that the order is still partially
    shipped. Returns True when it closed the order now; False, changing nothing, otherwise
    (not all shipped yet, closed already). Safe to call twice."""
    with transaction.atomic():
        order = WarehouseOrder.objects.select_for_update().get(id=order_id)
        if order.state != S.PARTIALLY_SHIPPED or order.shipped_at is None:
            return False
        warehouse_order_move(order_id=order.id, to=S.CLOSED)
    return True


__all__ = [
    "ShipmentRefused",
    "warehouse_notice_receive",
    "warehouse_order_close",
    "warehouse_shipment_record",
]
