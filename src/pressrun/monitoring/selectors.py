"""The numbers /readyz and /metrics report, read from the database when asked.

Counting rows at scrape time rather than counting events in each process makes every number
exact however many server processes, workers and machines there are, and it survives
restarts. Each read is one aggregate query: the orders', the cart deliveries' and the emails'
read their whole table (a few groups come back: about a second for a million orders on SQLite,
so scrape every 30 to 60 s), the task queue's only the queued rows (django-tasks-db's partial
index), the workers' a handful of heartbeat rows. Nothing here costs intake a statement.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, Count, F, Max, Min, Q, Sum, When
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from pressrun.carts.models import Cart, InboundDelivery, Outcome
from pressrun.core.models import WorkerHeartbeat
from pressrun.core.selectors import live_workers
from pressrun.notifications.models import EmailStatus, OutgoingEmail
from pressrun.orders.models import (
    Mode,
    Order,
    OrderDeletion,
    OrderEvent,
    OrderStatus,
    Source,
)


@dataclass(frozen=True)
class OrderCounts:
    # (channel, mode) -> orders ever placed: those that exist and those their publisher
    # deleted (`OrderDeletion`), so the count never goes down.
    placed: dict[tuple[str, str], int]
    hold_count: int
    hold_value: Decimal


def order_counts() -> OrderCounts:
    """Orders placed by channel (`Order.source`) and mode, and the HOLD orders' count and
    total cost, in one pass over the orders (about a second for a million on SQLite; grouping
    by status as well, with a sum per group, took twice as long)."""
    # Every channel and mode, those with no order yet at 0: a series exists from the start.
    placed: Counter[tuple[str, str]] = Counter(
        {(source, mode): 0 for source in Source.values for mode in Mode.values}
    )
    hold_count, hold_value = 0, Decimal("0.00")
    on_hold = Q(status=OrderStatus.HOLD)
    groups = (
        Order.objects.order_by()
        .values_list("source", "mode")
        .annotate(
            orders=Count("id"),
            held=Count("id", filter=on_hold),
            held_value=Sum("total_cost", filter=on_hold),
        )
    )
    for source, mode, orders, held, held_value in groups:
        placed[(source, mode)] += orders
        hold_count += held
        hold_value += held_value or Decimal("0.00")
    deleted = OrderDeletion.objects.order_by().values_list("source", "mode").annotate(Count("id"))
    for source, mode, orders in deleted:
        placed[(source, mode)] += orders
    return OrderCounts(placed=dict(placed), hold_count=hold_count, hold_value=hold_value)


@dataclass(frozen=True)
class TaskQueue:
    due: int  # queued tasks whose time to run has come: waiting for a worker
    scheduled: int  # queued to run later (retries after a backoff, the periodic tasks)
    # Placed orders the worker has not relayed to their follow-ups yet (`orders.relay`): work
    # waiting for a worker as much as a due task is.
    unrelayed_orders: int
    # How long the longest-waiting due task or unrelayed order has waited; 0 if none.
    oldest_due_wait_seconds: float


def task_queue(*, now: datetime) -> TaskQueue:
    """The queued (READY) tasks: how many are due and how long the oldest has waited since it
    became due (its `run_after`, or when it was enqueued if it had none); and the placed
    orders waiting for the worker's relay, since they were placed."""
    no_run_after = get_date_max()  # django-tasks-db's "run as soon as possible"
    due = Q(run_after=no_run_after) | Q(run_after__lte=now)
    due_since = Case(When(run_after=no_run_after, then=F("enqueued_at")), default=F("run_after"))
    queued = DBTaskResult.objects.filter(status=TaskResultStatus.READY).aggregate(
        total=Count("id"),
        due=Count("id", filter=due),
        oldest_due_since=Min(due_since, filter=due),
    )
    unrelayed = OrderEvent.objects.filter(relay_pending=True).aggregate(
        count=Count("id"), oldest=Min("at")
    )
    waiting_since = [at for at in (queued["oldest_due_since"], unrelayed["oldest"]) if at]
    wait = max((now - min(waiting_since)).total_seconds(), 0.0) if waiting_since else 0.0
    return TaskQueue(
        due=queued["due"],
        scheduled=queued["total"] - queued["due"],
        unrelayed_orders=unrelayed["count"],
        oldest_due_wait_seconds=wait,
    )


@dataclass(frozen=True)
class Workers:
    alive: int  # `pressrun worker` processes with a fresh heartbeat (`live_workers`)
    last_heartbeat_age_seconds: float | None  # of the freshest heartbeat; None: none at all


def workers(*, now: datetime) -> Workers:
    last_seen: datetime | None = WorkerHeartbeat.objects.aggregate(last=Max("last_seen"))["last"]
    return Workers(
        alive=live_workers(now=now).count(),
        last_heartbeat_age_seconds=(
            max((now - last_seen).total_seconds(), 0.0) if last_seen is not None else None
        ),
    )


def cart_delivery_counts() -> dict[tuple[str, str], int]:
    """(cart, outcome) -> the cart deliveries now in that outcome (pending ones included);
    every cart and outcome, at 0 when none."""
    counts = {(cart, outcome): 0 for cart in Cart.values for outcome in Outcome.values}
    groups = InboundDelivery.objects.order_by().values_list("cart", "outcome").annotate(Count("id"))
    counts.update({(cart, outcome): deliveries for cart, outcome, deliveries in groups})
    return counts


def email_counts() -> dict[str, int]:
    """status -> the emails now in it: queued, sending, sent, failed (0 when none)."""
    counts = dict.fromkeys(EmailStatus.values, 0)
    counts.update(OutgoingEmail.objects.order_by().values_list("status").annotate(Count("id")))
    return counts
