"""Posting an order's shipment back to the cart it came from.

When an order from a cart ships (`OrderShipped`, published by fulfillment_move inside its
transaction), `on_order_shipped` writes the order's `CartPostback` row and queues
`postback_send` in that same transaction: if the move commits, the post-back is on its way;
if it rolls back, neither exists. The row is the state the publisher sees:

- **pending** → the task has not run yet;
- **sent** (`sent_at`, `remote_id`: Shopify's fulfillment) — "tracking sent to Shopify at …";
- **retrying** (`last_error`, `next_attempt_at`) — "failed: …, retrying at …": the cart could
  not be reached, answered 5xx or 429 (its Retry-After is waited out), or throttled us;
  retried with exponential backoff (CART_POSTBACK_ATTEMPTS, CART_POSTBACK_RETRY_BASE_SECONDS);
- **gave up** (`last_error`) — the cart refused (a wrong token, a missing scope, an order it
  does not know) or the attempts ran out; `postback_retry` (the dashboard's and the admin's
  "Send again") starts over;
- **not supported** — the cart's API has no way to mark an order shipped (SamCart,
  1ShoppingCart: docs/carts/*.md); nothing is sent.

Shopify, idempotent by looking first: the task reads the order's fulfillment orders and their
fulfillments. Each fulfillment order still open is fulfilled with `fulfillmentCreate`
(trackingInfo {number, url, company}, notifyCustomer as the publisher chose), one call per
fulfillment order; one that an earlier run fulfilled (say a worker killed after Shopify
answered but before the row was saved) is closed by now and is not fulfilled again. With none
left open, a fulfillment carrying this tracking number means the work is done: recorded as
sent. An order already fulfilled in Shopify without tracking (the "orders/fulfilled" topic)
gets the tracking added to that fulfillment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pressrun.carts.models import Cart, CartPostback, PostbackState
from pressrun.carts.shopify.client import (
    SHOPIFY_COMPANY,
    FulfillmentOrder,
    ShopifyAdminClient,
    ShopifyRefused,
    ShopifyUnavailable,
    TrackingInfo,
)
from pressrun.core.faults import fault_point
from pressrun.core.tasks import backoff_seconds
from pressrun.orders.events import OrderShipped
from pressrun.orders.models import Mode, Order, Source
from pressrun.orders.tracking import carrier_for

logger = logging.getLogger(__name__)

CART_OF_SOURCE = {
    Source.SHOPIFY: Cart.SHOPIFY,
    Source.SAMCART: Cart.SAMCART,
    Source.ONESHOPPINGCART: Cart.ONESHOPPINGCART,
}
# What the publisher reads on the order for a cart whose API cannot take a shipment.
NOT_SUPPORTED = {
    Cart.SAMCART: "Not supported by SamCart's API: it can read orders but has no way to mark "
    "one shipped or attach tracking.",
    Cart.ONESHOPPINGCART: "Not supported by 1ShoppingCart's API: it can only list and read "
    "orders, clients and products.",
}
FINISHED_STATES = frozenset(
    {PostbackState.SENT, PostbackState.GAVE_UP, PostbackState.NOT_SUPPORTED}
)
MAX_ERROR_LENGTH = 500


def _now() -> datetime:
    """The clock of the post-back (one place, so a test can run hours of retries at once)."""
    return timezone.now()


class PostbackImpossible(Exception):
    """Nothing can be sent, and asking again will not change that."""


def on_order_shipped(event: OrderShipped) -> None:
    """The subscriber (registered in CartsConfig.ready): queue the post-back of an order
    from a cart, in the move's transaction."""
    postback_queue(order=event.order)


