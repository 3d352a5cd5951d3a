"""Cart deliveries: store every request, then turn it into at most one order.

`delivery_receive` keeps the request and queues its processing in one transaction;
`delivery_process` is idempotent (it re-reads the delivery under a row lock and does nothing
once the delivery has an outcome), so a task run twice or a replay never makes a second order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.carts.models import Cart, InboundDelivery, Outcome
from pressrun.carts.shopify import parse as shopify_parse
from pressrun.orders.services import OrderRefused, Refusal, order_place

logger = logging.getLogger(__name__)

DEFAULT_SAMCART_GRACE_SECONDS = 10
SECRET_HEADER_WORDS = ("hmac", "signature", "token", "authorization", "cookie")
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
    delay_seconds: int = 0,
) -> tuple[InboundDelivery, bool]:
    """Store one inbound request; queue its processing unless `failure` says it was refused.

    Returns (delivery, created). A delivery id already stored for this cart and publisher is
    a repeat: nothing new is stored and the earlier delivery is returned with created False.
    """
    from pressrun.carts.tasks import process_delivery

    delivery = InboundDelivery(
        cart=cart,
        publisher=publisher,
        received_at=timezone.now(),
        headers=headers_without_secrets(headers),
        body=body,
        topic=topic[:100],
        delivery_id=delivery_id[:200],
        external_key=external_key[:300],
        test_requested=test_requested,
        outcome=Outcome.FAILED if failure else Outcome.PENDING,
        reason=failure,
        processed_at=timezone.now() if failure else None,
    )
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
            if not failure:
                _enqueue(process_delivery, delivery.id, delay_seconds)
    except IntegrityError:
        earlier = InboundDelivery.objects.filter(
            cart=cart, publisher=publisher, delivery_id=delivery.delivery_id
        ).first()
        if earlier is None or not delivery.delivery_id:
            raise
        return earlier, False
    return delivery, True


def _enqueue(task: Any, delivery_id: int, delay_seconds: int) -> None:
    if delay_seconds > 0:
        run_after = timezone.now() + timedelta(seconds=delay_seconds)
        task.using(run_after=run_after).enqueue(delivery_id=delivery_id)
    else:
        task.enqueue(delivery_id=delivery_id)


def samcart_grace_seconds() -> int:
    """How long a SamCart notification waits for the other products of its order
    (setting or env PRESSRUN_SAMCART_GRACE_SECONDS, default 10)."""
    configured = getattr(settings, "PRESSRUN_SAMCART_GRACE_SECONDS", None)
    if configured is None:
        configured = os.environ.get("PRESSRUN_SAMCART_GRACE_SECONDS", "")
    try:
        return max(0, int(str(configured).strip() or DEFAULT_SAMCART_GRACE_SECONDS))
    except ValueError:
        return DEFAULT_SAMCART_GRACE_SECONDS


def _finish(delivery: InboundDelivery, outcome: str, reason: str) -> None:
    delivery.outcome = outcome
    delivery.reason = reason
    delivery.processed_at = timezone.now()
    delivery.save(update_fields=["outcome", "reason", "processed_at", "attempts"])


def _unmatched_text(unmatched: tuple[shopify_parse.UnmatchedLine, ...]) -> str:
    return "; ".join(f"SKU '{line.sku}' ({line.title or 'no title'})" for line in unmatched)


def delivery_process(*, delivery_id: int) -> InboundDelivery:
    """Turn a pending delivery into an order, or record why not. Safe to run twice.

    Outcomes: order_created, duplicate (this cart order was already imported, by another
    topic or a repeat), ignored (topic not selected by the publisher), unmatched (no line
    names a project), failed (intake refused it; the reason says why).
    Database errors propagate (the task retries them) and leave the delivery pending.
    SamCart deliveries are processed together with the other products of their order
    (see `samcart_process`).
    """
    cart = InboundDelivery.objects.filter(id=delivery_id).values_list("cart", flat=True).first()
    if cart == Cart.SAMCART:
        from pressrun.carts.samcart.process import samcart_process

        return samcart_process(delivery_id=delivery_id)
    with transaction.atomic():
        delivery = (
            InboundDelivery.objects.select_for_update()
            .select_related("publisher")
            .get(id=delivery_id)
        )
        if delivery.outcome != Outcome.PENDING:
            return delivery
        delivery.attempts += 1
        publisher = delivery.publisher
        if delivery.cart != Cart.SHOPIFY:
            _finish(delivery, Outcome.FAILED, f"No parser for cart {delivery.cart}.")
            return delivery
        if delivery.topic.lower() not in publisher.shopify_topic_set:
            _finish(
                delivery,
                Outcome.IGNORED,
                f"Topic '{delivery.topic}' does not create orders (selected: "
                f"{publisher.shopify_topics or 'none'}).",
            )
            return delivery
        if (
            delivery.external_key
            and InboundDelivery.objects.filter(
                cart=delivery.cart,
                publisher=publisher,
                external_key=delivery.external_key,
                outcome=Outcome.ORDER_CREATED,
            )
            .exclude(id=delivery.id)
            .exists()
        ):
            _finish(delivery, Outcome.DUPLICATE, "This order was already imported.")
            return delivery
        try:
            data = shopify_parse.load_order(bytes(delivery.body))
        except shopify_parse.PayloadInvalid as exc:
            _finish(delivery, Outcome.FAILED, str(exc))
            return delivery
        parsed = shopify_parse.parse_order(
            publisher_id=publisher.id, data=data, test_requested=delivery.test_requested
        )
        skipped = _unmatched_text(parsed.unmatched)
        if parsed.request is None:
            _finish(delivery, Outcome.UNMATCHED, f"No line matches a project. {skipped}".strip())
            return delivery
        try:
            with transaction.atomic():
                order = order_place(request=parsed.request, publisher=publisher)
                note = f"Order {order.id}." + (f" Skipped lines: {skipped}" if skipped else "")
                _finish(delivery, Outcome.ORDER_CREATED, note)
                delivery.orders.add(order)
        except OrderRefused as exc:
            outcome = Outcome.DUPLICATE if exc.reason == Refusal.DUPLICATE else Outcome.FAILED
            _finish(delivery, outcome, exc.message)
        except IntegrityError:
            # Another delivery for the same cart order won the race (partial unique
            # constraint): its order stands, this one made none.
            _finish(delivery, Outcome.DUPLICATE, "This order was already imported.")
    return delivery


def delivery_replay(*, delivery_id: int) -> bool:
    """Queue a failed or unmatched delivery again (e.g. after fixing a SKU). Returns whether
    it was queued; a delivery that created an order, or whose signature failed, never is."""
    from pressrun.carts.tasks import process_delivery

    with transaction.atomic():
        delivery = InboundDelivery.objects.select_for_update().get(id=delivery_id)
        if (
            delivery.outcome not in REPLAYABLE_OUTCOMES
            or not delivery.body
            or delivery.reason in NEVER_REPLAYED_REASONS
        ):
            return False
        delivery.outcome = Outcome.PENDING
        delivery.reason = ""
        delivery.processed_at = None
        delivery.save(update_fields=["outcome", "reason", "processed_at"])
        delay = samcart_grace_seconds() if delivery.cart == Cart.SAMCART else 0
        _enqueue(process_delivery, delivery.id, delay)
    return True
