"""Receiving a shipping station's ShipNotice: find the order, mark it shipped, keep the
notice.

`ship_notice_receive` is the whole flow behind `POST /warehouses/shipstation?action=
shipnotify`: it reads the notice (`shipstation.parse_notice`), finds the order by the
notice's OrderID first, then by `order_number` (`selectors.order_by_station_id`,
`order_by_number`), and moves it to shipped through `fulfillment_move` with the ship date,
carrier, service, tracking number and what the label cost (`postage_cost`). The notice is
kept (`ShipNotice`, once per distinct request, counting repeats) in the same transaction as
the move when it applies; when it cannot be applied — unknown, ambiguous, cancelled, or
refused by the order's state or details — it is kept with the reason and nothing else is
written, for the operator's "Ship notices" page. A malformed notice is refused without
writing anything.

Repeats are safe: the same shipment again is a no-op of the move (the order's history has
one entry), the kept notice only counts it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from pressrun.fulfillment.services import FulfillmentRefused, Refusal, fulfillment_move
from pressrun.orders.models import FulfillmentState, Order
from pressrun.warehouses.models import NoticeOutcome, ShipNotice, WarehouseConnection
from pressrun.warehouses.selectors import order_by_number, order_by_station_id
from pressrun.warehouses.shipstation import Notice, ProtocolError, parse_notice

S = FulfillmentState


@dataclass(frozen=True)
class NoticeResult:
    """What became of a notice: the HTTP status to answer, the words to answer with, the
    kept notice (None for a malformed one) and its order (when found)."""

    status: int
    message: str
    outcome: str
    notice: ShipNotice | None
    order: Order | None


def station_actor(connection: WarehouseConnection) -> str:
    """Who a station's moves are recorded as ("shipstation:3 Main station")."""
    return f"shipstation:{connection.id} {connection.name}"[:100]


def notice_digest(query_string: str, body: bytes) -> str:
    """What makes two notices the same request: the query string and the body."""
    return hashlib.sha256(
        query_string.encode("utf-8", "surrogatepass") + b"\x00" + body
    ).hexdigest()


def notice_keep(
    *,
    connection: WarehouseConnection,
    digest: str,
    notice: Notice,
    body: bytes,
    order: Order | None,
    outcome: str,
    detail: str,
    now: datetime,
) -> ShipNotice:
    """Record the notice (or count a repeat of it), in the caller's transaction."""
    values = {
        "order": order,
        "outcome": outcome,
        "detail": detail[:500],
        "last_received_at": now,
    }
    existing = ShipNotice.objects.select_for_update().filter(connection=connection, digest=digest)
    kept = existing.first()
    if kept is None:
        try:
            with transaction.atomic():
                return ShipNotice.objects.create(
                    connection=connection,
                    digest=digest,
                    received_at=now,
                    order_number=notice.order_number[:100],
                    notice_order_id=notice.order_id[:100],
                    carrier=notice.carrier[:100],
                    service=notice.service[:100],
                    tracking_number=notice.tracking_number[:200],
                    ship_date=notice.ship_date,
                    shipping_cost=(
                        notice.shipping_cost
                        if notice.shipping_cost is not None and abs(notice.shipping_cost) < 10**9
                        else None
                    ),
                    body=body.decode("utf-8", "replace").replace("\x00", ""),
                    **values,
                )
        except IntegrityError:
            # The same request at the same moment from another process: count it there.
            kept = existing.get()
    if kept.outcome == NoticeOutcome.APPLIED and outcome == NoticeOutcome.REPEATED:
        # This very request already shipped the order: it stays "applied", counted again.
        values = {"last_received_at": now}
    for field, value in values.items():
        setattr(kept, field, value)
    kept.times_received += 1
    kept.save(update_fields=[*values, "times_received"])
    return kept


def _find(connection: WarehouseConnection, notice: Notice) -> tuple[Order | None, str, str]:
    """The order the notice is about, or (None, outcome, reason)."""
    if notice.order_id:
        order = order_by_station_id(connection, notice.order_id)
        if order is not None:
            return order, "", ""
    if not notice.order_number:
        return (
            None,
            NoticeOutcome.UNKNOWN,
            (
                f"No order {notice.order_id[:50]!r} is shipped from here, and no order_number "
                "was given."
                if notice.order_id
                else "Neither an OrderID nor an order_number was given."
            ),
        )
    lookup = order_by_number(connection, notice.order_number)
    if lookup.order is not None:
        return lookup.order, "", ""
    if lookup.candidates:
        listed = ", ".join(str(candidate) for candidate in lookup.candidates)
        return (
            None,
            NoticeOutcome.AMBIGUOUS,
            (
                f"Order number {notice.order_number[:50]!r} matches several orders ({listed}); "
                "send the notice with the OrderID pressrun exported."
            ),
        )
    return (
        None,
        NoticeOutcome.UNKNOWN,
        (f"No order {notice.order_number[:50]!r} is shipped from here."),
    )


_REFUSAL_STATUS = {
    Refusal.DETAILS_INVALID: 400,
    Refusal.DETAILS_MISSING: 400,
}


