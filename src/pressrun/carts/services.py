"""Cart deliveries: store every request, then turn it into at most one order per place its
lines are made (pressrun's order, a warehouse order per warehouse: carts/routing.py).

`delivery_receive` keeps the request and queues its processing in one transaction;
`delivery_process` is idempotent (it re-reads the delivery under a row lock and does nothing
once the delivery has an outcome), so a task run twice or a replay never makes a second order.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.accounts.models import MailMethod, Publisher
from pressrun.carts.locks import deliveries_for_update, delivery_locked_with_publisher
from pressrun.carts.models import (
    MADE_ORDERS,
    Cart,
    InboundDelivery,
    LineDestination,
    Outcome,
    ShippingMatch,
    ShippingRule,
    UnmatchedProduct,
)
from pressrun.carts.outcomes import ALREADY_IMPORTED, delivery_finish
from pressrun.carts.routing import (
    cart_order_prepare,
    cart_order_reroute,
    cart_order_route,
    cart_orders_waiting_on,
    delivery_cart_order,
    delivery_finish_routed,
)
from pressrun.carts.selectors import (
    delivery_lines_left,
    samcart_grace_seconds,
    stale_pending_delivery_ids,
    unmatched_product_connections,
    unmatched_product_projects,
)
from pressrun.carts.shipping import normalize_description
from pressrun.carts.shopify import parse as shopify_parse
from pressrun.carts.unmatched import unmatched_record
from pressrun.catalog.ecommerce_ids import EcommerceIdsInvalid, ecommerce_ids_with
from pressrun.catalog.models import Project
from pressrun.catalog.services import ProjectInvalid, project_update
from pressrun.core.errors import DomainError
from pressrun.core.prepared import PreparedRowsRead
from pressrun.core.tasks import enqueue_retry
from pressrun.orders.services import OrderPrepared, OrderRefused, Refusal, order_place
from pressrun.warehouses.listings import ListingRefused, listing_add
from pressrun.warehouses.models import WarehouseConnection

logger = logging.getLogger(__name__)

SECRET_HEADER_WORDS = ("hmac", "signature", "token", "authorization", "cookie")
# Also replayed: a pending delivery nothing will process (`stale_pending_delivery_ids`).
REPLAYABLE_OUTCOMES = frozenset({Outcome.FAILED, Outcome.UNMATCHED})
# Refused at the door for authenticity: replaying would act on an unverified body.
SIGNATURE_MISSING = "Signature missing."
SIGNATURE_MISMATCH = "Signature does not match."
NEVER_REPLAYED_REASONS = frozenset({SIGNATURE_MISSING, SIGNATURE_MISMATCH})


def headers_without_secrets(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping: everything except signatures, tokens and cookies."""
    return {
        name: str(value)[:1000]
        for name, value in headers.items()
        if not any(word in name.lower() for word in SECRET_HEADER_WORDS)
    }


def delivery_receive(
    *,
    cart: str,
    publisher: Publisher,
    headers: Mapping[str, str],
    body: bytes,
    topic: str = "",
    delivery_id: str = "",
    external_key: str = "",
    test_requested: bool = False,
    failure: str = "",
    notify_email: str = "",
) -> tuple[InboundDelivery, bool]:
    """Store one inbound request; queue its processing unless `failure` says it was refused.

    Returns (delivery, created). A delivery id already stored for this cart and publisher is
    a repeat: nothing new is stored and the earlier delivery is returned with created False.
    """

    delivery = InboundDelivery(
        cart=cart,
        publisher=publisher,
        received_at=timezone.now(),
        headers=headers_without_secrets(headers),
        body=body,
        body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        topic=topic[:100],
        delivery_id=delivery_id[:200],
        external_key=external_key[:300],
        test_requested=test_requested,
        notify_email=notify_email[:254],
        outcome=Outcome.FAILED if failure else Outcome.PENDING,
        reason=failure,
        processed_at=timezone.now() if failure else None,
    )
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
            if not failure:
                _enqueue_processing(delivery)
    except IntegrityError:
        earlier = InboundDelivery.objects.filter(
            cart=cart, publisher=publisher, delivery_id=delivery.delivery_id
        ).first()
        if earlier is None or not delivery.delivery_id:
            raise
        return earlier, False
    return delivery, True


def _enqueue_processing(delivery: InboundDelivery) -> None:
    """Queue the delivery's processing: a SamCart one after the grace window, in which the
    other products' notifications of its order arrive; any other at once."""
    from pressrun.carts.tasks import process_delivery

    delay = samcart_grace_seconds() if delivery.cart == Cart.SAMCART else 0
    if delay > 0:
        run_after = timezone.now() + timedelta(seconds=delay)
        process_delivery.using(run_after=run_after).enqueue(delivery_id=delivery.id)
    else:
        process_delivery.enqueue(delivery_id=delivery.id)


MAX_ERROR_TEXT = 300