def postback_queue(*, order: Order) -> CartPostback | None:
    """Write the order's post-back row and queue its task (a cart whose API cannot take a
    shipment gets the row, "not supported", and no task). None for an order from no cart or
    a test order. Safe to call twice: an order has one post-back."""
    cart = CART_OF_SOURCE.get(Source(order.source)) if order.source in Source.values else None
    if cart is None or order.mode == Mode.TEST:
        return None
    now = _now()
    with transaction.atomic():
        postback, created = CartPostback.objects.get_or_create(
            order=order,
            defaults={
                "cart": cart,
                "tracking_id": order.tracking_id,
                "created_at": now,
                "updated_at": now,
            },
        )
        if not created:
            return postback
        if cart in NOT_SUPPORTED:
            postback.state = PostbackState.NOT_SUPPORTED
            postback.last_error = NOT_SUPPORTED[cart]
            postback.save(update_fields=["state", "last_error"])
            return postback
        from pressrun.carts.tasks import postback_send

        postback_send.enqueue(postback_id=postback.id)
    return postback


def postback_retry(*, postback_id: int) -> bool:
    """Start a post-back that gave up over ("Send again"): back to pending, attempts from 1,
    its task queued. Returns False (nothing changed) unless it had given up."""
    from pressrun.carts.tasks import postback_send

    with transaction.atomic():
        changed = CartPostback.objects.filter(id=postback_id, state=PostbackState.GAVE_UP).update(
            state=PostbackState.PENDING, attempts=0, next_attempt_at=None, updated_at=_now()
        )
        if changed:
            postback_send.enqueue(postback_id=postback_id)
    return bool(changed)


@dataclass(frozen=True)
class AttemptResult:
    state: str
    delay_seconds: float | None = None  # when retrying


def postback_attempt(*, postback_id: int, attempt: int) -> AttemptResult:
    """One attempt at sending the post-back (the task's body). A finished post-back (sent,
    given up, not supported) is left alone, so a repeated or stale task changes nothing."""
    postback = (
        CartPostback.objects.select_related("order__publisher").filter(id=postback_id).first()
    )
    if postback is None:
        return AttemptResult("missing")
    if postback.state in FINISHED_STATES:
        return AttemptResult(postback.state)
    CartPostback.objects.filter(id=postback_id).update(attempts=attempt, updated_at=_now())
    try:
        remote_id = _send(postback)
    except ShopifyUnavailable as exc:
        return _retry_or_give_up(postback, attempt=attempt, error=str(exc), wait=exc.retry_after)
    except (ShopifyRefused, PostbackImpossible) as exc:
        _finish(postback, state=PostbackState.GAVE_UP, error=str(exc))
        return AttemptResult(PostbackState.GAVE_UP)
    except Exception as exc:
        # A bug or the database: retried like an outage (counted, so it ends), never left
        # pending with nothing to send it.
        logger.exception("post-back %s: unexpected error (attempt %d)", postback_id, attempt)
        error = f"Unexpected error {type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        return _retry_or_give_up(postback, attempt=attempt, error=error, wait=None)
    _finish(postback, state=PostbackState.SENT, remote_id=remote_id)
    return AttemptResult(PostbackState.SENT)


def _finish(postback: CartPostback, *, state: str, error: str = "", remote_id: str = "") -> None:
    now = _now()
    values: dict[str, object] = {
        "state": state,
        "last_error": error[:MAX_ERROR_LENGTH],
        "next_attempt_at": None,
        "updated_at": now,
    }
    if state == PostbackState.SENT:
        # What was sent: the order's tracking as it is now (an operator's correction made
        # before the post-back went out is what Shopify got).
        values |= {
            "sent_at": now,
            "remote_id": remote_id[:200],
            "tracking_id": postback.order.tracking_id,
        }
    else:
        logger.warning("post-back %s of order %s: %s", postback.id, postback.order_id, error)
    CartPostback.objects.filter(id=postback.id).exclude(state__in=FINISHED_STATES).update(**values)


