"""SamCart: the notifications of one order (one per product) become one order.

Each notification is processed after a grace window (`samcart_grace_seconds`). The first task
to run for an order locks every pending notification of that order (same publisher, same
order id) and places ONE order with all their products. The lowest-numbered notification is
marked order_created; the others are marked duplicate ("Merged into order N.") and linked to
the same order. A notification that arrives after its order was placed is failed: the product
must be added by hand.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db import IntegrityError, transaction

from pressrun.carts.locks import deliveries_for_update
from pressrun.carts.models import MADE_ORDERS, Cart, InboundDelivery, Outcome
from pressrun.carts.outcomes import ALREADY_IMPORTED, delivery_finish
from pressrun.carts.routing import cart_order_prepare, cart_order_route
from pressrun.carts.samcart import parse
from pressrun.carts.unmatched import unmatched_record
from pressrun.orders.models import Order
from pressrun.orders.services import OrderPrepared, OrderRefused, Refusal, order_place
from pressrun.warehouses.models import WarehouseOrder

REPEATED = "The same notification was already received."


def skipped_text(parsed: parse.ParsedGroup) -> str:
    """The products left out of the order, for the deliveries' reasons."""
    parts = []
    if parsed.unmatched:
        parts.append(parse.describe(parsed.unmatched))
    if parsed.no_quantity:
        parts.append(f"quantity below 1: {parse.describe(parsed.no_quantity)}")
    return "; ".join(parts)


def _record_unmatched(
    collected: list[tuple[InboundDelivery, dict[str, Any]]], parsed: parse.ParsedGroup
) -> None:
    """Link each unmatched product to the notifications that carried it, so that mapping
    it later re-processes exactly those deliveries (with the rest of their order)."""
    refs = {product.ref for product in parsed.unmatched if product.ref}
    if not refs:
        return
    for delivery, data in collected:
        carried = [product for product in parse.products(data) if product.ref in refs]
        if carried:
            unmatched_record(delivery=delivery, products=carried)


def late_reason(order_id: int | str) -> str:
    return f"Arrived after order {order_id} was placed; add the product by hand."


def samcart_process(*, delivery_id: int) -> InboundDelivery:
    """Process a pending SamCart delivery together with the pending ones of its order.

    Safe to run twice and concurrently: the group is locked (in id order) and re-read, and
    the partial unique constraint allows one order_created delivery per order id.
    """
    head = InboundDelivery.objects.filter(id=delivery_id).values("publisher_id", "external_key")
    found = head.first()
    if found is None:
        raise InboundDelivery.DoesNotExist(f"No delivery {delivery_id}.")
    group_filter: dict[str, Any] = {"id": delivery_id}
    if found["external_key"]:
        group_filter = {
            "cart": Cart.SAMCART,
            "publisher_id": found["publisher_id"],
            "external_key": found["external_key"],
            "outcome": Outcome.PENDING,
        }
    ahead = _ParsedAhead.of(
        list(
            InboundDelivery.objects.filter(**group_filter)
            .select_related("publisher")
            .order_by("id")
        ),
        delivery_id,
    )
    with transaction.atomic():
        group = list(
            deliveries_for_update()
            .select_related("publisher")
            .filter(**group_filter)
            .order_by("id")
        )
        if not any(d.id == delivery_id and d.outcome == Outcome.PENDING for d in group):
            return InboundDelivery.objects.get(id=delivery_id)
        _process_group(group, ahead)
    return InboundDelivery.objects.get(id=delivery_id)


_Decoded = dict[str, Any] | parse.PayloadInvalid