def unexpected_error_text(error: BaseException) -> str:
    """ "Unexpected error KeyError: 'x'." — what an operator reads on the delivery (the
    traceback is in the worker's log)."""
    message = " ".join(str(error).split())
    if len(message) > MAX_ERROR_TEXT:
        message = message[: MAX_ERROR_TEXT - 1] + "…"
    return f"Unexpected error {type(error).__name__}" + (f": {message}" if message else "") + "."


def delivery_note_retry(*, delivery_id: int, problem: str, attempt: int) -> None:
    """Say on a still-pending delivery why it is waiting (shown to operators/publishers)."""
    InboundDelivery.objects.filter(id=delivery_id, outcome=Outcome.PENDING).update(
        reason=f"Attempt {attempt} failed: {problem} Retrying automatically."
    )


def delivery_give_up(*, delivery_id: int, problem: str, attempts: int) -> str:
    """Mark a delivery failed after its last transient failure; returns its outcome. The
    publisher is told by email when the delivery names an error address (TSErrEM)."""
    from pressrun.carts.oneshoppingcart.process import delivery_error_email

    with transaction.atomic():
        delivery = deliveries_for_update().get(id=delivery_id)
        if delivery.outcome != Outcome.PENDING:
            return str(delivery.outcome)
        delivery_finish(
            delivery,
            Outcome.FAILED,
            f"Gave up after {attempts} attempt{'' if attempts == 1 else 's'}: {problem} "
            "Replay it once the cause is fixed.",
        )
        delivery_error_email(delivery)
    return str(Outcome.FAILED)


def delivery_fail_unexpectedly(*, delivery_id: int, error: BaseException, attempt: int) -> str:
    """Record that processing attempt `attempt` of a pending delivery raised `error`, a bug
    or a failure nobody foresaw, and queue the next attempt with backoff; returns "retrying",
    or the outcome when no attempt is left or the delivery was no longer pending.

    While the retry waits the delivery is `failed`, saying so in plain words, so an operator
    sees it and may replay it at once; `retry_queued` marks it for the retry to re-open
    (`delivery_reopen_for_retry`). After the last attempt it is given up (`delivery_give_up`).
    The failed attempt's own writes were rolled back with its transaction.
    """
    from pressrun.carts.tasks import process_delivery

    problem = unexpected_error_text(error)
    with transaction.atomic():
        delivery = deliveries_for_update().filter(id=delivery_id).first()
        if delivery is None:
            return "missing"
        if delivery.outcome != Outcome.PENDING:
            # Processed after all: the error came later (an email after the commit, say).
            return str(delivery.outcome)
        if enqueue_retry(
            process_delivery,
            attempt=attempt,
            max_attempts=settings.CART_RETRY_ATTEMPTS,
            kwargs={"delivery_id": delivery_id},
            base_seconds=settings.CART_RETRY_BASE_SECONDS,
        ):
            delivery.outcome = Outcome.FAILED
            delivery.reason = (
                f"Attempt {attempt} failed: {problem} It will be retried automatically; it "
                "can also be replayed now."
            )
            delivery.processed_at = timezone.now()
            delivery.retry_queued = True
            delivery.save(update_fields=["outcome", "reason", "processed_at", "retry_queued"])
            return "retrying"
    return delivery_give_up(delivery_id=delivery_id, problem=problem, attempts=attempt)


def delivery_reopen_for_retry(*, delivery_id: int) -> int:
    """Make a delivery failed by an unexpected error pending again for its queued retry;
    returns how many deliveries were re-opened. For SamCart the order's other notifications
    waiting for a retry are re-opened with it, so that they are processed together and still
    make one order (their own retries then find nothing to do). A delivery replayed meanwhile
    is left alone: the replay cleared its mark."""
    head = (
        InboundDelivery.objects.filter(id=delivery_id)
        .values("cart", "publisher_id", "external_key")
        .first()
    )
    if head is None:
        return 0
    waiting = InboundDelivery.objects.filter(outcome=Outcome.FAILED, retry_queued=True)
    if head["cart"] == Cart.SAMCART and head["external_key"]:
        waiting = waiting.filter(
            cart=Cart.SAMCART,
            publisher_id=head["publisher_id"],
            external_key=head["external_key"],
        )
    else:
        waiting = waiting.filter(id=delivery_id)
    return waiting.update(
        outcome=Outcome.PENDING,
        processed_at=None,
        retry_queued=False,
        dismissed_at=None,
        dismissed_by="",
    )


def deliveries_requeue_stale() -> int:
    """Queue processing again for every pending delivery nothing will process (see
    `stale_pending_delivery_ids`); returns how many were queued. A delivery with a task
    queued or running (a scheduled retry included) is left to it. Should a lost task turn up
    after all, processing re-checks the delivery under its row lock, so it is done once."""
    from pressrun.carts.tasks import process_delivery

    requeued = 0
    for delivery_id in stale_pending_delivery_ids():
        with transaction.atomic():
            still_pending = InboundDelivery.objects.filter(
                id=delivery_id, outcome=Outcome.PENDING
            ).update(reason="Its processing task was lost; queued again automatically.")
            if still_pending:
                process_delivery.enqueue(delivery_id=delivery_id)
                requeued += 1
                logger.warning("delivery %s: pending with no task; queued again", delivery_id)
    return requeued