def _retry_or_give_up(
    postback: CartPostback, *, attempt: int, error: str, wait: float | None
) -> AttemptResult:
    from pressrun.carts.tasks import postback_send

    if attempt >= settings.CART_POSTBACK_ATTEMPTS:
        _finish(
            postback,
            state=PostbackState.GAVE_UP,
            error=f"{error} Gave up after {attempt} attempts.",
        )
        return AttemptResult(PostbackState.GAVE_UP)
    # The cart's own Retry-After when it gave one (a 429, a throttled query); else backoff.
    delay = (
        wait
        if wait is not None
        else backoff_seconds(attempt, base=settings.CART_POSTBACK_RETRY_BASE_SECONDS)
    )
    now = _now()
    run_after = now + timedelta(seconds=delay)
    with transaction.atomic():
        updated = (
            CartPostback.objects.filter(id=postback.id)
            .exclude(state__in=FINISHED_STATES)
            .update(
                state=PostbackState.RETRYING,
                last_error=error[:MAX_ERROR_LENGTH],
                next_attempt_at=run_after,
                updated_at=now,
            )
        )
        if updated:
            postback_send.using(run_after=run_after).enqueue(
                postback_id=postback.id, attempt=attempt + 1
            )
    logger.info("post-back %s: %s; attempt %d in %.0f s", postback.id, error, attempt + 1, delay)
    return AttemptResult(PostbackState.RETRYING, delay_seconds=delay)


def shopify_tracking(order: Order) -> TrackingInfo | None:
    """The order's trackingInfo for Shopify (None for a shipment without tracking): the
    number, the company in Shopify's spelling (the order's own text for a carrier pressrun
    does not know) and the tracking page when known."""
    if not order.tracking_id:
        return None
    carrier = carrier_for(order.carrier)
    if carrier is None:
        return TrackingInfo(number=order.tracking_id, company=order.carrier.strip(), url="")
    return TrackingInfo(
        number=order.tracking_id,
        company=SHOPIFY_COMPANY.get(carrier.name, carrier.name),
        url=carrier.url(order.tracking_id),
    )


def _send(postback: CartPostback) -> str:
    if postback.cart != Cart.SHOPIFY:
        raise PostbackImpossible(NOT_SUPPORTED.get(Cart(postback.cart), "Not supported."))
    order = postback.order
    publisher = order.publisher
    if not order.store or not order.external_ref:
        raise PostbackImpossible("The order does not say which Shopify store and order it is.")
    token = publisher.shopify_admin_token
    if not token:
        raise PostbackImpossible(
            "No Shopify Admin API access token is saved: add it under Settings → Cart "
            "credentials, then send again."
        )
    client = ShopifyAdminClient(shop_domain=order.store, access_token=token)
    fulfillment_orders = client.order_fulfillment(order_id=order.external_ref)
    if fulfillment_orders is None:
        raise PostbackImpossible(f"Shopify has no order {order.external_ref} in {order.store}.")
    tracking = shopify_tracking(order)
    notify = publisher.shopify_notify_customer
    open_orders = [item.id for item in fulfillment_orders if item.can_create_fulfillment]
    if open_orders:
        # One fulfillment per fulfillment order (each belongs to one location, and Shopify
        # fulfils only one location's at a time). A fulfillment order an earlier attempt
        # fulfilled is closed by now, so a re-run fulfils only what is left.
        created = []
        for fulfillment_order_id in open_orders:
            created.append(
                client.fulfillment_create(
                    fulfillment_order_ids=[fulfillment_order_id],
                    tracking=tracking,
                    notify_customer=notify,
                )
            )
            # Shopify has it. Dying before the row says so is what looking first covers.
            fault_point("postback_sent_before_recorded")
        return " ".join(created)
    done = [
        fulfillment
        for fulfillment_order in fulfillment_orders
        for fulfillment in fulfillment_order.fulfillments
        if fulfillment.status == "SUCCESS"
    ]
    if tracking is None:
        if done:
            return done[-1].id  # fulfilled in Shopify already; no tracking to add
        raise PostbackImpossible(_nothing_to_fulfil(order, fulfillment_orders))
    ours = [fulfillment.id for fulfillment in done if tracking.number in fulfillment.numbers]
    if ours:
        return " ".join(ours)  # an earlier attempt got through
    untracked = [fulfillment for fulfillment in done if not fulfillment.numbers]
    if untracked:
        return client.tracking_update(
            fulfillment_id=untracked[-1].id, tracking=tracking, notify_customer=notify
        )
    if done:
        numbers = ", ".join(number for item in done for number in item.numbers)
        raise PostbackImpossible(
            f"Shopify order {order.external_ref} is already fulfilled with tracking {numbers}; "
            "it was left as it is."
        )
    raise PostbackImpossible(_nothing_to_fulfil(order, fulfillment_orders))


