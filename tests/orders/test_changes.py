"""Changes to placed orders: modify (HOLD), delete (HOLD and test), the customer's address fix."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from pressrun.billing.models import LedgerEntry
from pressrun.billing.services import ledger_credit
from pressrun.fulfillment.states import FULFILLMENT_TABLE
from pressrun.orders.changes import (
    OrderChangeRefused,
    customer_address_window,
    order_correct_address,
    order_delete,
    order_modify,
)
from pressrun.orders.models import Order, OrderDeletion, OrderEvent, OrderLine, OrderStatus
from pressrun.orders.requests import RecipientRequest
from tests.billing.test_credit_and_holds import assert_ledger_matches_balance, place
from tests.fulfillment.support import bring_to, ship

pytestmark = pytest.mark.django_db

NEW_ADDRESS = RecipientRequest(
    name="Ann  Buyer",
    address="9 Ocean Ave",
    city="Santa Monica",
    state="california",
    postal_code="90401",
    country="United States",
)


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher()


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, price=Decimal("4.50"), packaging="sleeve")


def snapshot(order: Order) -> tuple[Any, ...]:
    order.refresh_from_db()
    lines = [(line.project_id, line.quantity) for line in order.lines.all()]
    return (
        order.status,
        order.address,
        order.total_cost,
        order.mail_method,
        lines,
        OrderEvent.objects.filter(order=order).count(),
    )


def test_a_hold_order_is_modified_and_repriced(publisher: Any, cd: Any) -> None:
    order = place(publisher, cd, invoice="INV-1")
    assert (order.status, order.total_cost, order.shipping_method) == (
        "HOLD",
        Decimal("6.00"),
        "standard",
    )
    line = OrderLine.objects.get(order=order)
    changed = order_modify(
        publisher=publisher,
        order_id=order.id,
        recipient=NEW_ADDRESS,
        quantities={line.id: 3},
        mail_method="priority",
        actor="publisher:ann",
    )
    changed.refresh_from_db()
    assert (changed.name, changed.address, changed.city, changed.state, changed.country) == (
        "Ann Buyer",
        "9 Ocean Ave",
        "Santa Monica",
        "CA",
        "US",
    )
    assert changed.lines.get().quantity == 3
    assert (changed.mail_method, changed.shipping_method) == ("priority", "priority")
    # 3 x 4.50 + priority 9.50 + 2 x 1.00
    assert (changed.products_cost, changed.shipping_cost, changed.total_cost) == (
        Decimal("13.50"),
        Decimal("11.50"),
        Decimal("25.00"),
    )
    event = OrderEvent.objects.filter(order=order, kind="modified").get()
    assert event.actor == "publisher:ann"
    assert event.message == (
        "Modified: address Ann Buyer, 1 Main St, Austin, TX 78701, US → Ann Buyer, 9 Ocean Ave, "
        f"Santa Monica, CA 90401, US; product {cd.id} quantity 1 → 3; mail method standard → "
        "priority; total $6.00 → $25.00."
    )


def test_no_change_writes_no_event(publisher: Any, cd: Any) -> None:
    order = place(publisher, cd)
    before = snapshot(order)
    order_modify(publisher=publisher, order_id=order.id, mail_method=order.mail_method, actor="x")
    assert snapshot(order) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantities": {0: 2}}, "has no line 0"),
        ({"quantities": "line:0"}, "Quantity 0 is outside 1 to 250."),
        ({"quantities": "line:251"}, "Quantity 251 is outside 1 to 250."),
        ({"mail_method": "pigeon"}, "Mail method 'pigeon' is not one of"),
        (
            {"recipient": RecipientRequest(name="", address="x", city="y", country="US")},
            "Name was blank.",
        ),
        (
            {"recipient": RecipientRequest(name="A", address="x", city="y", country="Atlantis")},
            "Atlantis",
        ),
    ],
)
def test_invalid_changes_are_refused_and_nothing_written(
    publisher: Any, cd: Any, kwargs: dict[str, Any], message: str
) -> None:
    order = place(publisher, cd)
    if isinstance(kwargs.get("quantities"), str):
        kwargs = {
            "quantities": {
                OrderLine.objects.get(order=order).id: int(kwargs["quantities"].split(":")[1])
            }
        }
    before = snapshot(order)
    with pytest.raises(OrderChangeRefused, match=message.replace("(", r"\(")):
        order_modify(publisher=publisher, order_id=order.id, actor="x", **kwargs)
    assert snapshot(order) == before


@pytest.mark.parametrize("state", list(FULFILLMENT_TABLE))
def test_orders_past_hold_cannot_be_modified_or_deleted(
    make_publisher: Any, make_project: Any, state: str
) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher))
    assert order.status == "PROCESSING"
    bring_to(order, state)
    before = snapshot(order)
    with pytest.raises(OrderChangeRefused, match=f"Order {order.id} .*can no longer be modified"):
        order_modify(publisher=publisher, order_id=order.id, mail_method="express", actor="x")
    with pytest.raises(OrderChangeRefused, match="can no longer be deleted"):
        order_delete(publisher=publisher, order_id=order.id, actor="x")
    assert snapshot(order) == before


def test_a_test_order_is_deleted_not_modified(publisher: Any, cd: Any) -> None:
    order = place(publisher, cd, mode="test")
    assert order.status == "TEST"
    before = snapshot(order)
    with pytest.raises(OrderChangeRefused) as refused:
        order_modify(publisher=publisher, order_id=order.id, mail_method="priority", actor="x")
    assert refused.value.message == (
        f"Order {order.id} is a test order: test orders cannot be changed or made into "
        "production orders. Delete it and place a new one."
    )
    assert snapshot(order) == before
    order_delete(publisher=publisher, order_id=order.id, actor="x")
    assert not Order.objects.filter(id=order.id).exists()


def test_another_publishers_order_does_not_exist_for_you(
    publisher: Any, cd: Any, make_publisher: Any
) -> None:
    order = place(publisher, cd)
    other = make_publisher()
    with pytest.raises(Order.DoesNotExist):
        order_modify(publisher=other, order_id=order.id, mail_method="express", actor="x")
    with pytest.raises(Order.DoesNotExist):
        order_delete(publisher=other, order_id=order.id, actor="x")
    assert Order.objects.filter(id=order.id).exists()


@pytest.mark.parametrize("mode", ["prod", "test"])
def test_deleting_a_hold_or_test_order_frees_its_invoice_and_keeps_a_record(
    publisher: Any, cd: Any, mode: str
) -> None:
    order = place(publisher, cd, invoice="INV-9", mode=mode)
    record = order_delete(publisher=publisher, order_id=order.id, actor="publisher:ann")
    assert not Order.objects.filter(id=order.id).exists()
    assert (record.order_number, record.invoice, record.mode, record.lines) == (
        order.id,
        "INV-9",
        mode,
        [[cd.id, 1]],
    )
    assert OrderDeletion.objects.get().total_cost == order.total_cost
    again = place(publisher, cd, invoice="INV-9", mode=mode)
    assert again.id != order.id


def test_the_customer_corrects_the_address_within_the_postage_delay(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher))
    assert customer_address_window(order).deadline == order.created_at + timedelta(hours=12)
    fixed = order_correct_address(order_id=order.id, recipient=NEW_ADDRESS, actor="customer")
    fixed.refresh_from_db()
    assert (fixed.address, fixed.state, fixed.status, fixed.total_cost) == (
        "9 Ocean Ave",
        "CA",
        "PROCESSING",
        order.total_cost,
    )
    event = OrderEvent.objects.get(order=order, kind="address_corrected")
    assert event.actor == "customer"
    assert event.message == (
        "Address corrected: Ann Buyer, 1 Main St, Austin, TX 78701, US → Ann Buyer, "
        "9 Ocean Ave, Santa Monica, CA 90401, US."
    )


def test_too_late_or_not_offered_or_shipped_is_refused(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100", company="Acme Media")
    project = make_project(publisher)
    late = place(publisher, project, invoice="A")
    Order.objects.filter(id=late.id).update(
        created_at=timezone.now() - timedelta(hours=13),
        address_changes_until=timezone.now() - timedelta(hours=1),
    )
    shipped = place(publisher, project, invoice="B")
    ship(shipped, tracking_id="1")
    for order in (late, shipped):
        before = snapshot(order)
        with pytest.raises(
            OrderChangeRefused, match=r"^It is too late to change the address.*Acme Media"
        ):
            order_correct_address(order_id=order.id, recipient=NEW_ADDRESS, actor="customer")
        assert snapshot(order) == before
    publisher.customer_address_changes = False
    publisher.customer_contact_email = "help@acme.example"
    publisher.save()
    fresh = place(publisher, project, invoice="C")
    with pytest.raises(OrderChangeRefused) as refused:
        order_correct_address(order_id=fresh.id, recipient=NEW_ADDRESS, actor="customer")
    assert refused.value.message == (
        "Address changes are not offered for this order. Please contact Acme Media at "
        "help@acme.example."
    )


def test_a_paid_order_keeps_its_country_and_an_unpaid_one_is_repriced(
    make_publisher: Any, make_project: Any
) -> None:
    abroad = RecipientRequest(
        name="Jo", address="1 Rue", city="Paris", postal_code="75001", country="France"
    )
    payer = make_publisher(balance="100")
    paid = place(payer, make_project(payer))
    with pytest.raises(OrderChangeRefused, match="to ship it to another country"):
        order_correct_address(order_id=paid.id, recipient=abroad, actor="customer")
    publisher = make_publisher()
    unpaid = place(publisher, make_project(publisher))
    fixed = order_correct_address(order_id=unpaid.id, recipient=abroad, actor="customer")
    # International standard: 6.00 (a letter only goes domestically → standard+tracking 14.00)
    assert (fixed.country, fixed.shipping_method, fixed.total_cost) == (
        "FR",
        "standard+tracking",
        Decimal("18.50"),
    )


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
@pytest.mark.django_db(transaction=True)
def test_a_modify_racing_a_payment_charges_the_final_price(publisher: Any, cd: Any) -> None:
    for attempt in range(5):
        order = place(publisher, cd, invoice=f"RACE-{attempt}")
        line_id = OrderLine.objects.get(order=order).id
        barrier = threading.Barrier(2)
        errors: list[str] = []

        def modify(
            barrier: threading.Barrier = barrier,
            order: Order = order,
            line_id: int = line_id,
            errors: list[str] = errors,
        ) -> None:
            barrier.wait()
            try:
                order_modify(
                    publisher=publisher, order_id=order.id, quantities={line_id: 3}, actor="p"
                )
            except OrderChangeRefused as exc:
                errors.append(str(exc))
            finally:
                connection.close()

        def pay(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                ledger_credit(
                    publisher_id=publisher.id, amount=Decimal("50"), description="pay", actor="op"
                )
            finally:
                connection.close()

        threads = [threading.Thread(target=modify), threading.Thread(target=pay)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        order.refresh_from_db()
        assert order.status == OrderStatus.PROCESSING
        charge = LedgerEntry.objects.get(order=order)
        assert -charge.amount == order.total_cost
        assert order.total_cost in (Decimal("6.00"), Decimal("19.50"))
        assert (order.total_cost == Decimal("6.00")) == bool(errors)
    assert_ledger_matches_balance(publisher)
