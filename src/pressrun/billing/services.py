"""Money movements: payments, order charges, releasing HOLD orders, status-call metering.

The balance on `Publisher` and the ledger always change together, in one transaction, and the
balance only ever changes through a conditional `UPDATE ... SET balance = balance - x` so two
concurrent charges can never both spend the same money.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Round
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry, LedgerKind, StatusCallHour
from pressrun.core.errors import DomainError
from pressrun.core.events import publish
from pressrun.core.money import format_money, is_whole_cents, to_money
from pressrun.core.prepared import (
    CompiledUpdate,
    InsertTemplate,
    PreparedInsert,
    PreparedUpdate,
    RowAsRead,
    prepare_insert,
    raise_if_required,
    rows_unchanged_require,
    statement_cursor,
    unchanged_columns,
)
from pressrun.orders.events import OrderPaid
from pressrun.orders.models import Order, OrderStatus
from pressrun.orders.status import order_enter_fulfillment, record_transition

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


def balance_debit_prepare(*, publisher_id: int, amount: Decimal) -> PreparedUpdate:
    """`balance_debit_if_covered`, compiled now to run later inside the transaction (intake
    compiles before it begins): its `execute()` returns 1 when the balance covered `amount`
    and was debited, 0 (and no change) otherwise."""
    return _balance_debit.prepare(publisher_id=publisher_id, amount=amount, minus_amount=-amount)


# `balance_debit_if_covered`'s UPDATE, compiled once per process (core.prepared): building and
# compiling it costs ten times running it, on every order.
_balance_debit = CompiledUpdate(
    lambda publisher_id, amount, minus_amount: (
        Publisher.objects.filter(id=publisher_id, balance__gte=amount),
        {"balance": _balance_plus(minus_amount)},
    ),
    publisher_id=int,
    amount=Decimal,
    minus_amount=Decimal,
)


def ledger_order_charge_entry(
    *, publisher_id: int, order_id: int, amount: Decimal, at: datetime
) -> LedgerEntry:
    """The ledger entry of a debit of `amount` made for an order at `at`, unsaved: the same
    row `ledger_record_order_charge` saves, for a caller that inserts it itself in the
    debit's transaction (intake, which may pass `core.prepared.PENDING_ID` as the id)."""
    return LedgerEntry(
        publisher_id=publisher_id,
        kind=LedgerKind.ORDER_CHARGE,
        amount=-amount,
        order_id=order_id,
        description=f"Order {order_id}",
        created_at=at,
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


# The largest single payment or adjustment; anything larger is a typing mistake.
MAX_LEDGER_AMOUNT = Decimal("9999999.99")


def publisher_lock_balance(*, publisher_id: int) -> None:
    """Lock the publisher's row until the end of the current transaction.

    The first lock of every change to a balance or to the cost of a HOLD order, taken
    before any order's row: releasing HOLD orders locks the publisher's row, then the
    orders' rows oldest first, so a change that locked an order first and the publisher
    second could deadlock with it. (SQLite has no row locks: it serializes writers.)
    """
    list(Publisher.objects.select_for_update().filter(id=publisher_id).values_list("id"))


def _ledger_add(
    *,
    publisher_id: int,
    kind: str,
    amount: Decimal,
    description: str,
    actor: str,
    release: bool = True,
) -> CreditResult:
    """Change the balance by `amount` with its ledger line, in one transaction; then, with
    `release`, pay the HOLD orders the balance now covers (a debit releases nothing)."""
    with transaction.atomic():
        publisher_lock_balance(publisher_id=publisher_id)
        Publisher.objects.filter(id=publisher_id).update(balance=_balance_plus(amount))
        entry = LedgerEntry.objects.create(
            publisher_id=publisher_id,
            kind=kind,
            amount=amount,
            description=description,
            created_at=timezone.now(),
        )
        released = order_release_holds(publisher_id=publisher_id, actor=actor) if release else []
        balance = Publisher.objects.values_list("balance", flat=True).get(id=publisher_id)
    return CreditResult(entry=entry, balance=balance, released=released)


def ledger_credit(
    *, publisher_id: int, amount: Decimal, description: str, actor: str
) -> CreditResult:
    """Record a payment and release the HOLD orders the new balance covers, oldest first,
    in one transaction. `amount` must be whole cents from 0.01 to MAX_LEDGER_AMOUNT
    (CreditInvalid otherwise, and nothing is written)."""
    if not is_whole_cents(amount) or amount <= 0 or amount > MAX_LEDGER_AMOUNT:
        raise CreditInvalid(
            "The amount must be a positive number of dollars and cents, such as 100.00, "
            f"up to {format_money(MAX_LEDGER_AMOUNT)}."
        )
    return _ledger_add(
        publisher_id=publisher_id,
        kind=LedgerKind.PAYMENT,
        amount=to_money(amount),
        description=description.strip()[:300] or "Payment",
        actor=actor,
    )


def ledger_adjust(*, publisher_id: int, amount: Decimal, reason: str, actor: str) -> CreditResult:
    """An operator's correction of the balance: positive (a goodwill credit, a charge
    reversed) or negative (a refund of unused credit paid back to the publisher, a payment
    reversed by the bank). Written as an ADJUSTMENT with the reason, and HOLD orders the new
    balance covers are released, all in one transaction. A negative adjustment may take the
    balance below zero (money the publisher owes). Raises CreditInvalid (nothing written) for
    a zero or malformed amount or a blank reason."""
    reason = " ".join(reason.split())
    if not is_whole_cents(amount) or amount == 0 or abs(amount) > MAX_LEDGER_AMOUNT:
        raise CreditInvalid(
            "The adjustment must be a non-zero number of dollars and cents, such as 25.00 or "
            f"-25.00, up to {format_money(MAX_LEDGER_AMOUNT)} either way."
        )
    if not reason:
        raise CreditInvalid("Say why the balance is adjusted; the publisher sees the reason.")
    return _ledger_add(
        publisher_id=publisher_id,
        kind=LedgerKind.ADJUSTMENT,
        amount=to_money(amount),
        description=reason[:300],
        actor=actor,
    )


# What Stripe did to a card payment after it was credited, and which way each moves the
# balance: a refund and a dispute's withdrawal take money back, a won dispute returns it.
CARD_REVERSAL_SIGN = {
    LedgerKind.PAYMENT_REFUND: -1,
    LedgerKind.PAYMENT_DISPUTE: -1,
    LedgerKind.DISPUTE_REINSTATED: 1,
}


def ledger_card_reversal(
    *, publisher_id: int, kind: str, amount: Decimal, description: str, actor: str
) -> CreditResult:
    """Take from the balance what Stripe took back from a card payment (`kind`
    PAYMENT_REFUND or PAYMENT_DISPUTE), or give back what it returned (DISPUTE_REINSTATED):
    `amount` is positive either way, the kind gives the direction. One transaction (joining
    the caller's): the publisher's row locked first, the balance changed, the ledger line.

    A debit may take the balance below zero: the publisher owes it, and new orders wait on
    HOLD (intake pays an order only when the balance covers it) until a payment covers the
    debt and them. A debit releases nothing (a lower balance cannot make a HOLD order
    affordable); a credit releases the HOLD orders it covers, by the one release rule.
    Raises CreditInvalid (nothing written) for another kind or a malformed amount."""
    sign = CARD_REVERSAL_SIGN.get(LedgerKind(kind)) if kind in LedgerKind.values else None
    if sign is None:
        raise CreditInvalid(f"{kind!r} is not a card refund or dispute.")
    if not is_whole_cents(amount) or amount <= 0 or amount > MAX_LEDGER_AMOUNT:
        raise CreditInvalid(
            "The amount must be a positive number of dollars and cents, up to "
            f"{format_money(MAX_LEDGER_AMOUNT)}."
        )
    signed = to_money(amount) * sign
    description = description.strip()[:300] or LedgerKind(kind).label
    return _ledger_add(
        publisher_id=publisher_id,
        kind=kind,
        amount=signed,
        description=description,
        actor=actor,
        release=sign > 0,
    )


def order_release_holds(*, publisher_id: int, actor: str) -> list[Order]:
    """Charge and start the publisher's HOLD orders that the balance covers, oldest first.

    The one release function: every change to a balance (payments, adjustments) or to a
    HOLD order's cost (the publisher's modify, the customer's address fix, a deletion) calls
    it in its own transaction, so afterwards no HOLD order costs less than the balance.
    An order too large for the remaining balance is skipped, not allowed to block smaller
    later ones. Locks the publisher's row, then the HOLD orders' rows oldest first; safe to
    call concurrently and inside a transaction that already holds those locks.
    """
    released: list[Order] = []
    with transaction.atomic():
        # One releaser per publisher at a time (PostgreSQL; SQLite serializes writers anyway).
        publisher_lock_balance(publisher_id=publisher_id)
        holds = (
            Order.objects.select_for_update()
            .filter(publisher_id=publisher_id, status=OrderStatus.HOLD)
            .order_by("created_at", "id")
        )
        for order in holds:
            if not order_charge(order=order):
                continue
            _record_paid(order, actor)
            released.append(order)
    return released


def _record_paid(order: Order, actor: str) -> None:
    """HOLD → PROCESSING for an order just charged: it enters fulfillment (waiting for its
    postage window, or ready when that has passed), with its history event and `OrderPaid`
    (in this transaction, like every domain event)."""
    fields = order_enter_fulfillment(order, now=order.charged_at or timezone.now())
    history = record_transition(
        order=order,
        to_status=OrderStatus.PROCESSING,
        kind="charged",
        message=f"Paid from balance: {format_money(order.total_cost)}.",
        actor=actor,
        extra_fields=("charged_at", *fields),
        from_state="",
    )
    publish(OrderPaid(order=order, actor=actor, history_event_id=history.id))


class PaymentRefused(DomainError):
    """An order cannot be paid from the balance; the message says why."""


def order_pay_from_balance(*, order_id: int, actor: str) -> Order:
    """Charge one HOLD order now (an operator's choice, ahead of older HOLD orders) and enter
    it into fulfillment. Raises Order.DoesNotExist, or PaymentRefused (nothing written) when
    the order is not on HOLD or the balance does not cover it. Paying a paid order again is
    refused, never charged twice (and the ledger's constraint would stop it)."""
    publisher_id = Order.objects.filter(id=order_id).values_list("publisher_id", flat=True).first()
    if publisher_id is None:
        raise Order.DoesNotExist(f"No order {order_id}.")
    with transaction.atomic():
        # The publisher's row before the order's, as releasing HOLD orders takes them.
        publisher_lock_balance(publisher_id=publisher_id)
        order = Order.objects.select_for_update().get(id=order_id)
        if order.status != OrderStatus.HOLD:
            raise PaymentRefused(
                f"Order {order.id} is {order.status}: only HOLD orders wait for payment."
            )
        if not order_charge(order=order):
            raise PaymentRefused(
                f"Order {order.id} is not paid and the balance does not cover "
                f"{format_money(order.total_cost)}."
            )
        _record_paid(order, actor)
    return order


def order_refund(*, order: Order, reason: str, actor: str) -> Decimal:
    """Credit back to the publisher what `order` was charged, once, and release the HOLD
    orders the new balance covers; returns the amount credited (0.00 when the order was
    never charged, or was refunded already: a second refund is a no-op).

    For an order being cancelled (`pressrun.fulfillment.services.fulfillment_move`): call it
    inside that transaction, holding the publisher's row lock and then the order's. The
    ledger allows one refund per order (a unique constraint), so no retry or race can pay
    twice."""
    if order.charged_at is None:
        return Decimal("0.00")
    if LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND).exists():
        return Decimal("0.00")
    amount = to_money(order.total_cost)
    with transaction.atomic():
        publisher_lock_balance(publisher_id=order.publisher_id)
        Publisher.objects.filter(id=order.publisher_id).update(balance=_balance_plus(amount))
        LedgerEntry.objects.create(
            publisher_id=order.publisher_id,
            kind=LedgerKind.ORDER_REFUND,
            amount=amount,
            order=order,
            description=f"Refund of cancelled order {order.id}: {' '.join(reason.split())}"[:300],
            created_at=timezone.now(),
        )
        order_release_holds(publisher_id=order.publisher_id, actor=actor)
    return amount