def _skipped_text(parsed: shopify_parse.ParsedOrder) -> str:
    """The lines left out of the order, for the delivery's reason."""
    parts = ["; ".join(f"SKU {line.describe()}" for line in parsed.unmatched)]
    if parsed.no_quantity:
        described = "; ".join(f"SKU {line.describe()}" for line in parsed.no_quantity)
        parts.append(f"quantity below 1: {described}")
    if parsed.invalid_quantity:
        described = "; ".join(
            f"SKU {line.describe()} quantity '{value}'" for line, value in parsed.invalid_quantity
        )
        parts.append(f"invalid quantity (not a whole number of copies): {described}")
    return "; ".join(part for part in parts if part)


@dataclass(frozen=True)
class _ShopifyParsed:
    """A Shopify delivery's body parsed: `parsed`, or why it cannot be (`invalid`).

    Parsed before the delivery's transaction (`_shopify_parse_ahead`), which on SQLite holds
    the database's write lock: parsing reads the publisher's project mappings and shipping
    rules and writes nothing. Used inside only while `still_holds`; intake checks the
    projects and prices again there as ever.
    """

    body: bytes
    parsed: shopify_parse.ParsedOrder | None
    invalid: str = ""
    # pressrun's order of the cart order, prepared too if it is routed for the first time
    # (`cart_order_prepare`).
    prepared: OrderPrepared | None = None

    def still_holds(self, delivery: InboundDelivery) -> bool:
        """Whether this parse stands for `delivery`, now under its lock: its body is the one
        parsed (the only input set at receipt that ever changes: emptied once the delivery
        is over, `delivery_bodies_expire`), and every line named a project. With a line
        that named none it is parsed again: a mapping saved meanwhile must count, since
        mapping a product reprocesses only the deliveries already unmatched, not a pending
        one. (A mapping changed or removed meanwhile needs nothing: the delivery is then as
        if processed just before the change.)"""
        return self.body == bytes(delivery.body) and (
            self.parsed is None or not self.parsed.unmatched
        )


def _shopify_parse(delivery: InboundDelivery) -> _ShopifyParsed:
    body = bytes(delivery.body)
    try:
        data = shopify_parse.load_order(body)
    except shopify_parse.PayloadInvalid as exc:
        return _ShopifyParsed(body=body, parsed=None, invalid=str(exc))
    parsed = shopify_parse.parse_order(
        publisher_id=delivery.publisher_id,
        data=data,
        test_requested=delivery.test_requested,
        shop_domain=shopify_parse.shop_domain_from_headers(delivery.headers),
    )
    return _ShopifyParsed(body=body, parsed=parsed)


def _shopify_parse_ahead(delivery_id: int) -> _ShopifyParsed | None:
    """The delivery parsed before its transaction, if it is pending and its topic selected
    (else nothing is parsed: the transaction finishes it without), with pressrun's order of
    its cart order prepared. A delivery of another topic of an order imported already is
    parsed and its order prepared too, then found a duplicate inside: checking first would
    cost a read before every delivery, and most deliveries are no duplicates."""
    delivery = (
        InboundDelivery.objects.filter(id=delivery_id)
        .select_related("publisher")
        .defer("reason", "notify_email")
        .first()
    )
    if (
        delivery is None
        or delivery.outcome != Outcome.PENDING
        or delivery.topic.lower() not in delivery.publisher.shopify_topic_set
    ):
        return None
    shopify = _shopify_parse(delivery)
    if shopify.parsed is None:
        return shopify
    prepared = cart_order_prepare(
        publisher=delivery.publisher,
        external_key=delivery.external_key,
        snapshot=shopify.parsed.snapshot,
        lines=shopify.parsed.cart_lines,
    )
    return replace(shopify, prepared=prepared)


# The deliveries of a cart order (`external_key`) that made an order, read inside a
# delivery's transaction (on SQLite under the write lock): compiled once per process
# (docs/performance.md, "sixteenth round").
_deliveries_made_orders = PreparedRowsRead(
    InboundDelivery,
    columns=("pk",),
    among="external_key",
    keys=("cart", "publisher"),
    outcome__in=MADE_ORDERS,
)