class _ParsedAhead:
    """The group's notifications decoded and parsed before its transaction, which on SQLite
    holds the database's write lock: parsing reads the publisher's projects and shipping
    rules and writes nothing. Each result is used inside only for exactly the deliveries and
    bodies it was made from (a notification that arrived meanwhile joins the group, which is
    parsed again), and a group with a product no project answers to is parsed again as
    well: a mapping saved meanwhile must count (the reason: `_ShopifyParsed.still_holds`).
    pressrun's order of the group's cart order is prepared with the parse
    (`cart_order_prepare`), and given to routing only with that same parse."""

    def __init__(self) -> None:
        self._decoded: dict[int, tuple[bytes, _Decoded]] = {}
        self._group: tuple[tuple[tuple[int, bytes], ...], parse.ParsedGroup] | None = None
        # pressrun's order of the group's cart order, prepared with the group's parse.
        self._order: OrderPrepared | None = None

    @classmethod
    def of(cls, pending: list[InboundDelivery], delivery_id: int) -> _ParsedAhead:
        ahead = cls()
        if not any(d.id == delivery_id and d.outcome == Outcome.PENDING for d in pending):
            return ahead
        collected: list[tuple[InboundDelivery, dict[str, Any]]] = []
        bodies: set[bytes] = set()
        for delivery in pending:
            decoded = ahead.decoded(delivery)
            if isinstance(decoded, dict) and parse.creates_order(decoded):
                body = bytes(delivery.body)
                if body not in bodies:
                    bodies.add(body)
                    collected.append((delivery, decoded))
        if collected:
            parsed = ahead.group(collected)
            ahead._order = cart_order_prepare(
                publisher=pending[0].publisher,
                external_key=pending[0].external_key,
                snapshot=parsed.snapshot,
                lines=parsed.cart_lines,
            )
        return ahead

    def order_for(self, parsed: parse.ParsedGroup) -> OrderPrepared | None:
        """pressrun's order prepared with `parsed`, if `parsed` is the parse made ahead."""
        if self._group is not None and parsed is self._group[1]:
            return self._order
        return None

    def decoded(self, delivery: InboundDelivery) -> _Decoded:
        """The notification of `delivery`, or why it cannot be read."""
        body = bytes(delivery.body)
        known = self._decoded.get(delivery.id)
        if known is not None and known[0] == body:
            return known[1]
        decoded: _Decoded
        try:
            decoded = parse.load_notification(body, str(delivery.headers.get("Content-Type", "")))
        except parse.PayloadInvalid as exc:
            decoded = exc
        self._decoded[delivery.id] = (body, decoded)
        return decoded

    def group(self, collected: list[tuple[InboundDelivery, dict[str, Any]]]) -> parse.ParsedGroup:
        """`parse.parse_group` of the collected notifications."""
        key = tuple((delivery.id, bytes(delivery.body)) for delivery, _ in collected)
        if self._group is not None and self._group[0] == key and not self._group[1].unmatched:
            return self._group[1]
        deliveries = [delivery for delivery, _ in collected]
        parsed = parse.parse_group(
            publisher_id=deliveries[0].publisher_id,
            notifications=[data for _, data in collected],
            test_requested=any(d.test_requested for d in deliveries),
        )
        self._group = (key, parsed)
        return parsed


def _process_group(group: list[InboundDelivery], ahead: _ParsedAhead) -> None:
    publisher = group[0].publisher
    key = group[0].external_key
    earlier = InboundDelivery.objects.filter(
        cart=Cart.SAMCART, publisher=publisher, external_key=key
    ).exclude(outcome=Outcome.PENDING)
    seen_bodies = {bytes(body) for body in earlier.values_list("body", flat=True)}
    placed = earlier.filter(outcome__in=MADE_ORDERS).order_by("id").first()
    placed_order: Order | WarehouseOrder | None = (
        placed.orders.first() if placed is not None else None
    )
    if placed is not None and placed_order is None:
        placed_order = placed.warehouse_orders.first()
    collected: list[tuple[InboundDelivery, dict[str, Any]]] = []
    for delivery in group:
        delivery.attempts += 1
        body = bytes(delivery.body)
        data = ahead.decoded(delivery)
        if isinstance(data, parse.PayloadInvalid):
            delivery_finish(delivery, Outcome.FAILED, str(data))
            continue
        if not parse.creates_order(data):
            delivery_finish(delivery, Outcome.IGNORED, parse.not_an_order_reason(data))
            continue
        if body in seen_bodies:
            delivery_finish(delivery, Outcome.DUPLICATE, REPEATED)
            continue
        seen_bodies.add(body)
        if placed is not None:
            number = placed_order.id if placed_order is not None else "?"
            if not _route_late(delivery, data):
                delivery_finish(delivery, Outcome.FAILED, late_reason(number))
            continue
        collected.append((delivery, data))
    if not collected:
        return
    deliveries = [delivery for delivery, _ in collected]
    parsed = ahead.group(collected)
    if key and parsed.snapshot is not None and _route_group(collected, parsed, ahead):
        return
    _record_unmatched(collected, parsed)
    skipped = skipped_text(parsed)
    if parsed.request is None:
        for delivery in deliveries:
            delivery_finish(delivery, Outcome.UNMATCHED, f"No product matches a project. {skipped}")
        return
    first, others = deliveries[0], deliveries[1:]
    try:
        with transaction.atomic():
            order = order_place(request=parsed.request, publisher=publisher)
            note = f"Order {order.id}." + (f" Skipped products: {skipped}" if skipped else "")
            delivery_finish(first, Outcome.ORDER_CREATED, note)
            for delivery in others:
                delivery_finish(delivery, Outcome.DUPLICATE, f"Merged into order {order.id}.")
            for delivery in deliveries:
                delivery.orders.add(order)
    except OrderRefused as exc:
        outcome = Outcome.DUPLICATE if exc.reason == Refusal.DUPLICATE else Outcome.FAILED
        for delivery in deliveries:
            delivery_finish(delivery, outcome, exc.message)
    except IntegrityError:
        for delivery in deliveries:
            delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)