STATUS_CALL_HOURS_COUNTED = 24
"""The hour of the call and the 23 full hours before it: the 24-hour period of the spec's
"over 1000 times in a 24 hour period", on hourly counters (see `status_call_record`)."""


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _update_can_return() -> bool:
    """Whether the database takes `UPDATE … RETURNING`: PostgreSQL, and SQLite from 3.35
    (the version from which Django also uses RETURNING for inserts)."""
    return bool(connection.features.can_return_columns_from_insert)


# The publisher's calls in the 23 full hours before the call's hour (at most 23 rows of the
# unique index). Parameters: the publisher, the first of those hours, the call's hour.
_EARLIER_CALLS = (
    "(SELECT COALESCE(SUM(earlier.calls), 0) FROM billing_statuscallhour AS earlier "
    "WHERE earlier.publisher_id = %s AND earlier.hour_start >= %s "
    "AND earlier.hour_start < %s)"
)
# Adds the call to its hour's counter, also as a charged call when the calls of the 24 hours
# before it reach the free calls (`calls` on the right-hand side is the count before this
# call). Parameters: _EARLIER_CALLS's, the free calls, the publisher, the call's hour.
_COUNTER_ADD = (
    "UPDATE billing_statuscallhour SET calls = calls + 1, "  # noqa: S608 (constant parts only)
    f"charged = charged + CASE WHEN calls + {_EARLIER_CALLS} >= %s THEN 1 ELSE 0 END "
    "WHERE publisher_id = %s AND hour_start = %s"
)
# The calls of the 24 hours, this one included (`calls` is the count after this call).
# Parameters: _COUNTER_ADD's, then _EARLIER_CALLS's.
_COUNTER_ADD_RETURNING = f"{_COUNTER_ADD} RETURNING calls + {_EARLIER_CALLS}"
# The same read after the UPDATE where it cannot return it. Parameters: _EARLIER_CALLS's,
# the publisher, the call's hour.
_COUNTER_READ = (
    f"SELECT calls + {_EARLIER_CALLS} FROM billing_statuscallhour "  # noqa: S608 (constant parts only)
    "WHERE publisher_id = %s AND hour_start = %s"
)