def delivery_process(*, delivery_id: int) -> InboundDelivery:
    """Turn a pending delivery into an order, or record why not. Safe to run twice.

    Each line is routed (carts/routing.py): to pressrun's order, to a warehouse order of the
    publisher, or not routed (a missing SKU). Outcomes: order_created (pressrun's order was
    placed, with or without warehouse orders), routed (warehouse orders only), duplicate
    (this cart order was already imported, by another topic or a repeat), ignored (topic
    not selected by the publisher), unmatched (no line names a project or a warehouse),
    failed (intake refused it, or every line that names a project has a quantity below 1 or
    not a whole number; the reason says why).
    Database errors propagate (the task retries them) and leave the delivery pending.
    SamCart deliveries are processed together with the other products of their order
    (see `samcart_process`).
    """
    cart = InboundDelivery.objects.filter(id=delivery_id).values_list("cart", flat=True).first()
    if cart == Cart.SAMCART:
        from pressrun.carts.samcart.process import samcart_process

        return samcart_process(delivery_id=delivery_id)
    if cart == Cart.ONESHOPPINGCART:
        from pressrun.carts.oneshoppingcart.process import oneshoppingcart_process

        return oneshoppingcart_process(delivery_id=delivery_id)
    # Parsed before the transaction: on SQLite it holds the database's write lock, which
    # every process's writes (the gateway's orders too) wait for.
    ahead = _shopify_parse_ahead(delivery_id) if cart == Cart.SHOPIFY else None
    with transaction.atomic():
        delivery = delivery_locked_with_publisher(delivery_id)
        if delivery.outcome != Outcome.PENDING:
            return delivery
        delivery.attempts += 1
        publisher = delivery.publisher
        if delivery.cart != Cart.SHOPIFY:
            delivery_finish(delivery, Outcome.FAILED, f"No parser for cart {delivery.cart}.")
            return delivery
        if delivery.topic.lower() not in publisher.shopify_topic_set:
            delivery_finish(
                delivery,
                Outcome.IGNORED,
                f"Topic '{delivery.topic}' does not create orders (selected: "
                f"{publisher.shopify_topics or 'none'}).",
            )
            return delivery
        if delivery.external_key and any(
            made != delivery.id
            for (made,) in _deliveries_made_orders.rows(
                delivery.cart, publisher.id, among=[delivery.external_key]
            )
        ):
            delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
            return delivery
        shopify = ahead if ahead is not None and ahead.still_holds(delivery) else None
        if shopify is None:
            shopify = _shopify_parse(delivery)
        if shopify.parsed is None:
            delivery_finish(delivery, Outcome.FAILED, shopify.invalid)
            return delivery
        parsed = shopify.parsed
        if delivery.external_key and parsed.snapshot is not None:
            # Each line to where it is made: pressrun's order, a warehouse order, or not
            # routed (carts/routing.py); a refusal or a lost race rolls the routing back.
            try:
                with transaction.atomic():
                    routed = cart_order_route(
                        delivery=delivery,
                        snapshot=parsed.snapshot,
                        lines=parsed.cart_lines,
                        prepared=shopify.prepared,
                    )
                    finished = delivery_finish_routed(
                        delivery,
                        routed,
                        skipped=_skipped_text(replace(parsed, unmatched=tuple(routed.missing))),
                        skipped_label="Skipped lines",
                    )
            except OrderRefused as exc:
                unmatched_record(delivery=delivery, products=parsed.unmatched)
                outcome = Outcome.DUPLICATE if exc.reason == Refusal.DUPLICATE else Outcome.FAILED
                delivery_finish(delivery, outcome, exc.message)
                return delivery
            except IntegrityError:
                delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
                return delivery
            if finished:
                unmatched_record(delivery=delivery, products=routed.missing)
                return delivery
        skipped = _skipped_text(parsed)
        # Recorded whether or not an order is made, so the publisher sees what to map.
        unmatched_record(delivery=delivery, products=parsed.unmatched)
        if parsed.request is None:
            if parsed.unmatched or not (parsed.no_quantity or parsed.invalid_quantity):
                delivery_finish(
                    delivery, Outcome.UNMATCHED, f"No line matches a project. {skipped}".strip()
                )
            else:
                # Every line names a project, but none asks for a number of copies that can
                # be made: no mapping would help, so it is a failure, not "unmatched".
                delivery_finish(delivery, Outcome.FAILED, f"No line can be ordered: {skipped}")
            return delivery
        try:
            with transaction.atomic():
                order = order_place(request=parsed.request, publisher=publisher)
                note = f"Order {order.id}." + (f" Skipped lines: {skipped}" if skipped else "")
                delivery_finish(delivery, Outcome.ORDER_CREATED, note)
                delivery.orders.add(order)
        except OrderRefused as exc:
            outcome = Outcome.DUPLICATE if exc.reason == Refusal.DUPLICATE else Outcome.FAILED
            delivery_finish(delivery, outcome, exc.message)
        except IntegrityError:
            # Another delivery for the same cart order won the race (partial unique
            # constraint): its order stands, this one made none.
            delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
    return delivery


