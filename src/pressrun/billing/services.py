"""Money movements: payments, order charges, releasing HOLD orders, status-call metering.

The balance on `Publisher` and the ledger always change together, in one transaction, and the
balance only ever changes through a conditional `UPDATE ... SET balance = balance - x` so two
concurrent charges can never both spend the same money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Round
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry, LedgerKind, StatusCall
from pressrun.core.errors import DomainError
from pressrun.core.money import format_money, to_money
from pressrun.orders.models import Order, OrderStatus
from pressrun.orders.status import record_transition

STATUS_CALL_PRICE = Decimal("0.01")


class CreditInvalid(DomainError):
    """A payment amount was refused."""


def _balance_plus(amount: Decimal) -> Round:
    """`balance + amount`, rounded to cents in the database.

    PostgreSQL's numeric is exact, but SQLite computes on binary floating point: 2.01 - 0.01
    there is 1.9999999999999998, which then fails `balance >= 2.00` and keeps a paid-for order
    on HOLD. Rounding every stored result keeps the column at the nearest float of an exact
    cent amount, and rounding is monotonic, so `balance >= cost` compares as the decimals do.
    """
    expression: CombinedExpression = F("balance") + amount
    return Round(expression, 2)


def balance_debit_if_covered(*, publisher_id: int, amount: Decimal) -> bool:
    """Take `amount` from the balance if it covers it; False (and no change) otherwise.

    One conditional UPDATE: two concurrent debits can never both spend the same money.
    Call inside the transaction that also records what the money was for.
    """
    return bool(
        Publisher.objects.filter(id=publisher_id, balance__gte=amount).update(
            balance=_balance_plus(-amount)
        )
    )


def ledger_record_order_charge(*, order: Order) -> LedgerEntry:
    """The ledger entry of a debit already made for `order` (sets `order.charged_at`)."""
    now = timezone.now()
    order.charged_at = order.charged_at or now
    return LedgerEntry.objects.create(
        publisher_id=order.publisher_id,
        kind=LedgerKind.ORDER_CHARGE,
        amount=-order.total_cost,
        order=order,
        description=f"Order {order.id}",
        created_at=now,
    )


def order_charge(*, order: Order) -> bool:
    """Charge `order.total_cost` to its publisher if the balance covers it.

    Call inside a transaction, with the order saved. Returns True and records the ledger
    entry and `charged_at` when charged; False (and changes nothing) when the balance is too
    low. Charging an order twice is prevented by a unique constraint on the ledger.
    """
    if order.charged_at is not None:
        return True
    if not balance_debit_if_covered(publisher_id=order.publisher_id, amount=order.total_cost):
        return False
    ledger_record_order_charge(order=order)
    return True


@dataclass(frozen=True)
class CreditResult:
    entry: LedgerEntry
    balance: Decimal
    released: list[Order]


def ledger_credit(
    *, publisher_id: int, amount: Decimal, description: str, actor: str
) -> CreditResult:
    """Record a payment and release the HOLD orders the new balance covers, oldest first."""
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("10000000"):
        raise CreditInvalid("The amount must be a positive number of dollars, such as 100.00.")
    amount = to_money(amount)
    with transaction.atomic():
        Publisher.objects.filter(id=publisher_id).update(balance=_balance_plus(amount))
        entry = LedgerEntry.objects.create(
            publisher_id=publisher_id,
            kind=LedgerKind.PAYMENT,
            amount=amount,
            description=description or "Payment",
            created_at=timezone.now(),
        )
        released = order_release_holds(publisher_id=publisher_id, actor=actor)
        balance = Publisher.objects.values_list("balance", flat=True).get(id=publisher_id)
    return CreditResult(entry=entry, balance=balance, released=released)


def order_release_holds(*, publisher_id: int, actor: str) -> list[Order]:
    """Charge and start the publisher's HOLD orders that the balance covers, oldest first.

    An order too large for the remaining balance is skipped, not allowed to block smaller
    later ones. Safe to call concurrently: each order is charged under its row lock.
    """
    released: list[Order] = []
    with transaction.atomic():
        # One releaser per publisher at a time (PostgreSQL; SQLite serializes writers anyway).
        Publisher.objects.select_for_update().filter(id=publisher_id).first()
        holds = (
            Order.objects.select_for_update()
            .filter(publisher_id=publisher_id, status=OrderStatus.HOLD)
            .order_by("created_at", "id")
        )
        for order in holds:
            if not order_charge(order=order):
                continue
            record_transition(
                order=order,
                to_status=OrderStatus.PROCESSING,
                kind="charged",
                message=f"Paid from balance: {format_money(order.total_cost)}.",
                actor=actor,
                extra_fields=("charged_at",),
            )
            released.append(order)
    return released


def status_call_record(*, publisher_id: int) -> bool:
    """Count one status call; charge it when it is beyond the free calls of the last 24 hours.

    Returns True when this call was charged. The call's place in the window is counted after
    it is written, so concurrent calls each see a distinct count.
    """
    now = timezone.now()
    with transaction.atomic():
        call = StatusCall.objects.create(publisher_id=publisher_id, at=now)
        in_window = StatusCall.objects.filter(
            publisher_id=publisher_id, at__gt=now - timedelta(hours=24), id__lte=call.id
        ).count()
        if in_window <= settings.STATUS_CALLS_FREE_PER_DAY:
            return False
        Publisher.objects.filter(id=publisher_id).update(balance=_balance_plus(-STATUS_CALL_PRICE))
        LedgerEntry.objects.create(
            publisher_id=publisher_id,
            kind=LedgerKind.STATUS_CALL,
            amount=-STATUS_CALL_PRICE,
            description=(
                f"getOrderStatusByInvoice call {in_window} in 24 hours "
                f"(over {settings.STATUS_CALLS_FREE_PER_DAY} free)"
            ),
            created_at=now,
        )
        StatusCall.objects.filter(id=call.id).update(charged=True)
    return True
