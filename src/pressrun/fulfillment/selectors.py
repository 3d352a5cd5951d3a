"""Reads of the physical state, with the postage-window rule applied.

The window rule for readers: a waiting order whose postage window has ended
(`address_changes_until <= now`) is ready, whether or not the window task has recorded it
yet. Every reader that asks "may this be made or shipped?" or "what state is it in?" comes
here: the floor queue and the shipping export filter with `ready_q` / `ready_orders`, pages
show `effective_state`, and ShipStation's LastModified is `fulfillment_last_modified` (or
the `with_fulfillment_last_modified` annotation), which moves at the window's end even
before the task runs.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from pressrun.fulfillment.states import FULFILLMENT_TABLE
from pressrun.orders.models import FulfillmentState, Mode, Order

S = FulfillmentState


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def ready_q(*, now: datetime | None = None) -> Q:
    """Orders that may be made or shipped at `now`: ready, or waiting with the postage
    window over. (Only paid production orders have a fulfillment state.)"""
    return Q(fulfillment_state=S.READY) | Q(
        fulfillment_state=S.WAITING, address_changes_until__lte=_now(now)
    )


def state_q(state: str, *, now: datetime | None = None) -> Q:
    """Orders whose effective physical state (`effective_state`) is `state` at `now`."""
    if state == S.READY:
        return ready_q(now=now)
    if state == S.WAITING:
        return Q(fulfillment_state=S.WAITING, address_changes_until__gt=_now(now))
    if state not in FULFILLMENT_TABLE:
        raise ValueError(f"{state!r} is not a fulfillment state")
    return Q(fulfillment_state=state)


def ready_orders(*, now: datetime | None = None) -> QuerySet[Order]:
    """Every order that may be made or shipped now (any publisher), oldest placed first:
    the floor queue's and the shipping export's starting point. Never HOLD or test orders,
    never one whose window is open, in address error, shipped or cancelled."""
    return Order.objects.filter(ready_q(now=now), mode=Mode.PROD).order_by("created_at", "id")


def window_has_ended(order: Order, *, now: datetime | None = None) -> bool:
    """Whether the order's postage window is over (no window: always)."""
    deadline = order.address_changes_until
    return deadline is None or deadline <= _now(now)


def effective_state(order: Order, *, now: datetime | None = None) -> str:
    """The order's physical state as every reader must see it: waiting with its window over
    is ready. "" for HOLD and test orders."""
    if order.fulfillment_state == S.WAITING and window_has_ended(order, now=now):
        return S.READY
    return order.fulfillment_state


def fulfillment_last_modified(order: Order, *, now: datetime | None = None) -> datetime | None:
    """When the order's physical state last changed, as ShipStation's LastModified: the
    stored `fulfillment_updated_at`, or, for a waiting order whose window is over, the
    window's end when that is later (it became ready then, even if the window task has not
    run yet; the task records that same time, so the value does not move again). None for
    HOLD and test orders."""
    updated = order.fulfillment_updated_at
    deadline = order.address_changes_until
    if order.fulfillment_state == S.WAITING and deadline is not None and deadline <= _now(now):
        return max(updated, deadline) if updated else deadline
    return updated


def with_effective_state(
    orders: QuerySet[Order], *, now: datetime | None = None
) -> QuerySet[Order]:
    """`orders` annotated with `effective_fulfillment_state` (see `effective_state`)."""
    return orders.annotate(
        effective_fulfillment_state=Case(
            When(
                Q(fulfillment_state=S.WAITING, address_changes_until__lte=_now(now)),
                then=Value(S.READY.value),
            ),
            default=F("fulfillment_state"),
        )
    )


def with_fulfillment_last_modified(
    orders: QuerySet[Order], *, now: datetime | None = None
) -> QuerySet[Order]:
    """`orders` annotated with `fulfillment_last_modified` (see the function of that name),
    so a date window can filter and order on it in the database."""
    return orders.annotate(
        fulfillment_last_modified=Case(
            When(
                Q(
                    fulfillment_state=S.WAITING,
                    address_changes_until__lte=_now(now),
                    fulfillment_updated_at__isnull=False,
                ),
                then=Greatest("fulfillment_updated_at", "address_changes_until"),
            ),
            When(
                Q(fulfillment_state=S.WAITING, address_changes_until__lte=_now(now)),
                then=F("address_changes_until"),
            ),
            default=F("fulfillment_updated_at"),
        )
    )
