"""Payments release HOLD orders oldest first; balances and the ledger always agree."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.billing.services import CreditInvalid, ledger_credit, order_release_holds
from pressrun.orders.models import Order, OrderEvent, OrderStatus
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place

pytestmark = pytest.mark.django_db


def place(
    publisher: Any, project: Any, quantity: int = 1, *, email: str = "", **kwargs: Any
) -> Order:
    request = OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id=project.id, quantity=quantity),),
        recipient=RecipientRequest(
            name="Ann Buyer",
            address="1 Main St",
            city="Austin",
            state="TX",
            postal_code="78701",
            email=email,
        ),
        mode=kwargs.pop("mode", "prod"),
        source="gateway",
        **kwargs,
    )
    return order_place(request=request, publisher=publisher)


def assert_ledger_matches_balance(publisher: Any) -> None:
    publisher.refresh_from_db()
    total = LedgerEntry.objects.filter(publisher=publisher).aggregate(s=Sum("amount"))["s"]
    assert publisher.balance == (total or Decimal("0.00"))


def test_credit_releases_holds_oldest_first_and_skips_what_does_not_fit(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    project = make_project(publisher, price=Decimal("10.00"), packaging="jewel-case")
    # standard+tracking domestic: 4.50 first unit + 0.75 each additional
    small_1 = place(publisher, project)  # 10 + 4.50 = 14.50
    big = place(publisher, project, quantity=5)  # 50 + 4.50 + 3.00 = 57.50
    small_2 = place(publisher, project)  # 14.50
    assert [o.status for o in (small_1, big, small_2)] == [OrderStatus.HOLD] * 3
    assert [o.total_cost for o in (small_1, big, small_2)] == [
        Decimal("14.50"),
        Decimal("57.50"),
        Decimal("14.50"),
    ]

    result = ledger_credit(
        publisher_id=publisher.id, amount=Decimal("30.00"), description="Check 1", actor="t"
    )

    assert [o.id for o in result.released] == [small_1.id, small_2.id]
    assert result.balance == Decimal("1.00")
    statuses = dict(Order.objects.values_list("id", "status"))
    assert statuses == {
        small_1.id: OrderStatus.PROCESSING,
        big.id: OrderStatus.HOLD,
        small_2.id: OrderStatus.PROCESSING,
    }
    assert LedgerEntry.objects.filter(kind=LedgerKind.ORDER_CHARGE).count() == 2
    assert OrderEvent.objects.filter(order=small_1, kind="charged").count() == 1
    assert_ledger_matches_balance(publisher)


def test_order_is_charged_at_once_when_balance_covers_it(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="20.00")
    project = make_project(publisher, price=Decimal("4.50"))  # sleeve, 1 unit, US: standard 1.50
    order = place(publisher, project)
    assert order.status == OrderStatus.PROCESSING
    assert order.total_cost == Decimal("6.00")
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("14.00")
    entry = LedgerEntry.objects.get(kind=LedgerKind.ORDER_CHARGE)
    assert (entry.amount, entry.order_id) == (Decimal("-6.00"), order.id)
    assert_ledger_matches_balance(publisher)


def test_test_orders_are_never_charged_or_released(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    order = place(publisher, project, mode="test")
    assert order.status == OrderStatus.TEST
    assert order_release_holds(publisher_id=publisher.id, actor="t") == []
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("50.00")
    assert not LedgerEntry.objects.filter(kind=LedgerKind.ORDER_CHARGE).exists()


@pytest.mark.parametrize("amount", ["0", "-5", "NaN", "Infinity", "10000000"])
def test_invalid_credit_amounts_are_refused(make_publisher: Any, amount: str) -> None:
    publisher = make_publisher()
    with pytest.raises(CreditInvalid):
        ledger_credit(publisher_id=publisher.id, amount=Decimal(amount), description="", actor="t")
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_release_each_hold_once(
    make_publisher: Any, make_project: Any, settings: Any
) -> None:
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
        "file:memorydb"
    ):
        pytest.skip("in-memory SQLite cannot be shared by threads; the e2e tests cover SQLite")
    publisher = make_publisher()
    project = make_project(publisher, price=Decimal("4.50"))
    orders = [place(publisher, project) for _ in range(6)]  # 6.00 each
    errors: list[BaseException] = []

    def pay() -> None:
        try:
            ledger_credit(
                publisher_id=publisher.id, amount=Decimal("12.00"), description="", actor="t"
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Order.objects.filter(status=OrderStatus.PROCESSING).count() == len(orders)
    assert LedgerEntry.objects.filter(kind=LedgerKind.ORDER_CHARGE).count() == 6
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("0.00")
    assert_ledger_matches_balance(publisher)


def test_cent_amounts_add_up_exactly_in_the_database(
    make_publisher: Any, make_project: Any
) -> None:
    """On SQLite the balance column is binary floating point: without rounding, 2.01 - 0.01
    is 1.9999999999999998 there and a $2.00 order stays on HOLD although it is paid for."""
    publisher = make_publisher()
    project = make_project(publisher)
    small, large = place(publisher, project), place(publisher, project)
    Order.objects.filter(id=small.id).update(total_cost=Decimal("0.01"))
    Order.objects.filter(id=large.id).update(total_cost=Decimal("2.00"))
    result = ledger_credit(
        publisher_id=publisher.id, amount=Decimal("2.01"), description="", actor="t"
    )
    assert [order.id for order in result.released] == [small.id, large.id]
    with connection.cursor() as cursor:
        cursor.execute("SELECT balance FROM accounts_publisher WHERE id = %s", [publisher.id])
        [(raw,)] = cursor.fetchall()
    assert Decimal(str(raw)) == 0
    # Many cent-sized steps never drift either (0.1 + 0.2 != 0.3 in floating point).
    for _ in range(30):
        ledger_credit(publisher_id=publisher.id, amount=Decimal("0.10"), description="", actor="t")
    ledger_credit(publisher_id=publisher.id, amount=Decimal("0.20"), description="", actor="t")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM accounts_publisher WHERE id = %s AND balance = %s",
            [publisher.id, Decimal("3.20")],
        )
        assert cursor.fetchone() == (1,)
    assert_ledger_matches_balance(publisher)
