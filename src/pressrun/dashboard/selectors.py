"""Reads for the dashboard pages. Every function takes the publisher and reads only its rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.carts.models import (
    CartOrderLine,
    CartPostback,
    InboundDelivery,
    Outcome,
    PostbackState,
)
from pressrun.catalog.models import Project
from pressrun.core.money import ZERO
from pressrun.orders.models import Mode, Order, OrderStatus
from pressrun.warehouses.models import WarehouseConnection, WarehouseOrder, WarehouseOrderState
from pressrun.webhooks.models import TEST_EVENT_TYPE, DeliveryStatus, WebhookDelivery

CHART_DAYS = 30
# How long a cart post-back that gave up stays under "Needs attention" (as long as a webhook
# that gave up is kept); the order's page shows it for good.
POSTBACK_ATTENTION_DAYS = 30


@dataclass(frozen=True)
class DayCount:
    day: date
    orders: int


def orders_per_day(*, publisher: Publisher, days: int = CHART_DAYS) -> list[DayCount]:
    """Production orders placed on each of the last `days` days (UTC), today last; days
    without orders count 0."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    counts = dict(
        Order.objects.filter(publisher=publisher, mode=Mode.PROD, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(orders=Count("id"))
        .values_list("day", "orders")
    )
    every_day = [first + timedelta(days=offset) for offset in range(days)]
    return [DayCount(day=day, orders=counts.get(day, 0)) for day in every_day]


def recent_orders(*, publisher: Publisher, limit: int = 10) -> list[Order]:
    return list(Order.objects.filter(publisher=publisher).order_by("-created_at", "-id")[:limit])


def failed_deliveries(*, publisher: Publisher) -> QuerySet[InboundDelivery]:
    """Failed deliveries that need attention: not dismissed by the publisher, newest first."""
    return InboundDelivery.objects.filter(
        publisher=publisher, outcome=Outcome.FAILED, dismissed_at__isnull=True
    ).order_by("-received_at", "-id")


def error_orders(*, publisher: Publisher) -> QuerySet[Order]:
    """Orders stopped by an address problem, waiting for a correction."""
    return Order.objects.filter(publisher=publisher, status=OrderStatus.ERROR).order_by(
        "-created_at", "-id"
    )


def failed_webhooks(*, publisher: Publisher) -> QuerySet[WebhookDelivery]:
    """Webhooks given up while the publisher's webhooks are on, newest first: Send again
    (once the endpoint answers) or turning webhooks off takes them off the list; they are
    deleted with the log after 30 days. Test events are not counted (their answer is shown
    where they are sent)."""
    return (
        WebhookDelivery.objects.filter(
            publisher=publisher,
            status=DeliveryStatus.FAILED,
            publisher__webhook_endpoint__enabled=True,
        )
        .exclude(event_type=TEST_EVENT_TYPE)
        .order_by("-gave_up_at", "-id")
    )


def postbacks_given_up(*, publisher: Publisher) -> QuerySet[CartPostback]:
    """Shipments whose tracking could not be sent to the cart (the post-back gave up) in the
    last POSTBACK_ATTENTION_DAYS, newest first: pressrun's orders and the packages of the
    publisher's warehouses. Send again (the order's page, the warehouse's orders page)
    starts over."""
    since = timezone.now() - timedelta(days=POSTBACK_ATTENTION_DAYS)
    return (
        CartPostback.objects.filter(
            Q(order__publisher=publisher) | Q(warehouse_shipment__order__publisher=publisher),
            state=PostbackState.GAVE_UP,
            updated_at__gte=since,
        )
        .select_related("order", "warehouse_shipment__order__connection")
        .order_by("-updated_at", "-id")
    )


def recent_deliveries(*, publisher: Publisher, limit: int = 20) -> list[InboundDelivery]:
    return list(
        InboundDelivery.objects.filter(publisher=publisher)
        .defer("body", "headers")
        .prefetch_related("orders", "warehouse_orders")
        .order_by("-received_at", "-id")[:limit]
    )