def _route_group(
    collected: list[tuple[InboundDelivery, dict[str, Any]]],
    parsed: parse.ParsedGroup,
    ahead: _ParsedAhead,
) -> bool:
    """Route the order's products (carts/routing.py): pressrun's order, warehouse orders,
    or not routed. True when the deliveries' outcomes are recorded; False when nothing was
    routed at all (the caller records unmatched or failed as it always has)."""
    assert parsed.snapshot is not None
    deliveries = [delivery for delivery, _ in collected]
    first, others = deliveries[0], deliveries[1:]
    try:
        with transaction.atomic():
            routed = cart_order_route(
                delivery=first,
                snapshot=parsed.snapshot,
                lines=parsed.cart_lines,
                prepared=ahead.order_for(parsed),
            )
            if not routed.routed_now:
                if not routed.routed_before:
                    return False
                for delivery in deliveries:
                    delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
                return True
            missing = [*routed.missing, *(p for p in parsed.unmatched if not p.ref)]
            skipped = skipped_text(replace(parsed, unmatched=tuple(missing)))
            parts = [f"Order {routed.order.id}."] if routed.order is not None else []
            if routed.warehouse_text():
                parts.append(routed.warehouse_text())
            if skipped:
                parts.append(f"Skipped products: {skipped}")
            outcome = Outcome.ORDER_CREATED if routed.order is not None else Outcome.ROUTED
            delivery_finish(first, outcome, " ".join(parts))
            merged = (
                f"Merged into order {routed.order.id}."
                if routed.order is not None
                else "Merged into warehouse order "
                + ", ".join(str(order.id) for order in routed.warehouse_orders)
                + "."
            )
            for delivery in others:
                delivery_finish(delivery, Outcome.DUPLICATE, merged)
                if routed.order is not None:
                    delivery.orders.add(routed.order)
                if routed.warehouse_orders:
                    delivery.warehouse_orders.add(*routed.warehouse_orders)
    except OrderRefused as exc:
        _record_unmatched(collected, parsed)
        outcome = Outcome.DUPLICATE if exc.reason == Refusal.DUPLICATE else Outcome.FAILED
        for delivery in deliveries:
            delivery_finish(delivery, outcome, exc.message)
        return True
    except IntegrityError:
        for delivery in deliveries:
            delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
        return True
    _record_unmatched(collected, replace(parsed, unmatched=tuple(missing)))
    return True


def _route_late(delivery: InboundDelivery, data: dict[str, Any]) -> bool:
    """A notification that arrived after its order was placed: its products that are no
    project go to the publisher's warehouses like any cart line (joining the order's
    warehouse order while it has not gone to the warehouse), and the delivery is a duplicate
    saying so; True then. False (nothing written) when it carries a project's product (it
    cannot join pressrun's placed order), when nothing could be routed, or for a publisher
    without an enabled warehouse: the caller fails it, to be added by hand, as ever."""
    publisher = delivery.publisher
    has_warehouse = publisher.warehouse_connections.filter(enabled=True).exists()
    if not delivery.external_key or not has_warehouse:
        return False
    parsed = parse.parse_group(
        publisher_id=publisher.id, notifications=[data], test_requested=delivery.test_requested
    )
    if parsed.snapshot is None or any(line.project_ids for line in parsed.cart_lines):
        return False
    try:
        with transaction.atomic():
            routed = cart_order_route(
                delivery=delivery, snapshot=parsed.snapshot, lines=parsed.cart_lines
            )
            if not routed.warehouse_orders:
                transaction.set_rollback(True)
                return False
            delivery_finish(
                delivery,
                Outcome.DUPLICATE,
                "Arrived after its order was placed; its products were routed. "
                + routed.warehouse_text(),
            )
    except (OrderRefused, IntegrityError):
        return False
    if routed.missing:
        unmatched_record(delivery=delivery, products=routed.missing)
    return True