def delivery_replay(*, delivery_id: int) -> bool:
    """Queue a failed or unmatched delivery again (e.g. after fixing a SKU), or a pending one
    nothing will process (`stale_pending_delivery_ids`). Returns whether it was queued; a
    delivery that created an order, or whose signature failed, never is, nor one still
    waiting for its task."""

    with transaction.atomic():
        delivery = deliveries_for_update().get(id=delivery_id)
        replayable = delivery.outcome in REPLAYABLE_OUTCOMES or (
            delivery.outcome == Outcome.PENDING
            and stale_pending_delivery_ids(delivery_ids=[delivery.id]) == [delivery.id]
        )
        if not replayable or not delivery.body or delivery.reason in NEVER_REPLAYED_REASONS:
            return False
        delivery.outcome = Outcome.PENDING
        delivery.reason = ""
        delivery.processed_at = None
        delivery.retry_queued = False
        # Processed again: should it fail again, that failure needs attention again.
        delivery.dismissed_at, delivery.dismissed_by = None, ""
        delivery.save(
            update_fields=[
                "outcome",
                "reason",
                "processed_at",
                "retry_queued",
                "dismissed_at",
                "dismissed_by",
            ]
        )
        _enqueue_processing(delivery)
    return True


# --- Retention of raw bodies ----------------------------------------------------------

BODY_EXPIRY_BATCH = 200


def delivery_bodies_expire(*, now: datetime | None = None) -> int:
    """Empty the raw body of every delivery that made no order and arrived more than
    `CART_BODY_RETENTION_DAYS` ago (housekeeping); returns how many were emptied.

    The record stays, with its outcome, reason, headers, size and SHA-256 (computed here for
    deliveries stored before those were kept), and `body_emptied_at` says when. A pending
    delivery is never touched, nor one that made an order (its body is the order's source).
    An emptied delivery can no longer be replayed (`delivery_replay` needs a body).
    """
    days = settings.CART_BODY_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = (
        InboundDelivery.objects.filter(received_at__lt=cutoff, body_emptied_at__isnull=True)
        .exclude(outcome__in=[Outcome.PENDING, *MADE_ORDERS])
        .filter(orders__isnull=True, warehouse_orders__isnull=True)
    )
    emptied, last_id = 0, 0
    while True:
        batch = list(
            expired.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:BODY_EXPIRY_BATCH]
        )
        if not batch:
            return emptied
        for delivery_id in batch:
            emptied += _delivery_body_empty(delivery_id)
        last_id = batch[-1]


def _delivery_body_empty(delivery_id: int) -> int:
    with transaction.atomic():
        delivery = (
            deliveries_for_update()
            .filter(id=delivery_id, body_emptied_at__isnull=True)
            .exclude(outcome__in=[Outcome.PENDING, *MADE_ORDERS])
            .first()
        )
        if delivery is None or delivery.orders.exists() or delivery.warehouse_orders.exists():
            # Replayed since it was listed, or it made an order: it keeps its body.
            return 0
        body = bytes(delivery.body)
        if not delivery.body_sha256:
            delivery.body_size = len(body)
            delivery.body_sha256 = hashlib.sha256(body).hexdigest()
        delivery.body = b""
        delivery.body_emptied_at = timezone.now()
        delivery.save(update_fields=["body", "body_size", "body_sha256", "body_emptied_at"])
        _cart_order_forget(delivery)
    return 1


def _cart_order_forget(delivery: InboundDelivery) -> None:
    """Remove what routing kept of the delivery's cart order (its recipient among it) once
    no line of it was routed and no delivery of it keeps a body: nothing can route it any
    more. A cart order with a routed line is the record of its orders and stays."""
    cart_order = delivery_cart_order(delivery)
    if (
        cart_order is None
        or cart_order.lines.exclude(destination=LineDestination.UNROUTED).exists()
    ):
        return
    if InboundDelivery.objects.filter(
        cart=delivery.cart,
        publisher_id=delivery.publisher_id,
        external_key=delivery.external_key,
        body_emptied_at__isnull=True,
    ).exists():
        return
    cart_order.delete()


# --- "Needs attention": the publisher's own way out -------------------------------------


class DeliveryNotFound(DomainError):
    """No such delivery for this publisher (views answer 404)."""


class DeliveryActionRefused(DomainError):
    """The delivery cannot be dismissed or replayed; `message` says why."""


def _publisher_delivery(*, publisher: Publisher, delivery_id: int) -> InboundDelivery:
    delivery = (
        InboundDelivery.objects.filter(id=delivery_id, publisher=publisher)
        .defer("body", "headers")
        .first()
    )
    if delivery is None:
        raise DeliveryNotFound(f"No delivery {delivery_id}.")
    return delivery


def delivery_dismiss(*, publisher: Publisher, delivery_id: int, actor: str) -> InboundDelivery:
    """Take one of the publisher's failed deliveries out of "Needs attention", recording who
    and when; it stays in the delivery log, marked dismissed. Raises DeliveryNotFound for
    another publisher's delivery and DeliveryActionRefused for one that has not failed.
    Safe to repeat: a second dismissal keeps the first one's who and when."""
    with transaction.atomic():
        delivery = _publisher_delivery(publisher=publisher, delivery_id=delivery_id)
        delivery = deliveries_for_update().defer("body", "headers").get(id=delivery.id)
        if delivery.outcome != Outcome.FAILED:
            raise DeliveryActionRefused(
                f"Delivery {delivery.id} is {delivery.get_outcome_display().lower()}, not "
                "failed: only a failed delivery can be dismissed."
            )
        if delivery.dismissed_at is None:
            delivery.dismissed_at = timezone.now()
            delivery.dismissed_by = actor[:100]
            delivery.save(update_fields=["dismissed_at", "dismissed_by"])
    return delivery