def _nothing_to_fulfil(order: Order, fulfillment_orders: list[FulfillmentOrder]) -> str:
    statuses = ", ".join(sorted({item.status for item in fulfillment_orders})) or "none"
    return (
        f"No fulfillment order of Shopify order {order.external_ref} can be fulfilled "
        f"(their statuses: {statuses})."
    )


# A post-back still unfinished this long after it was due, with no task queued or running
# for it, is queued again by the sweep.
STRANDED_AFTER = timedelta(minutes=10)


def postbacks_requeue_stranded() -> int:
    """Queue `postback_send` again for every pending or retrying post-back that nothing will
    send (due more than STRANDED_AFTER ago, no run queued or running: its task lost with a
    database restored from a backup, say); returns how many. Each is re-checked in its own
    transaction; should a lost task turn up after all, Shopify is asked what it has before
    anything is created, so it is sent once."""
    from pressrun.carts.tasks import postback_send
    from pressrun.core.tasks import ids_without_pending_run

    due_before = _now() - STRANDED_AFTER
    unfinished = CartPostback.objects.filter(
        state__in=[PostbackState.PENDING, PostbackState.RETRYING]
    ).filter(
        Q(next_attempt_at__lt=due_before)
        | Q(next_attempt_at__isnull=True, updated_at__lt=due_before)
    )
    attempts_of = dict(unfinished.order_by("id").values_list("id", "attempts"))
    requeued = 0
    for postback_id in ids_without_pending_run(
        postback_send, "postback_id", list(attempts_of), few=False
    ):
        attempts = attempts_of[postback_id]
        with transaction.atomic():
            still = CartPostback.objects.filter(
                id=postback_id, state__in=[PostbackState.PENDING, PostbackState.RETRYING]
            ).update(updated_at=_now())
            if still:
                postback_send.enqueue(postback_id=postback_id, attempt=max(attempts, 1))
                requeued += 1
                logger.warning("post-back %s: unfinished with no task; queued again", postback_id)
    return requeued


def postback_summary(postback: CartPostback) -> str:
    """What the publisher reads of a post-back: "Tracking sent to Shopify at …",
    "Failed: …; retrying at …", "Not supported by SamCart's API…"."""
    cart = Cart(postback.cart).label
    if postback.state == PostbackState.SENT and postback.sent_at:
        what = "Tracking" if postback.tracking_id else "Shipment"
        return f"{what} sent to {cart} at {postback.sent_at:%Y-%m-%d %H:%M} UTC."
    if postback.state == PostbackState.RETRYING:
        when = (
            f"{postback.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
            if postback.next_attempt_at
            else "soon"
        )
        return (
            f"Failed: {postback.last_error} Retrying at {when} "
            f"(attempt {postback.attempts + 1} of {settings.CART_POSTBACK_ATTEMPTS})."
        )
    if postback.state == PostbackState.GAVE_UP:
        return f"Not sent to {cart}: {postback.last_error}"
    if postback.state == PostbackState.NOT_SUPPORTED:
        return postback.last_error or f"Not supported by {cart}'s API."
    return f"Waiting to be sent to {cart}."