def _counter_params(*, publisher_id: int, hour_start: datetime) -> tuple[Any, tuple[Any, ...]]:
    """The counter's hour as the database takes it, and `_EARLIER_CALLS`'s parameters."""
    hour, first = _hours_adapted(
        connection.alias, settings.USE_TZ, connection.timezone_name, hour_start
    )
    return hour, (publisher_id, first, hour)


@lru_cache(maxsize=8)
def _hours_adapted(
    alias: str, use_tz: bool, timezone_name: str, hour_start: datetime
) -> tuple[Any, Any]:
    """`hour_start` and the first of the 24 hours counted, as the database `alias` takes
    them (which depends on its time zone and USE_TZ, hence in the key): the same two values
    for every status call of an hour, adapted once (on SQLite made naive and formatted)."""
    adapt = connections[alias].ops.adapt_datetimefield_value
    return adapt(hour_start), adapt(hour_start - timedelta(hours=STATUS_CALL_HOURS_COUNTED - 1))


def _status_call_counter(
    *, publisher_id: int, hour_start: datetime, free: int
) -> Callable[[], int]:
    """The addition of one call to the publisher's counter of `hour_start`, its parameters
    prepared now (before the metering transaction, so as not to hold the write lock for
    that): calling the result inside the transaction adds the call (creating the counter on
    the hour's first call), also as a charged call when it is beyond the `free` calls, and
    returns the calls of the 24 hours (`STATUS_CALL_HOURS_COUNTED`), this one included. The
    counter's row then stays locked until the commit.

    One statement adds the call and sums the 23 earlier hours (they no longer change but
    for a straggler, see `status_call_record`). The UPDATE is conditional on the row
    existing; when it does not, the INSERT races only with the other first calls of the same
    hour, and the unique constraint lets one win. A loser's INSERT fails inside its own
    savepoint (PostgreSQL: after waiting for the winner to commit) and its call is added to
    the winner's row by the same UPDATE. On SQLite the metering transaction holds the write
    lock from its start, so there is no race at all.

    Raw SQL because this runs on every status call, on SQLite under the write lock: one
    `UPDATE … RETURNING` costs a third of the ORM's UPDATE with a CASE plus a SELECT (see
    docs/performance.md, "Status-call metering").
    """
    hour, earlier = _counter_params(publisher_id=publisher_id, hour_start=hour_start)
    statements: tuple[tuple[str, tuple[Any, ...]], ...]
    if _update_can_return():
        statements = ((_COUNTER_ADD_RETURNING, (*earlier, free, publisher_id, hour, *earlier)),)
    else:
        statements = (
            (_COUNTER_ADD, (*earlier, free, publisher_id, hour)),
            (_COUNTER_READ, (*earlier, publisher_id, hour)),
        )

    def add_to_counter() -> int | None:
        with statement_cursor(connection) as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                if cursor.description is None and not cursor.rowcount:
                    return None  # the UPDATE found no counter
            row = cursor.fetchone()
            return None if row is None else int(row[0])

    def count() -> int:
        in_window = add_to_counter()
        if in_window is not None:
            return in_window
        before = _status_calls_earlier(publisher_id=publisher_id, hour_start=hour_start)
        try:
            with transaction.atomic():
                StatusCallHour.objects.create(
                    publisher_id=publisher_id,
                    hour_start=hour_start,
                    calls=1,
                    charged=int(before + 1 > free),
                )
            return before + 1
        except IntegrityError:
            in_window = add_to_counter()
            if in_window is None:  # cannot happen: the row that made the INSERT fail is committed
                raise
            return in_window

    return count