def delivery_replay_by_publisher(*, publisher: Publisher, delivery_id: int) -> None:
    """The publisher's Replay: exactly the operators' `delivery_replay` (idempotent
    processing under the delivery's row lock, never a second order), for the publisher's own
    delivery only. A delivery that made orders but left lines not routed routes those lines
    now (`routing.cart_order_reroute`: only the lines left, never a second order). Raises
    DeliveryNotFound for another publisher's delivery and DeliveryActionRefused (nothing
    written) when it cannot be replayed."""
    delivery = _publisher_delivery(publisher=publisher, delivery_id=delivery_id)
    cart_order = delivery_cart_order(delivery) if delivery_lines_left(delivery) else None
    if cart_order is not None:
        rerouted = cart_order_reroute(cart_order_id=cart_order.id)
        if rerouted is None or (rerouted.routed is None and not rerouted.refused):
            raise DeliveryActionRefused(
                f"Delivery {delivery.id} has no line left to route: every line went to an order."
            )
        if rerouted.refused:
            raise DeliveryActionRefused(
                f"The lines of delivery {delivery.id} could not be routed: {rerouted.refused}"
            )
        if rerouted.routed is not None and not rerouted.routed.routed_now:
            raise DeliveryActionRefused(
                f"No line left of delivery {delivery.id} can be routed yet: its page says why "
                "for each (map it to a project or add a listing first)."
            )
        return
    if delivery.reason in NEVER_REPLAYED_REASONS:
        raise DeliveryActionRefused(
            f"Delivery {delivery.id} was refused because its signature was missing or wrong, "
            "so its content cannot be trusted: it is never replayed. Check the signing key "
            "in Settings and send the order again from the cart."
        )
    if delivery.body_emptied_at is not None:
        raise DeliveryActionRefused(
            f"Delivery {delivery.id} can no longer be replayed: its content was removed on "
            f"{delivery.body_emptied_at:%Y-%m-%d}, {settings.CART_BODY_RETENTION_DAYS} days "
            "after it arrived, since it made no order. Send the order again from the cart."
        )
    if not delivery_replay(delivery_id=delivery.id):
        raise DeliveryActionRefused(
            f"Delivery {delivery.id} is {delivery.get_outcome_display().lower()}: only a "
            "failed or unmatched delivery can be replayed."
        )


# --- Unmatched products: map them, re-process the deliveries that carried them ----------


class UnmatchedProductNotFound(DomainError):
    """No such unmatched product for this publisher (views answer 404)."""


class MappingRefused(DomainError):
    """The product cannot be mapped to that project; `message` says why."""


