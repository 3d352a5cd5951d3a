"""The placed orders' relay: what follows a new order outside intake's transaction.

An order's notification and its address check are tasks the worker runs later anyway, so
intake's transaction does not write their task rows (two rows, a quarter of the write lock
an order holds on SQLite: docs/performance.md). It writes its `placed` history event with
`relay_pending` set, and this relay, called by every `pressrun worker` between its tasks
(`core.tasks.register_relay`), hands each such order to the layers above by
publishing `PlacedOrderRelayed`, whose subscribers queue those tasks, and clears the flag,
all in one transaction (what it reads, and the task rows, are prepared before it, as intake
prepares its write). The placed event is the outbox: it commits with the order or not at
all, and its follow-ups are queued exactly once, by whichever worker claims it (`_claim`). A
worker that dies mid-relay leaves its batch pending for the next one (docs/emails.md,
"Delivery guarantees").

Subscribers see the order as it was placed: HOLD, TEST, or paid at once (the `charged`
event intake wrote with the same time), whatever happened to it since, so a HOLD order paid
before its relay has its address check queued once, by the payment (`OrderPaid`). An order
deleted before its relay has lost its events with it: nothing follows it."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import QuerySet

from pressrun.core.events import Publication, publication_prepare
from pressrun.orders.events import PlacedOrderRelayed
from pressrun.orders.models import Order, OrderEvent, OrderStatus

# Orders handed by one relay transaction: enough to amortize it under a burst, few enough
# that it holds SQLite's write lock only a few milliseconds against the web processes.
RELAY_BATCH = 20
# An order whose follow-ups failed to be queued is tried again after this long (in this
# process), so that it does not hold back the orders placed after it meanwhile.
RETRY_FAILED_SECONDS = 60.0

logger = logging.getLogger(__name__)
# The placed events whose relay failed in this process, with when (time.monotonic()).
_failed_at: dict[int, float] = {}


def placed_orders_relay(*, limit: int = RELAY_BATCH) -> int:
    """Hand up to `limit` placed orders not yet relayed to `PlacedOrderRelayed`'s
    subscribers, oldest first, and mark them relayed; returns how many were handed.

    Should a batch fail, its orders are relayed one by one: each that fails alone (logged
    with its traceback) stays unrelayed, is left aside for `RETRY_FAILED_SECONDS` and does
    not stop the others; `/readyz` names the orders left waiting."""
    pending = OrderEvent.objects.filter(relay_pending=True)
    now = time.monotonic()
    for event_id in [e for e, at in _failed_at.items() if now - at >= RETRY_FAILED_SECONDS]:
        del _failed_at[event_id]
    if _failed_at:
        pending = pending.exclude(id__in=list(_failed_at))
    try:
        return _relay(pending, limit=limit)
    except Exception as exc:
        if limit == 1 or _of_the_database(exc):  # nothing to tell apart; for the next poll
            raise
    handed = 0
    for event_id in list(pending.order_by("id").values_list("id", flat=True)[:limit]):
        try:
            handed += _relay(pending.filter(id=event_id), limit=1)
        except Exception as exc:
            if _of_the_database(exc):
                raise
            _set_aside(event_id)
    return handed


def _of_the_database(exc: Exception) -> bool:
    """A failure of the database or the connection (busy, gone, a deadlock), not of an
    order: the whole batch is tried again at the next poll, none set aside."""
    return isinstance(exc, (OperationalError, InterfaceError))


def _relay(pending: QuerySet[OrderEvent], *, limit: int) -> int:
    # Read, and the follow-ups' rows prepared, before the transaction, as intake prepares its
    # write (`core.events.publication_prepare`): on SQLite the transaction holds the
    # installation's write lock against the web processes' orders, so it only claims the
    # events and writes what was prepared. With nothing pending (an idle worker asks before
    # every poll) the read of the partial index is all it costs, and no transaction begins.
    placed = list(pending.order_by("id").values_list("id", "order_id", "at", "to_status")[:limit])
    if not placed:
        return 0
    orders = Order.objects.select_related("publisher").in_bulk([p[1] for p in placed])
    paid_at_once = _paid_at_once(placed)
    publications: dict[int, Publication] = {}
    for event_id, order_id, _, placed_status in placed:
        order = orders.get(order_id)
        if order is None:  # deleted since: its events went with it
            continue
        order.status, order.fulfillment_state = placed_status, ""
        if order_id in paid_at_once:
            order.status = OrderStatus.PROCESSING
            order.fulfillment_state = paid_at_once[order_id]
        publications[event_id] = publication_prepare(PlacedOrderRelayed(order=order))
    if not publications:
        return 0
    with transaction.atomic():
        claimed = _claim(sorted(publications))
        for event_id in claimed:
            publications[event_id].publish()
    return len(claimed)


def _claim(event_ids: list[int]) -> list[int]:
    """Of `event_ids`, those still waiting for the relay, marked relayed; in the caller's
    transaction. Raw SQL, for `RETURNING` (SQLite 3.35+, PostgreSQL): another worker may have
    relayed some since they were read (on PostgreSQL this statement waits for that worker's
    transaction, then leaves out what it relayed; a deleted order's events are gone)."""
    placeholders = ", ".join(["%s"] * len(event_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE "orders_orderevent" SET "relay_pending" = NULL WHERE "relay_pending" '  # noqa: S608 (constant parts only)
            f'AND "id" IN ({placeholders}) RETURNING "id"',
            event_ids,
        )
        return sorted(event_id for (event_id,) in cursor.fetchall())


def _set_aside(event_id: int) -> None:
    logger.exception(
        "The follow-ups of the order placed with history event %s could not be queued; "
        "tried again in %.0f s",
        event_id,
        RETRY_FAILED_SECONDS,
    )
    _failed_at[event_id] = time.monotonic()


def _paid_at_once(placed: list[tuple[int, int, datetime, str]]) -> dict[int, str]:
    """Of the placed orders, those intake charged as it placed them, with the fulfillment
    state they entered: intake writes their `charged` event at the placed event's time; a
    later payment writes its own at its own time."""
    placed_at = {order_id: at for _, order_id, at, _ in placed}
    charged = OrderEvent.objects.filter(order_id__in=list(placed_at), kind="charged").values_list(
        "order_id", "at", "to_state"
    )
    return {order_id: state for order_id, at, state in charged if placed_at[order_id] == at}
