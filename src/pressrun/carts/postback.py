"""Posting each shipment back to the cart its order came from: its tracking, its carrier and
the cart lines it covers.

A cart order may be made in two places (carts/routing.py): pressrun's own order, and a
warehouse order per warehouse of the publisher. Each package is one shipment, and each
shipment is one `CartPostback` row, written with its task in the transaction that recorded
the package (if the package commits, its post-back is on its way; if not, neither exists):

- **pressrun's order ships** (`OrderShipped`, published by fulfillment_move):
  `on_order_shipped`. It covers the cart lines routed to that order, each in full. When the
  order is all of the cart order (every cart line went to it, or the order is older than
  routing), `lines` stays empty and the whole order is fulfilled, as it always was.
- **a warehouse reports a package** (`WarehouseShipmentRecorded`, published by
  warehouses/shipments.py): `on_warehouse_shipment_recorded`. It covers the cart lines
  whose warehouse lines it carries, with quantities (`shipment_cart_lines`). A cart line
  sent as a product counts what the package carries of it. A **bundle**'s cart line counts
  in whole bundles: after each package, a bundle line has shipped as many bundles as every
  one of its components allows (`min(component shipped // component per bundle)`), and the
  package covers the bundles it completed. A package that completes no cart line (say the
  first of two boxes of a bundle) has nothing the cart could be told and gets no post-back;
  the package that completes the bundle carries it.

The row is the state the publisher sees:

- **pending** → the task has not run yet;
- **sent** (`sent_at`, `remote_id`: Shopify's fulfillments) — "tracking sent to Shopify at …";
- **retrying** (`last_error`, `next_attempt_at`) — "failed: …, retrying at …": the cart could
  not be reached, answered 5xx or 429 (its Retry-After is waited out), or throttled us;
  retried with exponential backoff (CART_POSTBACK_ATTEMPTS, CART_POSTBACK_RETRY_BASE_SECONDS);
- **gave up** (`last_error`) — the cart refused (a wrong token, a missing scope, an order it
  does not know) or the attempts ran out; `postback_retry` (the dashboard's and the admin's
  "Send again") starts over;
- **not supported** — the cart's API has no way to mark an order shipped (SamCart,
  1ShoppingCart: docs/carts/*.md); nothing is sent.

A warehouse order shipped in full is **closed** (warehouses' `warehouse_order_close`) once
every post-back of its packages is finished: sent, or not supported (a cart without a
shipping API has nothing more to receive, so the order is as done as it will be). One that
gave up keeps the order partially shipped until "Send again" gets it through.

An operator's **correction** of a shipped order's tracking (`ShipmentCorrected`):
`on_shipment_corrected`. A post-back still to be sent reads the order's tracking when it
runs; one already sent with another tracking number or carrier goes back to pending. A run
that finds the order's tracking changed since an earlier run reached Shopify puts the
corrected tracking on the fulfillments that run made (by the ids the row recorded, or by the
number it sent, should it have died before recording them) with
`fulfillmentTrackingInfoUpdate`, skipping any that carry it already; with none of them left
(cancelled in Shopify) it fulfils what is open, as a first run would. A run that committed
its "sent" while a correction was made is queued again by `_finish`. One that gave up stays
so ("Send again" sends the tracking as it is then). A correction that removes the tracking
number (a letter) is not sent: Shopify keeps the number it has.

Shopify, idempotent by looking first: the task reads the order's fulfillment orders, their
line items (with what is left to fulfil of each) and their fulfillments (with tracking and
line items).

- A post-back of the whole order fulfils each fulfillment order still open with
  `fulfillmentCreate` (trackingInfo {number, url, company}, notifyCustomer as the publisher
  chose), one call per fulfillment order; one that an earlier run fulfilled (say a worker
  killed after Shopify answered but before the row was saved) is closed by now and is not
  fulfilled again. With none left open, a fulfillment carrying this tracking number means
  the work is done. An order already fulfilled in Shopify without tracking (the
  "orders/fulfilled" topic) gets the tracking added to that fulfillment.
- A post-back of some lines names them: `lineItemsByFulfillmentOrder: [{fulfillmentOrderId,
  fulfillmentOrderLineItems: [{id, quantity}]}]`, one call per fulfillment order that holds
  them, and only the quantities this shipment covers, so the rest of the order stays
  unfulfilled (a partial fulfillment). What Shopify's fulfillments carrying this shipment's
  tracking number (for a shipment without tracking: fulfillments without any) already hold
  of these lines is counted as sent first, so a re-run creates only what is missing, never
  a second fulfillment of the same package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from pressrun.carts.models import (
    Cart,
    CartOrder,
    CartOrderLine,
    CartPostback,
    LineDestination,
    PostbackState,
)
from pressrun.carts.shopify.client import (
    SHOPIFY_COMPANY,
    Fulfillment,
    FulfillmentOrder,
    ShopifyAdminClient,
    ShopifyRefused,
    ShopifyUnavailable,
    TrackingInfo,
    line_item_gid,
)
from pressrun.core.faults import fault_point
from pressrun.core.tasks import backoff_seconds
from pressrun.orders.events import OrderShipped, ShipmentCorrected
from pressrun.orders.models import Mode, Order, Source
from pressrun.orders.tracking import carrier_for
from pressrun.warehouses.events import WarehouseShipmentRecorded
from pressrun.warehouses.models import WarehouseOrder, WarehouseOrderLine, WarehouseShipment
from pressrun.warehouses.shipments import warehouse_order_close

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


def on_shipment_corrected(event: ShipmentCorrected) -> None:
    """The subscriber (registered in CartsConfig.ready): send the corrected tracking of an
    order whose post-back already went out, in the correction's transaction."""
    postback_correct(order=event.order)


