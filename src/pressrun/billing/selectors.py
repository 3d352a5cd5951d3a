"""Reads about money: the publisher's HOLD orders, what releasing them needs, and what a
payment would release."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pressrun.accounts.models import Publisher
from pressrun.core.money import ZERO, to_money
from pressrun.orders.models import Order, OrderStatus


@dataclass(frozen=True)
class HoldRow:
    """A HOLD order and the payment that releases it together with every older HOLD order."""

    order: Order
    payment_needed: Decimal


@dataclass(frozen=True)
class HoldSummary:
    balance: Decimal
    count: int
    total: Decimal
    rows: list[HoldRow]

    @property
    def shortfall(self) -> Decimal:
        """The smallest payment that releases every HOLD order."""
        return max(self.total - self.balance, ZERO)


def hold_summary(*, publisher: Publisher) -> HoldSummary:
    """The publisher's HOLD orders, oldest first (the order payments release them in).

    `payment_needed` for the k-th order is what its total and every older one's exceed the
    balance by: a payment of that much lets `billing.services.order_release_holds`, which
    walks the same order, pay each of them in turn.
    """
    balance = Publisher.objects.values_list("balance", flat=True).get(id=publisher.id)
    orders = list(
        Order.objects.filter(publisher=publisher, status=OrderStatus.HOLD).order_by(
            "created_at", "id"
        )
    )
    rows: list[HoldRow] = []
    running = ZERO
    for order in orders:
        running += order.total_cost
        rows.append(HoldRow(order=order, payment_needed=max(running - balance, ZERO)))
    return HoldSummary(balance=balance, count=len(orders), total=running, rows=rows)


def holds_released_by(*, summary: HoldSummary, payment: Decimal) -> list[Order]:
    """Which HOLD orders a payment of `payment` would release now: the rule of
    `order_release_holds` (oldest first; an order the money cannot cover is skipped, and a
    later, smaller one may still be paid)."""
    remaining = summary.balance + to_money(payment)
    released = []
    for row in summary.rows:
        if row.order.total_cost <= remaining:
            remaining -= row.order.total_cost
            released.append(row.order)
    return released