def ship_notice_receive(
    *,
    connection: WarehouseConnection,
    query_string: str,
    params: dict[str, str],
    body: bytes,
) -> NoticeResult:
    """Apply one ShipNotice from `connection` (see the module docstring). Raises
    ProtocolError (nothing written) for a notice that cannot be read."""
    notice = parse_notice(body, params)
    digest = notice_digest(query_string, body)
    now = timezone.now()
    order, outcome, reason = _find(connection, notice)
    if order is None:
        with transaction.atomic():
            kept = notice_keep(
                connection=connection,
                digest=digest,
                notice=notice,
                body=body,
                order=None,
                outcome=outcome,
                detail=reason,
                now=now,
            )
        status = 409 if outcome == NoticeOutcome.AMBIGUOUS else 404
        return NoticeResult(status, reason, outcome, kept, None)
    if order.fulfillment_state == S.CANCELLED:
        reason = f"Order {order.id} is cancelled; it must not be shipped."
        with transaction.atomic():
            kept = notice_keep(
                connection=connection,
                digest=digest,
                notice=notice,
                body=body,
                order=order,
                outcome=NoticeOutcome.CANCELLED,
                detail=reason,
                now=now,
            )
        return NoticeResult(409, reason, NoticeOutcome.CANCELLED, kept, order)
    # A notice without any date ships today; repeated on a later day, it means the same day.
    ship_date = notice.ship_date or order.ship_date or timezone.now().date()
    try:
        with transaction.atomic():
            result = fulfillment_move(
                order_id=order.id,
                to=S.SHIPPED,
                actor=station_actor(connection),
                ship_date=ship_date,
                tracking_id=notice.tracking_number,
                carrier=notice.carrier,
                service=notice.service,
                postage_cost=notice.shipping_cost,
            )
            outcome = NoticeOutcome.APPLIED if result.changed else NoticeOutcome.REPEATED
            message = (
                f"Order {order.id} shipped."
                if result.changed
                else f"Order {order.id} already had this shipment; nothing changed."
            )
            kept = notice_keep(
                connection=connection,
                digest=digest,
                notice=notice,
                body=body,
                order=result.order,
                outcome=outcome,
                detail=message,
                now=now,
            )
        return NoticeResult(200, message, outcome, kept, result.order)
    except FulfillmentRefused as exc:
        with transaction.atomic():
            kept = notice_keep(
                connection=connection,
                digest=digest,
                notice=notice,
                body=body,
                order=order,
                outcome=NoticeOutcome.REFUSED,
                detail=exc.message,
                now=now,
            )
        return NoticeResult(
            _REFUSAL_STATUS.get(exc.reason, 409), exc.message, NoticeOutcome.REFUSED, kept, order
        )
    except Order.DoesNotExist:
        reason = f"Order {order.id} no longer exists."
        with transaction.atomic():
            kept = notice_keep(
                connection=connection,
                digest=digest,
                notice=notice,
                body=body,
                order=None,
                outcome=NoticeOutcome.UNKNOWN,
                detail=reason,
                now=now,
            )
        return NoticeResult(404, reason, NoticeOutcome.UNKNOWN, kept, None)


def ship_notice_apply_to(*, notice_id: int, order_id: int, actor: str) -> ShipNotice:
    """An operator's decision for a kept notice that could not be applied: ship order
    `order_id` with the notice's details (ship date — today when it had none —, carrier,
    service, tracking number, cost) and mark the notice dealt with, in one transaction.
    Raises ShipNotice.DoesNotExist, Order.DoesNotExist or FulfillmentRefused (nothing
    written)."""
    with transaction.atomic():
        notice = (
            ShipNotice.objects.select_for_update().select_related("connection").get(id=notice_id)
        )
        if not notice.connection.is_own_station:
            # A publisher's warehouse ships its warehouse orders, never pressrun's.
            raise FulfillmentRefused(
                Refusal.NOT_ALLOWED,
                f"This notice came from {notice.connection.name}, a publisher's warehouse: it "
                "is about one of its warehouse orders, never a pressrun order.",
            )
        result = fulfillment_move(
            order_id=order_id,
            to=S.SHIPPED,
            actor=actor,
            ship_date=notice.ship_date or timezone.now().date(),
            tracking_id=notice.tracking_number,
            carrier=notice.carrier,
            service=notice.service,
            postage_cost=notice.shipping_cost,
            note=f"From ship notice {notice.id} of {notice.connection.name}.",
        )
        notice.order = result.order
        notice.resolved_at = timezone.now()
        notice.resolved_by = actor[:100]
        notice.detail = (f"Applied by {actor[:60]} to order {order_id}. Before: {notice.detail}")[
            :500
        ]
        notice.save(update_fields=["order", "resolved_at", "resolved_by", "detail"])
    return notice


def ship_notice_resolve(*, notice_id: int, actor: str) -> ShipNotice:
    """Mark a kept notice as dealt with by an operator (it leaves the attention list)."""
    notice = ShipNotice.objects.get(id=notice_id)
    if notice.resolved_at is None:
        notice.resolved_at = timezone.now()
        notice.resolved_by = actor[:100]
        notice.save(update_fields=["resolved_at", "resolved_by"])
    return notice


def ship_notices_delete_expired(*, now: datetime) -> int:
    """Delete kept notices nothing needs any more: applied (or repeated) ones, and ones an
    operator marked dealt with, whose last copy came more than
    `PRESSRUN_SHIP_NOTICE_RETENTION_DAYS` ago (the order's history keeps the shipment).
    Notices still waiting for an operator are never deleted. Run by the hourly
    housekeeping (registered in `WarehousesConfig`); returns how many."""
    cutoff = now - timedelta(days=settings.SHIP_NOTICE_RETENTION_DAYS)
    done = Q(outcome__in=(NoticeOutcome.APPLIED, NoticeOutcome.REPEATED)) | Q(
        resolved_at__isnull=False
    )
    return ShipNotice.objects.filter(done, last_received_at__lt=cutoff).delete()[0]


__all__ = [
    "NoticeResult",
    "ProtocolError",
    "notice_digest",
    "notice_keep",
    "ship_notice_apply_to",
    "ship_notice_receive",
    "ship_notice_resolve",
    "ship_notices_delete_expired",
]