def warehouse_connections(*, publisher: Publisher) -> list[WarehouseConnection]:
    """The publisher's own warehouse connections, in the order they were added."""
    return list(WarehouseConnection.objects.filter(publisher=publisher).order_by("id"))


def delivery_warehouse_orders(*, delivery: InboundDelivery) -> list[WarehouseOrder]:
    """The warehouse orders a delivery's lines went to, with their connection and lines."""
    return list(
        delivery.warehouse_orders.select_related("connection")
        .prefetch_related("lines")
        .order_by("id")
    )


def delivery_lines(*, delivery: InboundDelivery) -> list[CartOrderLine]:
    """Each line of the delivery's cart order and where it went (none before routing)."""
    if not delivery.external_key:
        return []
    return list(
        CartOrderLine.objects.filter(
            cart_order__publisher_id=delivery.publisher_id,
            cart_order__cart=delivery.cart,
            cart_order__external_key=delivery.external_key,
        )
        .select_related("warehouse_order__connection")
        .order_by("id")
    )


WAREHOUSE_ORDERS_PAGE_SIZE = 50


def warehouse_orders(
    *, connection: WarehouseConnection, state: str = ""
) -> QuerySet[WarehouseOrder]:
    """A connection's warehouse orders (optionally in one state), newest first, with their
    lines, the shipments the warehouse reported, the deliveries they came from and their
    push with its attempts (a pushing warehouse's)."""
    found = WarehouseOrder.objects.filter(connection=connection)
    if state:
        found = found.filter(state=state)
    return found.prefetch_related(
        "lines", "shipments", "inbound_deliveries", "push", "push__attempts"
    ).order_by("-created_at", "-id")


def warehouse_orders_in_error(*, publisher: Publisher) -> QuerySet[WarehouseOrder]:
    """The publisher's warehouse orders stopped in error, last changed first."""
    return (
        WarehouseOrder.objects.filter(publisher=publisher, state=WarehouseOrderState.ERROR)
        .select_related("connection")
        .order_by("-updated_at", "-id")
    )


def warehouse_order_counts(*, connection: WarehouseConnection) -> dict[str, int]:
    """How many of the connection's orders are in each state."""
    rows = (
        WarehouseOrder.objects.filter(connection=connection)
        .values_list("state")
        .annotate(count=Count("id"))
        .order_by()
    )
    return dict(rows)


def active_projects(*, publisher: Publisher) -> QuerySet[Project]:
    return Project.objects.filter(publisher=publisher, is_active=True).order_by("id")


def ledger_entries(*, publisher: Publisher) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(publisher=publisher).order_by("-created_at", "-id")


@dataclass(frozen=True)
class LedgerTotals:
    payments: Decimal
    order_charges: Decimal
    status_calls: Decimal
    adjustments: Decimal
    order_refunds: Decimal
    # What Stripe took back from card payments (refunds, disputes) net of disputes won: ≤ 0.
    card_reversals: Decimal


# The ledger kinds of money Stripe took back from a card payment, or returned.
CARD_REVERSAL_KINDS = ("payment_refund", "payment_dispute", "dispute_reinstated")


def ledger_totals(*, publisher: Publisher) -> LedgerTotals:
    """The sum of each kind of ledger entry over the account's life."""
    sums = dict(
        LedgerEntry.objects.filter(publisher=publisher)
        .values("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    return LedgerTotals(
        payments=sums.get("payment") or ZERO,
        order_charges=sums.get("order_charge") or ZERO,
        status_calls=sums.get("status_call") or ZERO,
        adjustments=sums.get("adjustment") or ZERO,
        order_refunds=sums.get("order_refund") or ZERO,
        card_reversals=sum((sums.get(kind) or ZERO for kind in CARD_REVERSAL_KINDS), ZERO),
    )
