"""1ShoppingCart: a stored notification → the order read from 1ShoppingCart's API → one order.

The notification carries only the order id (its token). Processing happens in three steps so
that no database lock is held while 1ShoppingCart's API is called:
1. claim: under a row lock, check the delivery is still pending and can be processed
   (a NewOrder, not imported yet, credentials set);
2. read the order and its client from the API (no transaction);
3. place: under the row lock again, place the order unless another run got there first.

Transient API failures raise `CartTemporarilyUnavailable` (the task retries with backoff and the
delivery stays pending); everything else ends the delivery with an outcome and, when the
delivery names an error email (TSErrEM), a plain-words email saying how to fix it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.carts.errors import CartTemporarilyUnavailable
from pressrun.carts.locks import delivery_locked_with_publisher
from pressrun.carts.models import MADE_ORDERS, Cart, InboundDelivery, Outcome
from pressrun.carts.oneshoppingcart import parse
from pressrun.carts.oneshoppingcart.client import ApiUnavailable, OneShoppingCartClient
from pressrun.carts.outcomes import ALREADY_IMPORTED, delivery_finish
from pressrun.carts.routing import cart_order_prepare, cart_order_route, delivery_finish_routed
from pressrun.carts.unmatched import CartProduct, unmatched_record
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.services import (
    OrderPrepared,
    OrderRefused,
    Refusal,
    order_place,
    order_prepare,
)

CREDENTIALS_MISSING = (
    "The 1ShoppingCart Merchant ID or API key is not set. Copy both from 1ShoppingCart (My "
    "Account > API Settings) into pressrun's account settings, then replay this delivery."
)


def _fail(delivery: InboundDelivery, outcome: str, reason: str) -> None:
    """End the delivery and tell the publisher, in the same transaction (the email's row
    and its send task commit with the outcome, or neither does)."""
    delivery_finish(delivery, outcome, reason)
    delivery_error_email(delivery)


@dataclass(frozen=True)
class _Claim:
    token: str
    merchant_id: str
    api_key: str
    publisher: Publisher
    external_key: str
    test_requested: bool


def _claim(delivery_id: int) -> InboundDelivery | _Claim:
    with transaction.atomic():
        delivery = delivery_locked_with_publisher(delivery_id)
        if delivery.outcome != Outcome.PENDING:
            return delivery
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
        try:
            notification = parse.parse_notification(bytes(delivery.body))
        except parse.PayloadInvalid as exc:
            _fail(delivery, Outcome.FAILED, str(exc))
            return delivery
        if not notification.is_new_order:
            delivery_finish(
                delivery,
                Outcome.IGNORED,
                f"Event '{notification.event}' does not create orders (only NewOrder does); "
                "a test notification shows the Notification URL works.",
            )
            return delivery
        if (
            InboundDelivery.objects.filter(
                cart=Cart.ONESHOPPINGCART,
                publisher=delivery.publisher,
                external_key=delivery.external_key,
                outcome__in=MADE_ORDERS,
            )
            .exclude(id=delivery.id)
            .exists()
        ):
            delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
            return delivery
        publisher = delivery.publisher
        api_key = publisher.oneshoppingcart_api_key
        if not publisher.oneshoppingcart_merchant_id or not api_key:
            _fail(delivery, Outcome.FAILED, CREDENTIALS_MISSING)
            return delivery
        return _Claim(
            token=notification.token,
            merchant_id=publisher.oneshoppingcart_merchant_id,
            api_key=api_key,
            publisher=publisher,
            external_key=delivery.external_key,
            test_requested=delivery.test_requested,
        )


def _read_order(
    claim: _Claim,
) -> tuple[parse.ApiOrder, parse.ApiClient] | str:
    """The order and its client, or the reason they cannot be read (not worth retrying).
    Raises CartTemporarilyUnavailable when trying again later may work."""
    api = OneShoppingCartClient(merchant_id=claim.merchant_id, api_key=claim.api_key)
    try:
        order = api.order(claim.token)
        client = (
            api.client(order.client_id)
            if order.client_id
            else parse.ApiClient(email="", name="", address=order.ship_to or _NO_ADDRESS)
        )
    except ApiUnavailable as exc:
        raise CartTemporarilyUnavailable(str(exc)) from exc
    except parse.DtdRefused as exc:
        return (
            f"1ShoppingCart's reply for order {claim.token} was refused: {exc} 1ShoppingCart's "
            "API never sends one, so the reply was not its own or was tampered with on the "
            "way; asking again would bring the same, so it is not retried. Tell pressrun's "
            "support, and replay this delivery once they have looked into it."
        )
    except parse.ApiRefused as exc:
        return (
            f"1ShoppingCart refused to give order {claim.token}: {exc}. Check that the "
            "Merchant ID and API key in pressrun's settings match 1ShoppingCart's API "
            "Settings (the API needs the Professional plan), then replay this delivery."
        )
    except parse.PayloadInvalid as exc:
        return f"1ShoppingCart's reply for order {claim.token} could not be read: {exc}"
    if not order.accepted:
        return (
            f"Order {claim.token} has status '{order.status or 'unknown'}' in 1ShoppingCart, "
            "not Accepted (paid), so it was not placed. Replay this delivery once it is paid."
        )
    return order, client


_NO_ADDRESS = RecipientRequest(name="", address="", city="")


def _build_request(
    claim: _Claim, read: tuple[parse.ApiOrder, parse.ApiClient]
) -> parse.ParsedOrder:
    order, client = read
    return parse.build_request(
        publisher_id=claim.publisher.id, order=order, client=client, test=claim.test_requested
    )


def _prepare_order(claim: _Claim, parsed: parse.ParsedOrder) -> OrderPrepared | None:
    """pressrun's order prepared ahead of the delivery's transaction, as `_place` will place
    it (`orders.services.order_prepare`); None when it will place none, or not as prepared
    (a line no project answers to: the order is built again inside)."""
    if parsed.unmatched:
        return None
    if claim.external_key and parsed.snapshot is not None:
        return cart_order_prepare(
            publisher=claim.publisher,
            external_key=claim.external_key,
            snapshot=parsed.snapshot,
            lines=parsed.cart_lines,
        )
    if parsed.request is None:
        return None
    return order_prepare(request=parsed.request, publisher=claim.publisher)


def oneshoppingcart_process(*, delivery_id: int) -> InboundDelivery:
    """Process a pending 1ShoppingCart delivery. Safe to run twice and concurrently: the
    delivery is re-checked under its row lock before anything is written, and the partial
    unique constraint allows one order_created delivery per 1ShoppingCart order."""
    claimed = _claim(delivery_id)
    if isinstance(claimed, InboundDelivery):
        return claimed
    read = _read_order(claimed)
    # Built before the transaction (it reads the publisher's projects and shipping rules and
    # writes nothing): on SQLite the transaction holds the database's write lock.
    parsed = read if isinstance(read, str) else _build_request(claimed, read)
    prepared = None if isinstance(parsed, str) else _prepare_order(claimed, parsed)
    with transaction.atomic():
        delivery = delivery_locked_with_publisher(delivery_id)
        if delivery.outcome != Outcome.PENDING:
            return delivery
        if isinstance(parsed, str):
            _fail(delivery, Outcome.FAILED, parsed)
            return delivery
        if parsed.unmatched and not isinstance(read, str):
            # Built again: a mapping saved meanwhile must count (the reason:
            # carts.services._ShopifyParsed.still_holds).
            parsed = _build_request(claimed, read)
        _place(delivery, parsed, prepared)
    return delivery


def _skipped_text(products: tuple[CartProduct, ...]) -> str:
    return "; ".join(f"SKU {product.describe()}" for product in products)


def _route(
    delivery: InboundDelivery, parsed: parse.ParsedOrder, prepared: OrderPrepared | None
) -> bool:
    """Route the order's lines (carts/routing.py). True when the outcome is recorded; False
    when nothing was routed at all (`_place` records unmatched as it always has)."""
    assert parsed.snapshot is not None
    try:
        with transaction.atomic():
            routed = cart_order_route(
                delivery=delivery,
                snapshot=parsed.snapshot,
                lines=parsed.cart_lines,
                prepared=prepared,
            )
            finished = delivery_finish_routed(
                delivery,
                routed,
                skipped=_skipped_text(tuple(routed.missing)),
                skipped_label="Skipped lines",
            )
    except OrderRefused as exc:
        if parsed.unmatched:
            unmatched_record(delivery=delivery, products=parsed.unmatched)
        if exc.reason == Refusal.DUPLICATE:
            delivery_finish(delivery, Outcome.DUPLICATE, exc.message)
        else:
            _fail(delivery, Outcome.FAILED, exc.message)
        return True
    except IntegrityError:
        delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
        return True
    if not finished:
        return False
    if routed.missing:
        unmatched_record(delivery=delivery, products=routed.missing)
        if delivery.outcome != Outcome.DUPLICATE:
            delivery_error_email(delivery)
    return True


def _place(
    delivery: InboundDelivery, parsed: parse.ParsedOrder, prepared: OrderPrepared | None = None
) -> None:
    """`prepared`: `_prepare_order`'s, written if it is this order (`order_place`)."""
    if delivery.external_key and parsed.snapshot is not None and _route(delivery, parsed, prepared):
        return
    skipped = _skipped_text(parsed.unmatched)
    if parsed.unmatched:
        unmatched_record(delivery=delivery, products=parsed.unmatched)
    if parsed.request is None:
        _fail(
            delivery,
            Outcome.UNMATCHED,
            f"No line matches a project. {skipped}. Put each SKU in the eCommerce ID String "
            "of its project, then re-process.",
        )
        return
    try:
        with transaction.atomic():
            order = order_place(
                request=parsed.request, publisher=delivery.publisher, prepared=prepared
            )
            note = f"Order {order.id}." + (f" Skipped lines: {skipped}" if skipped else "")
            delivery_finish(delivery, Outcome.ORDER_CREATED, note)
            delivery.orders.add(order)
    except OrderRefused as exc:
        if exc.reason == Refusal.DUPLICATE:
            delivery_finish(delivery, Outcome.DUPLICATE, exc.message)
        else:
            _fail(delivery, Outcome.FAILED, exc.message)
        return
    except IntegrityError:
        delivery_finish(delivery, Outcome.DUPLICATE, ALREADY_IMPORTED)
        return
    if skipped:
        delivery_error_email(delivery)


