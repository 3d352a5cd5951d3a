"""The customer is told when the publisher deletes a HOLD order or changes its items or
address; country names, not codes, in every email; and `orders` tells `notifications`
through domain events only, in the same transaction (outbox)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.db import transaction

from pressrun.core import events
from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.orders.changes import order_delete, order_modify
from pressrun.orders.events import OrderDeleted, OrderPlaced
from pressrun.orders.models import Order, OrderLine, OrderStatus
from pressrun.orders.requests import RecipientRequest
from tests.notifications.test_order_emails import html_of, only_email

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2] / "src" / "pressrun"


def hold_order(place: Any, publisher: Any, project: Any, **kwargs: Any) -> Order:
    order = place(publisher, project, invoice="INV-7", **kwargs)
    assert order.status == OrderStatus.HOLD
    mail.outbox.clear()
    return order


def test_deleting_a_hold_order_tells_the_customer(
    publisher: Any, cd: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher.customer_contact_email = "help@acme.example"
    publisher.save(update_fields=["customer_contact_email"])
    order = hold_order(place, publisher, cd)
    with django_capture_on_commit_callbacks(execute=True):
        order_delete(publisher=publisher, order_id=order.id, actor="dashboard (label@example.com)")

    message = only_email()
    assert message.to == ["ann@example.com"]
    assert message.subject == f"Your order {order.id} from Acme Discs was cancelled"
    assert message.reply_to == ["help@acme.example"]
    assert message.body == (
        "Hello Ann Buyer,\n\n"
        f"Acme Discs cancelled your order {order.id} (invoice INV-7), placed "
        f"{order.created_at:%Y-%m-%d}. Nothing will be shipped and nothing will be charged "
        "for this order. If you have already paid for it, please contact Acme Discs about a "
        "refund.\n\n"
        "Items of the cancelled order:\n"
        "  2 x Greatest Hits\n\n"
        "Questions? Reply to this email or write to help@acme.example.\n\n"
        "Acme Discs\n\n"
    )
    assert "<strong>Nothing will be shipped and nothing will be charged" in html_of(message)
    row = OutgoingEmail.objects.get(kind=EmailKind.ORDER_CANCELLED)
    assert row.key == f"order_cancelled:{order.id}:customer"
    assert row.order_id is None
    assert row.publisher_id == publisher.id


@pytest.mark.parametrize(
    "case",
    [(False, None, "prod"), (True, False, "prod"), (True, None, "test")],
    ids=["notifications-off", "order-said-no-email", "test-order"],
)
def test_no_cancellation_email_when_the_order_gets_no_emails(
    make_account: Any,
    cd_for: Any,
    place: Any,
    case: tuple[bool, bool | None, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    setting, override, mode = case
    publisher = make_account(company="Acme Discs", customer_email_notifications=setting)
    order = place(publisher, cd_for(publisher), send_notification_email=override, mode=mode)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        order_delete(publisher=publisher, order_id=order.id, actor="dashboard")
    assert mail.outbox == []
    assert not OutgoingEmail.objects.filter(kind=EmailKind.ORDER_CANCELLED).exists()


def test_changing_quantities_tells_the_customer(
    publisher: Any, cd: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = hold_order(place, publisher, cd)
    line = OrderLine.objects.get(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        order_modify(publisher=publisher, order_id=order.id, quantities={line.id: 3}, actor="d")
    message = only_email()
    assert message.subject == f"Your order {order.id} from Acme Discs was changed"
    assert message.to == ["ann@example.com"]
    assert "Items now:\n  3 x Greatest Hits (was 2)\n" in message.body
    assert (
        "Shipping to:\n  Ann Buyer\n  1 Main St\n  Austin, TX 78701\n  United States\n"
        in message.body
    )
    assert "Before the change" not in message.body
    assert "3 <span" in html_of(message)


def test_changing_the_address_tells_the_customer_old_and_new(
    publisher: Any, cd: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = hold_order(place, publisher, cd)
    new_address = RecipientRequest(
        name="Ann Buyer",
        address="2 High Street",
        city="London",
        postal_code="SW1A 1AA",
        country="GB",
        email="ann@example.com",
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_modify(publisher=publisher, order_id=order.id, recipient=new_address, actor="d")
    body = only_email().body
    assert "Items (unchanged):\n  2 x Greatest Hits\n" in body
    assert (
        "Shipping to (changed):\n  Ann Buyer\n  2 High Street\n  London SW1A 1AA\n"
        "  United Kingdom\n" in body
    )
    assert (
        "Before the change it was:\n  Ann Buyer\n  1 Main St\n  Austin, TX 78701\n"
        "  United States\n" in body
    )


def test_changing_only_the_mail_method_sends_nothing(
    publisher: Any, cd: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = hold_order(place, publisher, cd)
    with django_capture_on_commit_callbacks(execute=True):
        order_modify(publisher=publisher, order_id=order.id, mail_method="priority", actor="d")
    assert Order.objects.get(id=order.id).mail_method == "priority"
    assert mail.outbox == []


def test_two_changes_send_two_emails(
    publisher: Any, cd: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = hold_order(place, publisher, cd)
    line = OrderLine.objects.get(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        order_modify(publisher=publisher, order_id=order.id, quantities={line.id: 3}, actor="d")
        order_modify(publisher=publisher, order_id=order.id, quantities={line.id: 4}, actor="d")
    assert [m.subject for m in mail.outbox] == [
        f"Your order {order.id} from Acme Discs was changed"
    ] * 2
    assert "4 x Greatest Hits (was 3)" in mail.outbox[1].body


def test_a_deletion_rolled_back_queues_no_email(publisher: Any, cd: Any, place: Any) -> None:
    order = hold_order(place, publisher, cd)
    queued_inside: list[int] = []

    def delete_then_fail() -> None:
        with transaction.atomic():
            order_delete(publisher=publisher, order_id=order.id, actor="d")
            queued_inside.append(
                OutgoingEmail.objects.filter(kind=EmailKind.ORDER_CANCELLED).count()
            )
            raise RuntimeError("the surrounding work failed")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    assert queued_inside == [1]
    assert Order.objects.filter(id=order.id).exists()
    assert not OutgoingEmail.objects.filter(kind=EmailKind.ORDER_CANCELLED).exists()


def test_a_failing_subscriber_rolls_the_deletion_back(publisher: Any, cd: Any, place: Any) -> None:
    order = hold_order(place, publisher, cd)

    def broken(event: OrderDeleted) -> None:
        raise RuntimeError("subscriber failed")

    events.subscribe(OrderDeleted, broken)
    try:
        with pytest.raises(RuntimeError, match="subscriber failed"):
            order_delete(publisher=publisher, order_id=order.id, actor="d")
    finally:
        events.unsubscribe(OrderDeleted, broken)
    assert Order.objects.filter(id=order.id).exists()
    assert not OutgoingEmail.objects.filter(kind=EmailKind.ORDER_CANCELLED).exists()


def test_intake_publishes_order_placed_once(publisher: Any, cd: Any, place: Any) -> None:
    seen: list[int] = []

    def spy(event: OrderPlaced) -> None:
        seen.append(event.order.id)

    events.subscribe(OrderPlaced, spy)
    events.subscribe(OrderPlaced, spy)  # idempotent
    try:
        order = place(publisher, cd)
    finally:
        events.unsubscribe(OrderPlaced, spy)
    assert seen == [order.id]


def test_order_notification_names_the_country(publisher: Any, cd: Any, place: Any) -> None:
    place(
        publisher,
        cd,
        recipient=RecipientRequest(
            name="Ann Buyer",
            address="2 High Street",
            city="London",
            postal_code="SW1A 1AA",
            country="GB",
            email="ann@example.com",
        ),
    )
    [message] = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert "  London SW1A 1AA\n  United Kingdom\n" in message.body
    assert "<br>United Kingdom</p>" in html_of(message)
    assert "\n  GB\n" not in message.body


# --- the import graph ------------------------------------------------------------------------

# What the orders app (intake and changes) may never import: it tells the layers above
# through domain events instead.
UPPER_LAYERS = ("notifications", "fulfillment", "carts", "gateway", "dashboard", "customers")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_orders_never_imports_notifications_or_a_channel() -> None:
    offending = {}
    for path in sorted((SRC / "orders").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        bad = sorted(
            module
            for module in imported_modules(path)
            if any(module.startswith(f"pressrun.{layer}") for layer in UPPER_LAYERS)
        )
        if bad and path.name != "selectors.py":
            offending[str(path.relative_to(SRC))] = bad
    assert offending == {}


def test_the_event_mechanism_knows_no_app() -> None:
    modules = imported_modules(SRC / "core" / "events.py")
    assert [module for module in modules if module.startswith("pressrun.")] == []
