"""On PostgreSQL intake's one statement runs on its own, without a transaction around it (no
`BEGIN`, no `COMMIT`), when nothing else has to be in its transaction: no caller's
transaction is open, no five-day duplicate check takes its locks first (an order without an
invoice but with the customer's email) and no subscriber runs after the rows (a webhook
endpoint that takes the order's events). It writes exactly what the transaction writes, and
when the debit decides against the guessed outcome the statement fails and leaves nothing,
and the other outcome is written in a transaction. These tests run without the test's own
transaction around them, as the server runs; on SQLite they show the same rows from its
transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from pressrun.accounts.models import Publisher
from pressrun.orders.models import Order
from pressrun.orders.services import OrderRefused, Refusal
from pressrun.webhooks.models import WebhookEventType
from pressrun.webhooks.services import webhook_endpoint_save
from tests.billing.test_credit_and_holds import place
from tests.orders.test_intake_rows import queued_tasks, rows

pytestmark = pytest.mark.django_db(transaction=True)
TOTAL = Decimal("6.00")  # 4.50 + 1.50 for a letter
ALONE = connection.vendor == "postgresql"


def all_in_transactions(seen: list[tuple[str, bool]]) -> bool:
    return bool(seen) and all(in_transaction for _, in_transaction in seen)


@contextmanager
def writes_seen() -> Iterator[list[tuple[str, bool]]]:
    """The writing statements run meanwhile, each with whether a transaction was open."""
    seen: list[tuple[str, bool]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(("WITH", "INSERT", "UPDATE")):
            seen.append((sql.split(maxsplit=1)[0], not connection.get_autocommit()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def test_a_paid_order_is_one_statement_on_its_own(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="20.00")
    project = make_project(publisher)
    with writes_seen() as seen:
        order = place(publisher, project, invoice="INV-1")
    if ALONE:
        assert seen == [("WITH", False)]
    else:
        assert all_in_transactions(seen)
    assert rows(order) == {
        "order": ("PROCESSING", "prod", "waiting", True, TOTAL),
        "lines": [(True, 1, 1, Decimal("4.50"), "prod")],
        "events": [
            ("placed", "", "HOLD", "", f"prod order from gateway, ${TOTAL}."),
            ("charged", "HOLD", "PROCESSING", "waiting", f"Paid from balance: ${TOTAL}."),
        ],
        "ledger": [("order_charge", -TOTAL, f"Order {order.id}")],
    }
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("20.00") - TOTAL
    assert queued_tasks(order)  # the customer's email at least


def test_held_and_test_orders_on_their_own(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="1.00")
    project = make_project(publisher)
    with writes_seen() as seen:
        held = place(publisher, project, invoice="INV-1")
        test = place(publisher, project, invoice="INV-1", mode="test")
    if ALONE:
        assert seen == [("WITH", False), ("WITH", False)]
    assert rows(held)["order"] == ("HOLD", "prod", "", None, TOTAL)
    assert rows(test)["order"] == ("TEST", "test", "", None, TOTAL)
    assert rows(held)["ledger"] == rows(test)["ledger"] == []
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("1.00")


def test_a_duplicate_on_its_own_writes_nothing(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="100.00")
    project = make_project(publisher)
    first = place(publisher, project, invoice="INV-1")
    before = (Order.objects.count(), Publisher.objects.get(id=publisher.id).balance)
    with pytest.raises(OrderRefused) as caught:
        place(publisher, project, invoice="INV-1")
    assert caught.value.reason == Refusal.DUPLICATE
    assert caught.value.details["order_id"] == first.id
    assert (Order.objects.count(), Publisher.objects.get(id=publisher.id).balance) == before
    assert connection.get_autocommit()
    assert not connection.needs_rollback


@pytest.mark.parametrize(
    ("seen", "stored", "status"), [("999.00", "1.00", "HOLD"), ("0.00", "20.00", "PROCESSING")]
)
def test_a_wrong_guess_undoes_the_statement_and_writes_the_other_outcome(
    make_publisher: Any, make_project: Any, seen: str, stored: str, status: str
) -> None:
    publisher = make_publisher(balance=stored)
    project = make_project(publisher)
    publisher.balance = Decimal(seen)  # as read before a concurrent payment or order
    with writes_seen() as statements:
        order = place(publisher, project, invoice="INV-1")
    if ALONE:
        # The statement on its own failed; the debit first, then the rows, in a transaction.
        assert statements[0] == ("WITH", False)
        assert all_in_transactions(statements[1:])
    paid = status == "PROCESSING"
    assert Order.objects.filter(invoice="INV-1").count() == 1
    assert rows(order)["order"] == (
        status,
        "prod",
        "waiting" if paid else "",
        True if paid else None,
        TOTAL,
    )
    charge = [("order_charge", -TOTAL, f"Order {order.id}")]
    assert rows(order)["ledger"] == (charge if paid else [])
    expected = Decimal(stored) - TOTAL if paid else Decimal(stored)
    assert Publisher.objects.get(id=publisher.id).balance == expected
    # The failed statement's task rows went with it: the outcome's, once.
    other = make_publisher(balance=stored)
    guessed_right = place(other, make_project(other), invoice="INV-1")
    assert guessed_right.status == status
    assert queued_tasks(order) == queued_tasks(guessed_right)


def test_in_a_callers_transaction_the_statement_is_part_of_it(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="20.00")
    project = make_project(publisher)
    with writes_seen() as seen, transaction.atomic():
        order = place(publisher, project, invoice="INV-1")
        transaction.set_rollback(True)
    assert all_in_transactions(seen)
    assert not Order.objects.filter(id=order.id).exists()
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("20.00")


def test_an_order_without_invoice_or_with_a_webhook_runs_in_a_transaction(
    make_publisher: Any, make_project: Any, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    with writes_seen() as seen:
        # No invoice, an email: the five-day duplicate check locks the products first.
        place(publisher, project, email="ann@example.com")
    assert all_in_transactions(seen)
    webhook_endpoint_save(
        publisher=publisher,
        url="http://127.0.0.1:9/hooks",
        event_types=[WebhookEventType.ORDER_PLACED],
        enabled=True,
    )
    publisher = Publisher.objects.get(id=publisher.id)
    with writes_seen() as seen:
        order = place(publisher, project, invoice="INV-2")
    # The webhook's subscriber reads the endpoint in the order's transaction.
    assert all_in_transactions(seen)
    assert rows(order)["order"][0] == "PROCESSING"
