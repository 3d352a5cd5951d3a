"""Intake's write compiles its statements before the transaction (PRESSRUN_INTAKE_PREPARED_WRITES,
on by default) or runs the ORM inside it (off), and on PostgreSQL writes the compiled rows as
one statement (PRESSRUN_INTAKE_ONE_STATEMENT), in one pipeline (PRESSRUN_DATABASE_PIPELINE) or
one by one: every way writes exactly the same rows, paid at once, on HOLD and in test mode,
and a refused duplicate writes nothing either way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.orders.models import Order, OrderEvent, OrderLine
from pressrun.orders.relay import placed_orders_relay
from pressrun.orders.services import OrderRefused, Refusal
from tests.billing.test_credit_and_holds import place

pytestmark = pytest.mark.django_db

WRITE_PATHS = [
    pytest.param((True, True, True), id="prepared-one-statement"),
    pytest.param((True, True, False), id="prepared-pipelined"),
    pytest.param((True, False, False), id="prepared-one-by-one"),
    pytest.param((False, False, False), id="orm"),
]


def use_write_path(settings: Any, path: tuple[bool, bool, bool]) -> None:
    (
        settings.INTAKE_PREPARED_WRITES,
        settings.DATABASE_PIPELINE,
        settings.INTAKE_ONE_STATEMENT,
    ) = path


def rows(order: Order) -> dict[str, Any]:
    """What intake wrote for `order`, without ids and times (which differ by run)."""
    stored = Order.objects.get(id=order.id)
    return {
        "order": (
            stored.status,
            stored.mode,
            stored.fulfillment_state,
            stored.charged_at == stored.created_at if stored.charged_at else None,
            stored.total_cost,
        ),
        "lines": [
            (line.order_id == order.id, line.position, line.quantity, line.unit_price, line.mode)
            for line in OrderLine.objects.filter(order=order).order_by("position")
        ],
        "events": [
            (event.kind, event.from_status, event.to_status, event.to_state, event.message)
            for event in OrderEvent.objects.filter(order=order).order_by("id")
        ],
        "ledger": [
            (entry.kind, entry.amount, entry.description)
            for entry in LedgerEntry.objects.filter(order=order)
        ],
    }


def queued_tasks(order: Order) -> list[str]:
    """The tasks queued for `order`, by name, once every placed order is relayed (as the
    worker does; intake's transaction queues none)."""
    while placed_orders_relay():
        pass
    return sorted(
        task.task_path
        for task in DBTaskResult.objects.all()
        if task.args_kwargs.get("kwargs", {}).get("order_id") == order.id
    )


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_paid_at_once(
    make_publisher: Any, make_project: Any, settings: Any, path: tuple[bool, bool, bool]
) -> None:
    use_write_path(settings, path)
    publisher = make_publisher(balance="20.00")
    project = make_project(publisher)
    order = place(publisher, project, invoice="INV-1")
    assert order.id is not None
    assert [line.order_id for line in order.lines.all()] == [order.id]
    # The lines returned carry the ids they were stored under (read after the pipeline).
    assert [line.id for line in order.lines.all()] == list(
        OrderLine.objects.filter(order=order).values_list("id", flat=True)
    )
    total = Decimal("6.00")  # 4.50 + 1.50 for a letter
    assert order.total_cost == total
    assert rows(order) == {
        "order": ("PROCESSING", "prod", "waiting", True, total),
        "lines": [(True, 1, 1, Decimal("4.50"), "prod")],
        "events": [
            ("placed", "", "HOLD", "", f"prod order from gateway, ${total}."),
            (
                "charged",
                "HOLD",
                "PROCESSING",
                "waiting",
                f"Paid from balance: ${total}.",
            ),
        ],
        "ledger": [("order_charge", -total, f"Order {order.id}")],
    }
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("20.00") - total


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_on_hold_and_test_mode(
    make_publisher: Any, make_project: Any, settings: Any, path: tuple[bool, bool, bool]
) -> None:
    use_write_path(settings, path)
    publisher = make_publisher(balance="1.00")
    project = make_project(publisher)
    held = place(publisher, project, invoice="INV-1")
    test = place(publisher, project, invoice="INV-1", mode="test")
    total = Decimal("6.00")
    assert rows(held) == {
        "order": ("HOLD", "prod", "", None, total),
        "lines": [(True, 1, 1, Decimal("4.50"), "prod")],
        "events": [("placed", "", "HOLD", "", f"prod order from gateway, ${total}.")],
        "ledger": [],
    }
    assert rows(test) == {
        "order": ("TEST", "test", "", None, total),
        "lines": [(True, 1, 1, Decimal("4.50"), "test")],
        "events": [("placed", "", "TEST", "", f"test order from gateway, ${total}.")],
        "ledger": [],
    }
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("1.00")


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_a_duplicate_invoice_writes_nothing(
    make_publisher: Any, make_project: Any, settings: Any, path: tuple[bool, bool, bool]
) -> None:
    use_write_path(settings, path)
    publisher = make_publisher(balance="100.00")
    project = make_project(publisher)
    first = place(publisher, project, invoice="INV-1")
    balance = Publisher.objects.get(id=publisher.id).balance
    counts = (
        Order.objects.count(),
        OrderLine.objects.count(),
        OrderEvent.objects.count(),
        LedgerEntry.objects.count(),
    )
    with pytest.raises(OrderRefused) as caught:
        place(publisher, project, invoice="INV-1")
    assert caught.value.reason == Refusal.DUPLICATE
    assert caught.value.details["order_id"] == first.id
    assert (
        Order.objects.count(),
        OrderLine.objects.count(),
        OrderEvent.objects.count(),
        LedgerEntry.objects.count(),
    ) == counts
    assert Publisher.objects.get(id=publisher.id).balance == balance


@pytest.mark.parametrize(
    ("seen", "stored", "status"), [("999.00", "1.00", "HOLD"), ("0.00", "20.00", "PROCESSING")]
)
def test_the_balance_in_the_database_decides_not_the_one_read_before(
    make_publisher: Any, make_project: Any, seen: str, stored: str, status: str
) -> None:
    """Intake compiles the rows of the outcome the publisher's balance (as read with the
    publisher) suggests; a payment or an order in between can make the debit decide the
    other way, and then the other outcome's rows are written, exactly as always."""
    publisher = make_publisher(balance=stored)
    project = make_project(publisher)
    publisher.balance = Decimal(seen)  # as read before a concurrent change
    order = place(publisher, project, invoice="INV-1")
    total = Decimal("6.00")
    paid = status == "PROCESSING"
    assert rows(order) == {
        "order": (status, "prod", "waiting" if paid else "", True if paid else None, total),
        "lines": [(True, 1, 1, Decimal("4.50"), "prod")],
        "events": [("placed", "", "HOLD", "", f"prod order from gateway, ${total}.")]
        + (
            [("charged", "HOLD", "PROCESSING", "waiting", f"Paid from balance: ${total}.")]
            if paid
            else []
        ),
        "ledger": [("order_charge", -total, f"Order {order.id}")] if paid else [],
    }
    expected = Decimal(stored) - total if paid else Decimal(stored)
    assert Publisher.objects.get(id=publisher.id).balance == expected
    # What the subscribers queued is the outcome's, once: an attempt rolled back for the
    # wrong guess leaves no task behind. The same as for an order guessed right.
    other = make_publisher(balance=stored)
    guessed_right = place(other, make_project(other), invoice="INV-1")
    assert guessed_right.status == status
    assert queued_tasks(order) == queued_tasks(guessed_right)
    assert queued_tasks(order)  # the customer's email at least