def on_warehouse_shipment_recorded(event: WarehouseShipmentRecorded) -> None:
    """The subscriber (registered in CartsConfig.ready): queue the post-back of a package
    a publisher's warehouse shipped, in the transaction that recorded it."""
    postback_queue_shipment(shipment=event.shipment)


def _order_lines(order: Order) -> tuple[CartOrder | None, list[dict[str, object]]]:
    """The cart order pressrun's order was made from and the cart lines routed to it, each
    in full; no lines when the order is all of its cart order (or older than routing)."""
    rows = list(
        CartOrderLine.objects.filter(order=order, destination=LineDestination.PROJECT)
        .select_related("cart_order")
        .order_by("id")
    )
    if not rows:
        return None, []
    cart_order = rows[0].cart_order
    others = CartOrderLine.objects.filter(cart_order=cart_order).exclude(
        id__in=[row.id for row in rows]
    )
    if not others.exists():
        return cart_order, []
    return cart_order, [{"key": row.key, "quantity": row.quantity or 0} for row in rows]


def shipment_cart_lines(shipment: WarehouseShipment) -> list[dict[str, object]]:
    """The cart lines a warehouse's package covers, with quantities (the module docstring
    has the rule): what every cart line of its order had shipped, in whole cart units (whole
    bundles for a bundle), with the packages recorded before it and with it too, the
    difference being the package's share. Reads only recorded packages, so it gives the same
    answer whenever it is asked."""
    order_lines = list(shipment.order.lines.order_by("id"))
    before: dict[int, int] = {}
    through: dict[int, int] = {}
    packages = WarehouseShipment.objects.filter(order_id=shipment.order_id, id__lte=shipment.id)
    for package in packages:
        for item in package.lines:
            line_id, quantity = int(item["line"]), int(item["quantity"])
            through[line_id] = through.get(line_id, 0) + quantity
            if package.id != shipment.id:
                before[line_id] = before.get(line_id, 0) + quantity
    ordered = dict(
        CartOrderLine.objects.filter(
            warehouse_order_id=shipment.order_id,
            key__in={line.line_key for line in order_lines},
        ).values_list("key", "quantity")
    )
    by_key: dict[str, list[WarehouseOrderLine]] = {}
    for line in order_lines:
        by_key.setdefault(line.line_key, []).append(line)
    covered: list[dict[str, object]] = []
    for key, components in by_key.items():
        units = ordered.get(key) or 0
        if units < 1:
            continue
        # Every component's quantity is the cart line's units times its count per unit.
        per_unit = [max(line.quantity // units, 1) for line in components]
        after_units = _whole_units([through.get(line.id, 0) for line in components], per_unit)
        before_units = _whole_units([before.get(line.id, 0) for line in components], per_unit)
        if after_units > before_units:
            covered.append({"key": key, "quantity": min(after_units, units) - before_units})
    return covered


def _whole_units(shipped: list[int], per_unit: list[int]) -> int:
    """How many whole cart units (bundles) the components' shipped quantities make."""
    return min(done // per for done, per in zip(shipped, per_unit, strict=True))


def _write(
    *,
    cart: str,
    values: dict[str, object],
    lookup: dict[str, object],
) -> CartPostback:
    """Write the post-back row (once: `lookup` names its shipment) and queue its task, or
    mark it not supported for a cart without a shipping API."""
    from pressrun.carts.tasks import postback_send

    now = _now()
    postback, created = CartPostback.objects.get_or_create(
        **lookup, defaults={"cart": cart, "created_at": now, "updated_at": now, **values}
    )
    if not created:
        return postback
    if cart in NOT_SUPPORTED:
        postback.state = PostbackState.NOT_SUPPORTED
        postback.last_error = NOT_SUPPORTED[Cart(cart)]
        postback.save(update_fields=["state", "last_error"])
        return postback
    postback_send.enqueue(postback_id=postback.id)
    return postback


def postback_queue(*, order: Order) -> CartPostback | None:
    """Write the order's post-back row and queue its task (a cart whose API cannot take a
    shipment gets the row, "not supported", and no task). None for an order from no cart or
    a test order. Safe to call twice: an order has one post-back."""
    cart = CART_OF_SOURCE.get(Source(order.source)) if order.source in Source.values else None
    if cart is None or order.mode == Mode.TEST:
        return None
    with transaction.atomic():
        cart_order, lines = _order_lines(order)
        return _write(
            cart=cart,
            lookup={"order": order},
            values={
                "tracking_id": order.tracking_id,
                "carrier": order.carrier,
                "cart_order": cart_order,
                "lines": lines,
            },
        )


def postback_queue_shipment(*, shipment: WarehouseShipment) -> CartPostback | None:
    """Write the post-back of a warehouse's package and queue its task (not supported: the
    row alone), then close the warehouse order if that was all it waited for. None for a
    package that completes no cart line, or of an order from no cart or a test order. Safe
    to call twice: a package has one post-back."""
    order = shipment.order
    if order.test or order.cart not in Cart.values:
        return None
    with transaction.atomic():
        lines = shipment_cart_lines(shipment)
        if not lines:
            return None
        cart_order = CartOrder.objects.filter(
            publisher_id=order.publisher_id, cart=order.cart, external_key=order.external_key
        ).first()
        postback = _write(
            cart=order.cart,
            lookup={"warehouse_shipment": shipment},
            values={
                "tracking_id": shipment.tracking_number,
                "carrier": shipment.carrier,
                "cart_order": cart_order,
                "lines": lines,
            },
        )
        if postback.state == PostbackState.NOT_SUPPORTED:
            _close_if_posted(order.id)
    return postback


def _close_if_posted(warehouse_order_id: int) -> bool:
    """Close the warehouse order when it shipped in full and the post-back of every package
    of it is finished: sent, or not supported. Call in a transaction; the order's row lock
    is taken first, so of two post-backs finishing at once the second sees the first."""
    order = WarehouseOrder.objects.select_for_update().get(id=warehouse_order_id)
    if order.shipped_at is None:
        return False
    waiting = (
        CartPostback.objects.filter(warehouse_shipment__order_id=order.id)
        .exclude(state__in=[PostbackState.SENT, PostbackState.NOT_SUPPORTED])
        .exists()
    )
    if waiting:
        return False
    return warehouse_order_close(order_id=order.id)


def postback_correct(*, order: Order) -> CartPostback | None:
    """Send the order's post-back again after an operator corrected its tracking, when it
    went out with another tracking number or carrier: back to pending, attempts from 1, its
    task queued; its run corrects the fulfillments it made (`_send_correction`). Returns the
    post-back, or None when none needs it (none sent yet: it will send the tracking as it
    is then; none at all; the same tracking; no tracking number now). Called with the
    order's row locked (the correction's transaction), as `_finish` takes it."""
    if not order.tracking_id:
        return None
    with transaction.atomic():
        postback = (
            CartPostback.objects.select_for_update()
            .filter(order=order, state=PostbackState.SENT)
            .first()
        )
        if postback is None or not _tracking_changed(postback, order):
            return None
        _send_again(CartPostback.objects.filter(id=postback.id), postback.id, last_error="")
    return postback


def _send_again(rows: QuerySet[CartPostback], postback_id: int, **also: object) -> bool:
    """Inside the caller's transaction: the post-back in `rows` (filtered to the state it may
    be sent again from) back to pending, attempts from 1 (`also` set too), and its task
    queued; False, nothing changed, when `rows` has none."""
    from pressrun.carts.tasks import postback_send

    changed = rows.update(
        state=PostbackState.PENDING, attempts=0, next_attempt_at=None, updated_at=_now(), **also
    )
    if changed:
        postback_send.enqueue(postback_id=postback_id)
    return bool(changed)


def _tracking_changed(postback: CartPostback, order: Order) -> bool:
    """Whether the order's tracking is other than what the post-back holds (sent, or to be
    sent)."""
    return _other_tracking(order, tracking_id=postback.tracking_id, carrier=postback.carrier)


def _other_tracking(order: Order, *, tracking_id: str, carrier: str) -> bool:
    """Whether the order's tracking number differs from `tracking_id`, or its carrier from
    `carrier` where one was recorded (post-backs of orders written before carriers were
    recorded for them have none)."""
    return order.tracking_id != tracking_id or (bool(carrier) and order.carrier != carrier)


def postback_retry(*, postback_id: int) -> bool:
    """Start a post-back that gave up over ("Send again"): back to pending, attempts from 1,
    its task queued. Returns False (nothing changed) unless it had given up."""
    with transaction.atomic():
        return _send_again(
            CartPostback.objects.filter(id=postback_id, state=PostbackState.GAVE_UP), postback_id
        )


@dataclass(frozen=True)
class AttemptResult:
    state: str
    delay_seconds: float | None = None  # when retrying


def postback_attempt(*, postback_id: int, attempt: int) -> AttemptResult:
    """One attempt at sending the post-back (the task's body). A finished post-back (sent,
    given up, not supported) is left alone, so a repeated or stale task changes nothing."""
    postback = (
        CartPostback.objects.select_related(
            "order__publisher", "warehouse_shipment__order__publisher", "cart_order"
        )
        .filter(id=postback_id)
        .first()
    )
    if postback is None:
        return AttemptResult("missing")
    if postback.state in FINISHED_STATES:
        return AttemptResult(postback.state)
    started: dict[str, object] = {"attempts": attempt, "updated_at": _now()}
    if postback.order is not None and not postback.remote_id:
        # What this run sends, on the row before Shopify has it: should the run die after
        # Shopify took it, a later correction's run finds that fulfillment by this number.
        started |= {"tracking_id": postback.order.tracking_id, "carrier": postback.order.carrier}
    CartPostback.objects.filter(id=postback_id).update(**started)
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
    sent = postback.order
    if state == PostbackState.SENT:
        values |= {"sent_at": now, "remote_id": remote_id[:200]}
        if sent is not None:
            # What was sent: the order's tracking as this run read it (an operator's
            # correction made before the post-back went out is what Shopify got).
            values |= {"tracking_id": sent.tracking_id, "carrier": sent.carrier}
    else:
        logger.warning("post-back %s (%s): %s", postback.id, _shipment_name(postback), error)
    with transaction.atomic():
        shipment = postback.warehouse_shipment
        if shipment is not None:
            # The warehouse order's row lock before the row: see _close_if_posted.
            WarehouseOrder.objects.select_for_update().filter(id=shipment.order_id).first()
        again = False
        if sent is not None and state == PostbackState.SENT:
            # The order's row lock before the row, as a correction takes them: a correction
            # that committed while this run was sending found the row not yet sent and left
            # it to this run, which sent what it had read. Then it is sent again.
            now_order = Order.objects.select_for_update().filter(id=sent.id).first()
            if now_order is not None and now_order.tracking_id:
                again = _other_tracking(
                    now_order, tracking_id=sent.tracking_id, carrier=sent.carrier
                )
            if again:
                values |= {"state": PostbackState.PENDING, "attempts": 0}
        finished = (
            CartPostback.objects.filter(id=postback.id)
            .exclude(state__in=FINISHED_STATES)
            .update(**values)
        )
        if finished and again:
            from pressrun.carts.tasks import postback_send

            postback_send.enqueue(postback_id=postback.id)
        if finished and shipment is not None and state == PostbackState.SENT:
            _close_if_posted(shipment.order_id)


def _shipment_name(postback: CartPostback) -> str:
    if postback.order_id is not None:
        return f"order {postback.order_id}"
    return f"warehouse shipment {postback.warehouse_shipment_id}"


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
    """The order's trackingInfo for Shopify (None for a shipment without tracking)."""
    return tracking_info(number=order.tracking_id, carrier=order.carrier)


def tracking_info(*, number: str, carrier: str) -> TrackingInfo | None:
    """A shipment's trackingInfo for Shopify (None without a tracking number): the number,
    the company in Shopify's spelling (the carrier's own text for one pressrun does not
    know) and the tracking page when known."""
    if not number:
        return None
    known = carrier_for(carrier)
    if known is None:
        return TrackingInfo(number=number, company=carrier.strip(), url="")
    return TrackingInfo(
        number=number,
        company=SHOPIFY_COMPANY.get(known.name, known.name),
        url=known.url(number),
    )


@dataclass(frozen=True)
class _Target:
    """Where a post-back goes and what it says."""

    store: str
    external_ref: str
    tracking: TrackingInfo | None
    publisher_token: str
    notify_customer: bool


def _target(postback: CartPostback) -> _Target:
    if postback.order is not None:
        order = postback.order
        return _Target(
            store=order.store,
            external_ref=order.external_ref,
            tracking=shopify_tracking(order),
            publisher_token=order.publisher.shopify_admin_token,
            notify_customer=order.publisher.shopify_notify_customer,
        )
    shipment = postback.warehouse_shipment
    assert shipment is not None  # the row's check constraint: one of the two
    request = postback.cart_order.request if postback.cart_order is not None else {}
    publisher = shipment.order.publisher
    return _Target(
        store=str(request.get("store") or ""),
        external_ref=str(request.get("external_ref") or ""),
        tracking=tracking_info(number=shipment.tracking_number, carrier=shipment.carrier),
        publisher_token=publisher.shopify_admin_token,
        notify_customer=publisher.shopify_notify_customer,
    )


def _send(postback: CartPostback) -> str:
    if postback.cart != Cart.SHOPIFY:
        raise PostbackImpossible(NOT_SUPPORTED.get(Cart(postback.cart), "Not supported."))
    target = _target(postback)
    if not target.store or not target.external_ref:
        raise PostbackImpossible("The order does not say which Shopify store and order it is.")
    if not target.publisher_token:
        raise PostbackImpossible(
            "No Shopify Admin API access token is saved: add it under Settings → Cart "
            "credentials, then send again."
        )
    client = ShopifyAdminClient(shop_domain=target.store, access_token=target.publisher_token)
    fulfillment_orders = client.order_fulfillment(order_id=target.external_ref)
    if fulfillment_orders is None:
        raise PostbackImpossible(f"Shopify has no order {target.external_ref} in {target.store}.")
    earlier = _earlier_fulfillments(postback, fulfillment_orders)
    if earlier:
        return _send_correction(earlier, client, target)
    if postback.lines:
        return _send_lines(postback, client, fulfillment_orders, target)
    return _send_whole(client, fulfillment_orders, target)


def _earlier_fulfillments(
    postback: CartPostback, fulfillment_orders: list[FulfillmentOrder]
) -> list[Fulfillment]:
    """When the order's tracking changed since an earlier run of this post-back reached
    Shopify (an operator's correction), the fulfillments that run made: by the ids the row
    recorded; for a run that died before recording them, by the number it sent (the row
    holds it from the run's start). Empty otherwise, or when none of them is left
    (cancelled in Shopify)."""
    order = postback.order
    if order is None or not order.tracking_id or not _tracking_changed(postback, order):
        return []
    made = set(postback.remote_id.split())

    def earlier(fulfillment: Fulfillment) -> bool:
        if made:
            return fulfillment.id in made
        return bool(postback.tracking_id) and postback.tracking_id in fulfillment.numbers

    return [
        fulfillment
        for fulfillment_order in fulfillment_orders
        for fulfillment in fulfillment_order.fulfillments
        if fulfillment.status == "SUCCESS" and earlier(fulfillment)
    ]


def _send_correction(
    earlier: list[Fulfillment], client: ShopifyAdminClient, target: _Target
) -> str:
    """Put the corrected tracking on the fulfillments an earlier run made; one that carries
    it already (an earlier correction's run got through) is left as it is."""
    tracking = target.tracking
    assert tracking is not None  # the order has a tracking number (_earlier_fulfillments)
    for fulfillment in earlier:
        if (tracking.number, tracking.company) not in fulfillment.tracking:
            client.tracking_update(
                fulfillment_id=fulfillment.id,
                tracking=tracking,
                notify_customer=target.notify_customer,
            )
    return " ".join(fulfillment.id for fulfillment in earlier)


def _send_whole(
    client: ShopifyAdminClient, fulfillment_orders: list[FulfillmentOrder], target: _Target
) -> str:
    """Fulfil the whole order (the post-back of pressrun's order that is all of it)."""
    tracking = target.tracking
    notify = target.notify_customer
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
        raise PostbackImpossible(_nothing_to_fulfil(target.external_ref, fulfillment_orders))
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
            f"Shopify order {target.external_ref} is already fulfilled with tracking "
            f"{numbers}; it was left as it is."
        )
    raise PostbackImpossible(_nothing_to_fulfil(target.external_ref, fulfillment_orders))


def _wanted(
    postback: CartPostback, fulfillment_orders: list[FulfillmentOrder], target: _Target
) -> dict[str, int]:
    """{Shopify line item gid: quantity} of the cart lines the post-back covers. A cart line
    is named by its line item id (a key "id:<n>"); one without (read by SKU) by the SKU of
    the fulfillment order line items. PostbackImpossible for a line Shopify does not list."""
    by_sku = {
        item.sku: item.line_item_id
        for fulfillment_order in fulfillment_orders
        for item in fulfillment_order.line_items
        if item.sku
    }
    listed = {
        item.line_item_id
        for fulfillment_order in fulfillment_orders
        for item in fulfillment_order.line_items
    }
    wanted: dict[str, int] = {}
    for line in postback.lines:
        key = str(line.get("key", ""))
        quantity = int(str(line.get("quantity") or 0))
        if key.startswith("id:"):
            gid = line_item_gid(key[3:])
        else:
            ref = key.partition(":")[2].rstrip("'").partition("#")[0]
            gid = by_sku.get(ref, "")
        if not gid or gid not in listed:
            raise PostbackImpossible(
                f"Shopify order {target.external_ref} has no line item for the cart line "
                f"{key[:80]!r}: nothing was sent."
            )
        if quantity > 0:
            wanted[gid] = wanted.get(gid, 0) + quantity
    return wanted


def _send_lines(
    postback: CartPostback,
    client: ShopifyAdminClient,
    fulfillment_orders: list[FulfillmentOrder],
    target: _Target,
) -> str:
    """Fulfil the post-back's lines and quantities only (see the module docstring)."""
    tracking = target.tracking
    wanted = _wanted(postback, fulfillment_orders, target)
    # Looking first: this shipment's fulfillments already in Shopify (an earlier attempt
    # that got through) hold part or all of it.
    number = tracking.number if tracking is not None else ""
    ours: dict[str, tuple[tuple[str, int], ...]] = {
        fulfillment.id: fulfillment.line_items
        for fulfillment_order in fulfillment_orders
        for fulfillment in fulfillment_order.fulfillments
        if fulfillment.status == "SUCCESS"
        and (number in fulfillment.numbers if number else not fulfillment.numbers)
        and any(gid in wanted for gid, _ in fulfillment.line_items)
    }
    left = dict(wanted)
    for line_items in ours.values():
        for gid, quantity in line_items:
            if gid in left:
                left[gid] = max(left[gid] - quantity, 0)
    # What is left, from the fulfillment orders that can still be fulfilled, each line item
    # up to what Shopify has left of it.
    plan: list[tuple[str, dict[str, int]]] = []
    for fulfillment_order in fulfillment_orders:
        if not fulfillment_order.can_create_fulfillment:
            continue
        take: dict[str, int] = {}
        for item in fulfillment_order.line_items:
            quantity = min(left.get(item.line_item_id, 0), item.remaining_quantity)
            if quantity > 0:
                take[item.id] = quantity
                left[item.line_item_id] -= quantity
        if take:
            plan.append((fulfillment_order.id, take))
    created = list(ours)
    for fulfillment_order_id, take in plan:
        created.append(
            client.fulfillment_create(
                fulfillment_order_ids=[fulfillment_order_id],
                tracking=tracking,
                notify_customer=target.notify_customer,
                line_items=take,
            )
        )
        # Shopify has it. Dying before the row says so is what looking first covers.
        fault_point("postback_sent_before_recorded")
    if created:
        short = sum(left.values())
        if short:
            # Shopify had fewer of some line left than the package holds: fulfilled there
            # by hand before it arrived. Sent what it could take; kept in the log.
            logger.warning(
                "post-back %s: %d item(s) were already fulfilled in Shopify", postback.id, short
            )
        return " ".join(created)
    untracked = [
        fulfillment
        for fulfillment_order in fulfillment_orders
        for fulfillment in fulfillment_order.fulfillments
        if fulfillment.status == "SUCCESS"
        and not fulfillment.numbers
        and any(gid in wanted for gid, _ in fulfillment.line_items)
    ]
    if tracking is not None and untracked:
        # Fulfilled in Shopify by hand without tracking: the package's tracking is added.
        return client.tracking_update(
            fulfillment_id=untracked[-1].id,
            tracking=tracking,
            notify_customer=target.notify_customer,
        )
    raise PostbackImpossible(
        f"The lines of this shipment are already fulfilled in Shopify order "
        f"{target.external_ref} (or cannot be fulfilled there); nothing was sent."
    )


def _nothing_to_fulfil(external_ref: str, fulfillment_orders: list[FulfillmentOrder]) -> str:
    statuses = ", ".join(sorted({item.status for item in fulfillment_orders})) or "none"
    return (
        f"No fulfillment order of Shopify order {external_ref} can be fulfilled "
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