def _status_calls_earlier(*, publisher_id: int, hour_start: datetime) -> int:
    """The publisher's calls in the 23 full hours before `hour_start`, for the hour's first
    call (later calls sum them in the UPDATE). Raw SQL as in `_status_call_counter`."""
    first = hour_start - timedelta(hours=STATUS_CALL_HOURS_COUNTED - 1)
    adapt = connection.ops.adapt_datetimefield_value
    with statement_cursor(connection) as cursor:
        cursor.execute(f"SELECT {_EARLIER_CALLS}", [publisher_id, adapt(first), adapt(hour_start)])
        return int(cursor.fetchone()[0])


# A charged status call's debit, compiled once per process (core.prepared): it runs on every
# charged call, under SQLite's write lock, and building and compiling it cost more than
# running it.
_status_charge_debit = CompiledUpdate(
    lambda publisher_id: (
        Publisher.objects.filter(id=publisher_id),
        {"balance": _balance_plus(-STATUS_CALL_PRICE)},
    ),
    publisher_id=int,
)


# On PostgreSQL the whole metering of a call that finds its hour's counter is one statement
# in autocommit: the counter's UPDATE, the debit and the ledger INSERT as data-modifying CTEs,
# which PostgreSQL runs to completion and commits together. BEGIN, three statements and
# COMMIT were five round trips of a status call's seven (docs/performance.md, "Runs of
# 2026-12-05, fourth round"). The debit and the ledger entry only happen when the count is
# beyond the free calls, as in `status_call_record`'s transaction. The row locks are taken in
# the same order as there: the counter's row, then the publisher's. Parameters:
# _COUNTER_ADD_RETURNING's; then the price, the publisher, the free calls (the debit); then
# the publisher, the kind, the amount, the description's two parts, the time and the free
# calls (the ledger entry).
# Its last part is the final SELECT's first column: the caller adds what else it selects
# (`_status_call_record_in_one`: the rows it requires unchanged) and `FROM counter`.
_PG_METER_IN_ONE = (
    f"WITH counter AS ({_COUNTER_ADD_RETURNING} AS in_window), "  # noqa: S608 (constant parts only)
    f"debit AS (UPDATE {Publisher._meta.db_table} SET balance = ROUND(balance - %s, 2) "
    "WHERE id = %s AND EXISTS (SELECT 1 FROM counter WHERE in_window > %s)), "
    f"charge AS (INSERT INTO {LedgerEntry._meta.db_table} "
    "(publisher_id, kind, amount, description, created_at) "
    "SELECT %s, %s, %s, %s || in_window::text || %s, %s FROM counter WHERE in_window > %s) "
    "SELECT in_window"
)