def unmatched_reprocess(*, publisher: Publisher, unmatched_product_id: int) -> int:
    """Queue again every kept delivery that carried this product and is still `unmatched`;
    returns how many were queued. For SamCart the other unmatched notifications of the same
    order are queued too, so they become one order again.

    `unmatched` deliveries are processed again. A cart order that made orders and left this
    product's lines not routed has only those lines routed (`routing.cart_order_reroute`:
    into a warehouse order; into pressrun's order only while that is not placed yet, else
    the line must be added by hand). A `failed` delivery failed for a reason no mapping
    changes (intake refusal, bad payload, signature, cart unreachable); those are replayed
    one by one. Returns how many deliveries were queued or routed. The product is marked
    resolved when it now names a project or a listing of the publisher. Raises
    UnmatchedProductNotFound for another publisher's product. Safe to repeat: a second call
    finds nothing left to queue.
    """
    product = _unmatched_product(publisher=publisher, unmatched_product_id=unmatched_product_id)
    if unmatched_product_projects(product) or unmatched_product_connections(product):
        # Before the replays: a delivery processed meanwhile that still finds no project
        # re-opens the product (unmatched_record clears resolved_at).
        UnmatchedProduct.objects.filter(id=product.id, resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
    waiting = InboundDelivery.objects.filter(
        publisher=publisher, unmatched_products=product, outcome=Outcome.UNMATCHED
    )
    delivery_ids = set(waiting.values_list("id", flat=True))
    samcart_orders = set(
        waiting.filter(cart=Cart.SAMCART)
        .exclude(external_key="")
        .values_list("external_key", flat=True)
    )
    if samcart_orders:
        delivery_ids.update(
            InboundDelivery.objects.filter(
                cart=Cart.SAMCART,
                publisher=publisher,
                external_key__in=samcart_orders,
                outcome=Outcome.UNMATCHED,
            ).values_list("id", flat=True)
        )
    # One short transaction per delivery (delivery_replay's own): no lock on the product
    # is held meanwhile, so this never waits in a cycle with a delivery being processed.
    queued = sum(
        1 for delivery_id in sorted(delivery_ids) if delivery_replay(delivery_id=delivery_id)
    )
    # Cart orders that made orders but left this product's lines not routed: only those
    # lines are routed now, from what was kept of the order (never a second order).
    for cart_order_id in cart_orders_waiting_on(
        publisher_id=publisher.id, cart=product.cart, ref=product.product_ref
    ):
        rerouted = cart_order_reroute(cart_order_id=cart_order_id)
        if rerouted is not None and rerouted.routed is not None and rerouted.routed.routed_now:
            queued += 1
    return queued


def unmatched_map_to_project(
    *, publisher: Publisher, unmatched_product_id: int, project_id: int
) -> int:
    """Add the product to the project's eCommerce ID String (as `<ref>`, through the catalog
    service, so its validation applies), then `unmatched_reprocess`; returns how many
    deliveries were queued.

    Raises UnmatchedProductNotFound for another publisher's product, and MappingRefused (with
    nothing written) when the project is not the publisher's, is inactive, or the string
    would be refused. A product already listed leaves the string as it is. Safe to repeat.
    """
    product = _unmatched_product(publisher=publisher, unmatched_product_id=unmatched_product_id)
    ref = product.product_ref
    if any(char in ref for char in "<>{}"):
        raise MappingRefused(
            f"The cart product '{ref}' contains a bracket, which the eCommerce ID String "
            "cannot hold; change it in the cart."
        )
    with transaction.atomic():
        # The row lock orders concurrent mappings to one project, so none is lost.
        project = (
            Project.objects.select_for_update().filter(id=project_id, publisher=publisher).first()
        )
        if project is None:
            raise MappingRefused(f"You have no project {project_id}.")
        if not project.is_active:
            raise MappingRefused(f"Project {project_id} is inactive; activate it first.")
        try:
            text = ecommerce_ids_with(project.ecommerce_ids, ref)
        except EcommerceIdsInvalid as exc:
            raise MappingRefused(
                f"The project's eCommerce ID String is invalid ({exc.message}); fix it first."
            ) from exc
        if text != project.ecommerce_ids:
            try:
                project_update(project=project, ecommerce_ids=text)
            except ProjectInvalid as exc:
                raise MappingRefused(
                    f"Project {project_id} cannot list '{ref}': {exc.message}"
                ) from exc
    return unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id)


def unmatched_reprocess_for_warehouse(*, publisher: Publisher, connection_id: int) -> int:
    """After a warehouse of the publisher was enabled, made the unknown-SKU warehouse or
    given listings: `unmatched_reprocess` every open (not resolved, not ignored) unmatched
    product it would now take; returns how many deliveries were queued or routed. Does
    nothing for a disabled connection or another publisher's."""
    connection = WarehouseConnection.objects.filter(
        id=connection_id, publisher=publisher, enabled=True
    ).first()
    if connection is None:
        return 0
    products = list(
        UnmatchedProduct.objects.filter(
            publisher=publisher, resolved_at__isnull=True, ignored_at__isnull=True
        ).order_by("id")
    )
    return sum(
        unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id)
        for product in products
        if connection.id in unmatched_product_connections(product)
    )


class WarehouseNotFound(DomainError):
    """No such warehouse connection for this publisher (views answer 404)."""


def unmatched_add_listing(
    *, publisher: Publisher, unmatched_product_id: int, connection_id: int, warehouse_sku: str = ""
) -> int:
    """ "Add a listing": list the product's SKU at one of the publisher's warehouses (as the
    same SKU, or as `warehouse_sku`, quantity 1), then `unmatched_reprocess`, which routes
    the lines waiting on it; returns how many deliveries were queued or routed.

    Raises UnmatchedProductNotFound / WarehouseNotFound for another publisher's product or
    connection, and MappingRefused (nothing written) for a SKU a listing cannot hold. A SKU
    already listed there keeps its listing. Safe to repeat."""
    product = _unmatched_product(publisher=publisher, unmatched_product_id=unmatched_product_id)
    connection = WarehouseConnection.objects.filter(id=connection_id, publisher=publisher).first()
    if connection is None:
        raise WarehouseNotFound(f"You have no warehouse {connection_id}.")
    try:
        listing_add(
            connection_id=connection.id,
            channel_sku=product.product_ref,
            warehouse_sku=warehouse_sku,
        )
    except ListingRefused as exc:
        raise MappingRefused(exc.message) from exc
    return unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id)


def unmatched_ignore(
    *, publisher: Publisher, unmatched_product_id: int, actor: str
) -> UnmatchedProduct:
    """ "Not a disc: never ask again": the product leaves the list of products to map, and
    later deliveries carrying it do not bring it back (they are still recorded, so the
    publisher can ask again). Raises UnmatchedProductNotFound for another publisher's
    product. Safe to repeat: the first who and when are kept."""
    product = _unmatched_product(publisher=publisher, unmatched_product_id=unmatched_product_id)
    UnmatchedProduct.objects.filter(id=product.id, ignored_at__isnull=True).update(
        ignored_at=timezone.now(), ignored_by=actor[:100]
    )
    product.refresh_from_db()
    return product