def delivery_error_email(delivery: InboundDelivery) -> None:
    """Email the delivery's error address (TSErrEM) what went wrong, at most once per
    delivery outcome. Call in the transaction that records the outcome. Does nothing when
    the delivery names no error address."""
    _error_email(
        delivery, key=f"delivery-error:{delivery.id}:{delivery.attempts}:{delivery.outcome}"
    )


def delivery_refused_email(*, delivery_id: int) -> None:
    """Email the error address (TSErrEM) why a notification was refused at the door, at most
    once per publisher and reason a day (UTC). 1ShoppingCart repeats a notification until it
    gets a 200 and each repeat is stored as a delivery of its own, so a key per delivery would
    flood the publisher while the Notification URL stays wrong. Does nothing when the delivery
    names no error address."""
    delivery = InboundDelivery.objects.select_related("publisher").get(id=delivery_id)
    reason = hashlib.sha256(delivery.reason.encode()).hexdigest()[:32]
    day = timezone.now().date().isoformat()
    _error_email(
        delivery,
        key=f"delivery-refused:{delivery.publisher_id}:{reason}:{day}",
        repeats_note=(
            "1ShoppingCart sends a refused notification again until it is accepted; the "
            "repeats refused for the same reason today are kept but not emailed again.\n\n"
        ),
    )


def _error_email(delivery: InboundDelivery, *, key: str, repeats_note: str = "") -> None:
    from pressrun.notifications.services import notify_publisher_error

    if not delivery.notify_email:
        return
    token = parse.order_token(delivery.external_key) or "?"
    if delivery.outcome in MADE_ORDERS:
        subject = f"1ShoppingCart order {token}: some products were not sent"
        opening = "The order was placed, but some of its lines match no pressrun project."
    else:
        subject = f"1ShoppingCart order {token} was not placed"
        opening = "pressrun received 1ShoppingCart's notification but could not place the order."
    text = (
        f"{opening}\n\n{delivery.reason}\n\n"
        f"Publisher ID: {delivery.publisher_id}\nDelivery: {delivery.id}, received "
        f"{delivery.received_at:%Y-%m-%d %H:%M} UTC\n\n{repeats_note}"
        "You receive this because the Notification URL names this address (TSErrEM). Remove "
        "TSErrEM from the URL once the integration works to stop these emails.\n"
    )
    notify_publisher_error(
        publisher=delivery.publisher, to=delivery.notify_email, subject=subject, text=text, key=key
    )