def _charge_description_parts(free: int) -> tuple[str, str]:
    """A charged call's ledger text before and after its place in the 24 hours' count."""
    return "getOrderStatusByInvoice call ", f" in 24 hours (over {free} free)"


def _charge_description(in_window: int, free: int) -> str:
    before, after = _charge_description_parts(free)
    return f"{before}{in_window}{after}"


def _status_call_record_in_one(
    *, publisher_id: int, now: datetime, free: int, unchanged: Sequence[RowAsRead]
) -> bool | None:
    """`status_call_record` on PostgreSQL as one statement (`_PG_METER_IN_ONE`): whether the
    call was charged, or None when its hour has no counter yet (the hour's first call, which
    `status_call_record`'s transaction inserts) and nothing was written. The statement
    fails (`RowsChanged`, nothing written) unless the `unchanged` rows hold the values read,
    checked as it counts the call."""
    adapt = connection.ops.adapt_datetimefield_value
    hour, earlier = _counter_params(publisher_id=publisher_id, hour_start=_hour_start(now))
    before, after = _charge_description_parts(free)
    required, required_params = unchanged_columns(unchanged)
    params = (
        *(*earlier, free, publisher_id, hour, *earlier),
        *(STATUS_CALL_PRICE, publisher_id, free),
        *(publisher_id, LedgerKind.STATUS_CALL.value, -STATUS_CALL_PRICE, before, after),
        *(adapt(now), free),
        *required_params,
    )
    sql = _PG_METER_IN_ONE + "".join(f", {column}" for column in required) + " FROM counter"
    try:
        with statement_cursor(connection) as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except DatabaseError as error:
        raise_if_required(error)
        raise
    return None if row is None else int(row[0]) > free