def unmatched_unignore(*, publisher: Publisher, unmatched_product_id: int) -> UnmatchedProduct:
    """Undo `unmatched_ignore`: the product is listed again (unless it has been mapped
    meanwhile). Raises UnmatchedProductNotFound for another publisher's product."""
    product = _unmatched_product(publisher=publisher, unmatched_product_id=unmatched_product_id)
    UnmatchedProduct.objects.filter(id=product.id).update(ignored_at=None, ignored_by="")
    product.refresh_from_db()
    return product


def _unmatched_product(*, publisher: Publisher, unmatched_product_id: int) -> UnmatchedProduct:
    product = UnmatchedProduct.objects.filter(id=unmatched_product_id, publisher=publisher).first()
    if product is None:
        raise UnmatchedProductNotFound(f"No unmatched product {unmatched_product_id}.")
    return product


# --- Shipping rules ---------------------------------------------------------------------


SHIPPING_RULE_TEXT_MAX_LENGTH = 200


class ShippingRuleInvalid(DomainError):
    """A shipping rule was refused; `field` names the field when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ShippingRuleSpec:
    """One rule as a form gives it: the description `match`es `text` → `mail_method`."""

    match: str
    text: str
    mail_method: str


def shipping_rule_clean(*, match: str, text: str, mail_method: str) -> ShippingRuleSpec:
    """The rule as it is stored (text trimmed, spaces collapsed, lower case: rules compare
    that way). Raises ShippingRuleInvalid naming the field. Writes nothing."""
    if match not in ShippingMatch.values:
        raise ShippingRuleInvalid(
            f"Unknown match '{match}'; use one of {', '.join(ShippingMatch.values)}.",
            field="match",
        )
    cleaned = normalize_description(text)
    if not cleaned:
        raise ShippingRuleInvalid("The text must not be blank.", field="text")
    if len(cleaned) > SHIPPING_RULE_TEXT_MAX_LENGTH:
        raise ShippingRuleInvalid(
            f"The text must have at most {SHIPPING_RULE_TEXT_MAX_LENGTH} characters.",
            field="text",
        )
    if mail_method not in MailMethod.values:
        raise ShippingRuleInvalid(
            f"Unknown mail method '{mail_method}'; use one of {', '.join(MailMethod.values)}.",
            field="mail_method",
        )
    return ShippingRuleSpec(match=match, text=cleaned, mail_method=mail_method)


def _duplicate(spec: ShippingRuleSpec) -> ShippingRuleInvalid:
    return ShippingRuleInvalid(
        f"There is already a rule: description {ShippingMatch(spec.match).label} '{spec.text}'.",
        field="text",
    )


def shipping_rule_create(
    *,
    publisher: Publisher,
    match: str,
    text: str,
    mail_method: str,
    position: int | None = None,
) -> ShippingRule:
    """Add a rule at `position` (default: after the publisher's others; equal positions are
    tried oldest first). Raises ShippingRuleInvalid (blank or over-long text, unknown match or
    mail method, the same match and text as another rule, compared case-insensitively);
    nothing is written then."""
    spec = shipping_rule_clean(match=match, text=text, mail_method=mail_method)
    if position is None:
        last = (
            ShippingRule.objects.filter(publisher=publisher)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        position = 0 if last is None else last + 1
    try:
        with transaction.atomic():
            return ShippingRule.objects.create(
                publisher=publisher,
                match=spec.match,
                text=spec.text,
                mail_method=spec.mail_method,
                position=position,
            )
    except IntegrityError as exc:  # the unique constraint: same publisher, match and text
        raise _duplicate(spec) from exc


def shipping_rule_update(
    *,
    publisher: Publisher,
    rule_id: int,
    match: str,
    text: str,
    mail_method: str,
    position: int | None = None,
) -> ShippingRule:
    """Change one of the publisher's rules (`position` None keeps its place). Raises
    ShippingRuleInvalid as `shipping_rule_create` does (nothing written), and
    ShippingRule.DoesNotExist for another publisher's rule."""
    spec = shipping_rule_clean(match=match, text=text, mail_method=mail_method)
    rule = ShippingRule.objects.get(id=rule_id, publisher=publisher)
    rule.match, rule.text, rule.mail_method = spec.match, spec.text, spec.mail_method
    if position is not None:
        rule.position = position
    try:
        with transaction.atomic():
            rule.save(update_fields=["match", "text", "mail_method", "position"])
    except IntegrityError as exc:
        raise _duplicate(spec) from exc
    return rule


def shipping_rule_delete(*, publisher: Publisher, rule_id: int) -> bool:
    """Delete one of the publisher's rules; returns whether there was one to delete."""
    deleted, _ = ShippingRule.objects.filter(id=rule_id, publisher=publisher).delete()
    return deleted > 0