def status_call_record(*, publisher_id: int, unchanged: Sequence[RowAsRead] = ()) -> bool:
    """Count one status call; charge it when it is beyond the free calls of the last 24 hours.

    Returns True when this call was charged. With `unchanged` (the publisher's row its
    credentials were checked against, maybe kept in memory), nothing is counted unless each
    row still holds the values read: else `RowsChanged`, with nothing written.

    The calls are counted per publisher and clock hour (`StatusCallHour`), and "the last 24
    hours" of a call made at 14:25 are the hours 15:00 yesterday to 14:59 today — the call's
    own hour up to and including it, and the 23 full hours before. That period is never
    longer than 24 hours, so a charged call always is one of over 1,000 calls within 24 hours,
    as the spec's rule says. It is up to an hour shorter than the 24 hours ending at the call
    (at 14:25 the calls of 14:25 to 14:59 yesterday are no longer counted), so a publisher
    can be charged for fewer calls than a per-call rolling count would charge, never for
    more.

    Inside the transaction, one statement adds the call to its hour's counter and sums the
    earlier hours with it (at most 23 rows of the unique index). The counter's row stays
    locked until the commit, so concurrent calls of one publisher each see a distinct count
    (on SQLite the write lock serializes them anyway). On PostgreSQL, a call of the previous
    hour that commits after that statement began is missed by this call's count only: the
    count can be low by such a straggler, never high.
    """
    now = timezone.now()
    free = settings.STATUS_CALLS_FREE_PER_DAY
    if connection.vendor == "postgresql":
        charged = _status_call_record_in_one(
            publisher_id=publisher_id, now=now, free=free, unchanged=unchanged
        )
        if charged is not None:
            return charged
    count = _status_call_counter(publisher_id=publisher_id, hour_start=_hour_start(now), free=free)
    debit = _status_charge_debit.prepare(publisher_id=publisher_id)
    with transaction.atomic():
        # On SQLite the write lock is held from BEGIN; on PostgreSQL a statement's failure
        # fails the transaction, which writes nothing.
        rows_unchanged_require(unchanged)
        in_window = count()
        if in_window <= free:
            return False
        debit.execute()
        _status_charge_entry(
            publisher_id=publisher_id, description=_charge_description(in_window, free), now=now
        ).execute()
    return True


# A charged status call's ledger entry differs from the process's first one only in these
# columns (core.prepared.InsertTemplate): on SQLite it is prepared under the write lock on
# every charged call. With the hours adapted once (`_hours_adapted`), a charged call's
# metering took 0.150 to 0.159 ms in-process instead of 0.167 to 0.179 (docs/performance.md,
# seventeenth round).
_STATUS_CHARGE_VARYING = ("publisher_id", "description", "created_at")
_status_charge_templates: dict[str, InsertTemplate] = {}  # per database alias


def _status_charge_entry(*, publisher_id: int, description: str, now: datetime) -> PreparedInsert:
    template = _status_charge_templates.get(connection.alias)
    if template is not None:
        return template.prepare(publisher_id=publisher_id, description=description, created_at=now)
    insert = prepare_insert(
        LedgerEntry(
            publisher_id=publisher_id,
            kind=LedgerKind.STATUS_CALL,
            amount=-STATUS_CALL_PRICE,
            description=description,
            created_at=now,
        ),
        using=connection.alias,
    )
    _status_charge_templates[connection.alias] = InsertTemplate(insert, _STATUS_CHARGE_VARYING)
    return insert


STATUS_CALL_RETENTION = timedelta(days=7)


def status_calls_delete_old(*, now: datetime) -> int:
    """Delete the hourly status-call counters of hours that ended over a week ago (metering
    counts the last 24 hours; the rest is kept for investigating charges); returns how many.
    Run by the hourly housekeeping (registered in `BillingConfig`)."""
    return StatusCallHour.objects.filter(
        hour_start__lt=now - STATUS_CALL_RETENTION - timedelta(hours=1)
    ).delete()[0]
