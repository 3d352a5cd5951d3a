"""The customer's and the publisher's emails: who gets them, what they say, sent once."""

from __future__ import annotations

import smtplib
from datetime import date, timedelta
from decimal import Decimal
from email.message import Message
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django_tasks_db.models import DBTaskResult

from pressrun.fulfillment.services import fulfillment_move
from pressrun.notifications.models import EmailKind, EmailStatus, OutgoingEmail
from pressrun.notifications.services import (
    notify_hold_orders,
    notify_order_placed,
    notify_publisher_error,
)
from pressrun.notifications.tasks import (
    email_send,
    order_placed_email,
    order_shipped_email,
)
from pressrun.orders.models import Order, OrderEvent, OrderStatus
from pressrun.orders.relay import placed_orders_relay
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.tracking import tracking_link
from tests.fulfillment.support import close_window, flag_address, today
from tests.fulfillment.support import ship as ship_order
from tests.notifications.conftest import BASE_URL

SHIP_DATE = today()

pytestmark = pytest.mark.django_db


def only_email() -> EmailMultiAlternatives:
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    return message


def html_of(message: EmailMultiAlternatives) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(content)


def link(order: Order) -> str:
    return f"{BASE_URL}/c/{order.customer_token}"


# --- the order notification ------------------------------------------------------------------


def test_order_notification_goes_to_the_customer_from_the_publisher(
    publisher: Any, cd: Any, place: Any
) -> None:
    order = place(publisher, cd, quantity=2, customer_price=Decimal("19.95"))
    # The publisher has no balance: the order waits (HOLD) and the publisher hears of it too.
    assert order.status == OrderStatus.HOLD
    customer = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert len(customer) == 1
    message = customer[0]
    assert isinstance(message, EmailMultiAlternatives)
    headers: Message = message.message()
    assert headers["From"] == "Acme Discs <orders@press.example>"
    assert headers["Reply-To"] == "label@example.com"
    assert headers["Subject"] == f"Your order {order.id} from Acme Discs"
    assert "2 x Greatest Hits" in message.body
    assert "Price: $19.95" in message.body
    assert "Austin, TX 78701" in message.body
    assert f"\n{link(order)}\n" in message.body
    html = html_of(message)
    assert f'<a href="{link(order)}"' in html
    assert "<strong>$19.95</strong>" in html
    assert '<td style="padding:4px 0;">Greatest Hits</td>' in html

    row = OutgoingEmail.objects.get(key=f"order_placed:{order.id}:customer")
    assert (row.kind, row.to, row.status, row.attempts) == (
        EmailKind.ORDER_PLACED,
        "ann@example.com",
        EmailStatus.SENT,
        1,
    )
    assert row.order_id == order.id
    assert row.publisher_id == publisher.id
    assert row.sent_at is not None
    assert row.is_test is False


def test_customers_reply_to_the_contact_email_when_one_is_set(
    publisher: Any, cd: Any, place: Any
) -> None:
    publisher.customer_contact_email = "help@acme.example"
    publisher.save(update_fields=["customer_contact_email"])
    order = place(publisher, cd)
    [message] = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert message.message()["Reply-To"] == "help@acme.example"
    assert "help@acme.example" in message.body
    assert "label@example.com" not in message.body
    assert order.publisher.customer_contact == "help@acme.example"


def test_the_link_shows_until_when_the_address_may_change(
    publisher: Any, cd: Any, place: Any
) -> None:
    publisher.postage_delay_hours = 24
    publisher.save()
    order = place(publisher, cd)
    deadline = order.created_at + timedelta(hours=24)
    [message] = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert f"You can correct it until {deadline:%Y-%m-%d %H:%M} UTC" in message.body


def test_no_link_when_the_publisher_does_not_offer_address_changes(
    publisher: Any, cd: Any, place: Any
) -> None:
    publisher.customer_address_changes = False
    publisher.save()
    order = place(publisher, cd)
    [message] = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert "/c/" not in message.body
    assert order.customer_token not in html_of(message)  # type: ignore[arg-type]
    assert "correct" not in message.body.lower()


@pytest.mark.parametrize(
    ("price", "shown"),
    [(Decimal("12.00"), "Price: $12.00"), (Decimal("0"), None), (None, None)],
)
def test_the_price_is_shown_only_when_nprice_is_not_zero(
    make_account: Any,
    make_project: Any,
    place: Any,
    price: Decimal | None,
    shown: str | None,
) -> None:
    # With a balance the order is paid at once: no HOLD reminder, only the customer's email.
    paid_up = make_account(balance="100", company="Acme Discs")
    order = place(paid_up, make_project(paid_up), customer_price=price)
    assert order.status == OrderStatus.PROCESSING
    message = only_email()
    if shown:
        assert shown in message.body
        assert "$12.00" in html_of(message)
    else:
        assert "Price" not in message.body
        assert "Price" not in html_of(message)
        assert "$" not in message.body


# (Customer Email Notifications setting, bSendOrderNotificationEmail, sent?)
SETTING_AND_OVERRIDE = [
    (True, None, True),
    (False, None, False),
    (False, True, True),
    (True, False, False),
    (True, True, True),
    (False, False, False),
]


@pytest.mark.parametrize("case", SETTING_AND_OVERRIDE)
def test_notification_follows_the_setting_unless_the_order_overrides_it(
    make_account: Any, cd_for: Any, place: Any, case: tuple[bool, bool | None, bool]
) -> None:
    setting, override, sent = case
    paid_up = make_account(balance="100", customer_email_notifications=setting)
    order = place(paid_up, cd_for(paid_up), send_notification_email=override)
    assert [m.to for m in mail.outbox] == ([["ann@example.com"]] if sent else [])
    expected_keys = [f"order_placed:{order.id}:customer"] if sent else []
    assert list(OutgoingEmail.objects.values_list("key", flat=True)) == expected_keys


def test_an_order_without_customer_email_sends_nothing(
    make_account: Any, make_project: Any, place: Any
) -> None:
    paid_up = make_account(balance="100")
    place(paid_up, make_project(paid_up), email="")
    assert mail.outbox == []
    assert OutgoingEmail.objects.count() == 0


def test_nothing_is_queued_when_no_email_will_go_out(
    make_account: Any, make_project: Any, place: Any, settings: Any
) -> None:
    # The relay then queues no email task at all (only the address check).
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    paid_up = make_account(balance="100", customer_email_notifications=False)
    place(paid_up, make_project(paid_up))
    assert placed_orders_relay() == 1
    assert [row.task_path for row in DBTaskResult.objects.all()] == [
        "pressrun.fulfillment.address.tasks.check_order_address"
    ]


def test_the_relay_queues_the_notification_task_of_a_placed_order(
    make_account: Any, make_project: Any, place: Any, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    paid_up = make_account(balance="100")
    order = place(paid_up, make_project(paid_up))
    # Intake's transaction wrote the order's placed event for the relay, and no task row.
    assert not DBTaskResult.objects.exists()
    assert OrderEvent.objects.get(order=order, kind="placed").relay_pending is True
    assert placed_orders_relay() == 1
    assert OrderEvent.objects.get(order=order, kind="placed").relay_pending is None
    [queued] = DBTaskResult.objects.filter(task_path__startswith="pressrun.notifications.")
    assert queued.task_path == "pressrun.notifications.tasks.order_placed_email"
    assert queued.args_kwargs == {"args": [], "kwargs": {"order_id": order.id}}
    assert mail.outbox == []


# --- test mode ----------------------------------------------------------------------------------


def test_a_test_order_notifies_the_publisher_not_the_customer(
    make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(company="Acme Discs", error_email="ops@acme.example")
    order = place(publisher, make_project(publisher), mode="test")
    assert order.status == OrderStatus.TEST
    message = only_email()
    assert message.to == ["ops@acme.example"]
    assert message.subject == f"[TEST] Your order {order.id} from Acme Discs"
    assert message.body.startswith(
        "TEST ORDER: this is the notification your customer would receive"
    )
    assert "<strong>Test order:</strong>" in html_of(message)
    row = OutgoingEmail.objects.get()
    assert (row.key, row.is_test) == (f"order_placed:{order.id}:publisher", True)


def test_a_test_order_reaches_the_customer_only_when_the_order_asks(
    make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(company="Acme Discs")
    place(publisher, make_project(publisher), mode="test", send_notification_email=True)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([publisher.email, "ann@example.com"])
    customer = next(m for m in mail.outbox if m.to == ["ann@example.com"])
    assert customer.subject.startswith("[TEST] ")
    assert customer.body.startswith("TEST ORDER: no order will be made or shipped.")


def test_a_test_order_with_notifications_off_sends_nothing(
    make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(customer_email_notifications=False)
    place(publisher, make_project(publisher), mode="test")
    place(publisher, make_project(publisher), mode="test", send_notification_email=False)
    assert mail.outbox == []


# --- escaping and headers -----------------------------------------------------------------------


def test_customer_text_is_escaped_in_html_and_headers_stay_single_lines(
    make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(balance="100", company='Acme "Discs"\r\nBcc: victim@example.com')
    project = make_project(publisher, title="<b>Hits</b> & more")
    order = place(
        publisher,
        project,
        recipient=RecipientRequest(
            name="<script>alert(1)</script>",
            company="Tom & Jerry's",
            address="1 Main St",
            city="Austin",
            state="TX",
            postal_code="78701",
            email="ann@example.com",
        ),
    )
    message = only_email()
    html = html_of(message)
    assert "<script>" not in html
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;," in html
    assert "&lt;b&gt;Hits&lt;/b&gt; &amp; more" in html
    assert "Tom &amp; Jerry&#x27;s" in html
    # The text part is plain text: shown as typed, not entity-encoded.
    assert "Hello <script>alert(1)</script>," in message.body
    assert "Tom & Jerry's" in message.body
    headers = message.message()
    assert headers["From"] == '"Acme \\"Discs\\" Bcc: victim@example.com" <orders@press.example>'
    assert headers["Bcc"] is None
    assert headers["Subject"] == f'Your order {order.id} from Acme "Discs" Bcc: victim@example.com'


def test_a_publisher_without_company_sends_as_pressrun(
    make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(balance="100")
    place(publisher, make_project(publisher))
    assert only_email().message()["From"] == "pressrun <orders@press.example>"


# --- sent once ------------------------------------------------------------------------------


def test_running_the_tasks_again_sends_nothing_again(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100")
    order = place(publisher, make_project(publisher))
    row = OutgoingEmail.objects.get()
    assert len(mail.outbox) == 1

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert order_placed_email.call(order_id=order.id) == 0
    assert callbacks == []
    assert email_send.call(email_id=row.id) is False
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.SENT, 1)


def test_an_unexpected_send_error_is_retried_not_left_claimed(
    make_account: Any, make_project: Any, place: Any, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    publisher = make_account(balance="100")
    order = place(publisher, make_project(publisher))
    order_placed_email.call(order_id=order.id)
    row = OutgoingEmail.objects.get(order=order)
    with mock.patch.object(EmailMultiAlternatives, "send", side_effect=ValueError("boom")):
        assert email_send.call(email_id=row.id) is False
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (
        EmailStatus.QUEUED,
        1,
        "ValueError: boom",
    )
    retry = DBTaskResult.objects.get(args_kwargs__kwargs__attempt=2)
    assert retry.args_kwargs["kwargs"] == {"email_id": row.id, "attempt": 2}


def test_an_email_queued_in_a_transaction_that_rolls_back_leaves_nothing(
    publisher: Any, settings: Any
) -> None:
    from django.db import transaction

    from pressrun.notifications.services import email_queue

    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    with transaction.atomic():
        email = email_queue(
            key="k",
            kind=EmailKind.PUBLISHER_ERROR,
            to="a@example.com",
            subject="s",
            text="t",
            publisher=publisher,
        )
        assert email is not None
        assert DBTaskResult.objects.filter(args_kwargs__kwargs__email_id=email.id).count() == 1
        transaction.set_rollback(True)
    assert not OutgoingEmail.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_a_deleted_order_is_skipped(publisher: Any) -> None:
    assert order_placed_email.call(order_id=999_999) == 0
    assert order_shipped_email.call(order_id=999_999) == 0
    assert mail.outbox == []


def test_a_refused_send_is_retried_then_marked_failed(
    make_account: Any,
    make_project: Any,
    place: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    publisher = make_account(balance="100")
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.EMAIL_SEND_ATTEMPTS = 2
    with mock.patch.object(
        EmailMultiAlternatives, "send", side_effect=smtplib.SMTPServerDisconnected("gone")
    ):
        order = place(publisher, make_project(publisher))
        with django_capture_on_commit_callbacks(execute=True):
            assert order_placed_email.call(order_id=order.id) == 1
        row = OutgoingEmail.objects.get()
        assert row.status == EmailStatus.QUEUED  # the send task is queued, not run yet
        assert email_send.call(email_id=row.id) is False
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == (
            EmailStatus.QUEUED,
            1,
            "SMTPServerDisconnected: gone",
        )
        retry = DBTaskResult.objects.get(args_kwargs__kwargs__attempt=2)
        assert retry.args_kwargs["kwargs"] == {"email_id": row.id, "attempt": 2}
        assert retry.run_after is not None

        assert email_send.call(email_id=row.id, attempt=2) is False
        row.refresh_from_db()
        assert (row.status, row.attempts) == (EmailStatus.FAILED, 2)
        assert not DBTaskResult.objects.filter(args_kwargs__kwargs__attempt=3).exists()
    # A failed email is never picked up again by a stray run.
    assert email_send.call(email_id=row.id) is False
    assert mail.outbox == []
    assert row.order_id == order.id


# --- tracking ---------------------------------------------------------------------------


def ship(order: Order, tracking_id: str, capture: Any) -> None:
    with capture(execute=True):
        ship_order(order, ship_date=SHIP_DATE, tracking_id=tracking_id)


def test_shipping_with_a_tracking_id_sends_the_tracking_email(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100", company="Acme Discs")
    order = place(publisher, make_project(publisher))
    mail.outbox.clear()
    ship(order, "9400 1000/ABC", django_capture_on_commit_callbacks)

    message = only_email()
    assert message.to == ["ann@example.com"]
    assert message.subject == f"Your order {order.id} has shipped"
    assert message.message()["From"] == "Acme Discs <orders@press.example>"
    url = "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201000%2FABC"
    link = tracking_link(tracking_id="9400 1000/ABC", carrier="")
    assert link is not None
    assert link.url == url
    assert "Tracking number (USPS): 9400 1000/ABC" in message.body
    assert f"Track your package: {url}\n" in message.body
    assert f"has shipped on {SHIP_DATE:%Y-%m-%d}." in message.body
    assert f'<a href="{url}"' in html_of(message)
    row = OutgoingEmail.objects.get(kind=EmailKind.ORDER_SHIPPED)
    assert (row.key, row.status) == (f"order_shipped:{order.id}:customer", EmailStatus.SENT)

    # Running the task again sends nothing.
    order_shipped_email.call(order_id=order.id)
    assert len(mail.outbox) == 1


def test_shipping_without_tracking_sends_no_tracking_email(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100")
    order = place(publisher, make_project(publisher))
    mail.outbox.clear()
    ship(order, "", django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert not OutgoingEmail.objects.filter(kind=EmailKind.ORDER_SHIPPED).exists()


def test_other_transitions_send_no_tracking_email(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100")
    order = place(publisher, make_project(publisher))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        close_window(order)
        for state in ("ready", "in_production", "packed"):
            fulfillment_move(order_id=order.id, to=state, actor="operator")
        flag_address(order, "No such street")
        fulfillment_move(order_id=order.id, to="cancelled", actor="operator", reason="Refund.")
    # The address error asks the customer to correct the address; nothing else is sent.
    assert [message.subject for message in mail.outbox] == [
        f"Please check the address of your order {order.id}"
    ]


def test_tracking_email_follows_the_notification_setting(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100", customer_email_notifications=False)
    quiet = place(publisher, make_project(publisher))
    asked = place(publisher, make_project(publisher), send_notification_email=True)
    mail.outbox.clear()
    ship(quiet, "9400111", django_capture_on_commit_callbacks)
    ship(asked, "9400222", django_capture_on_commit_callbacks)
    message = only_email()
    assert "9400222" in message.body


# --- the publisher's emails ----------------------------------------------------------------


def test_hold_orders_email_once_a_day_with_the_amount_needed(
    make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(company="Acme Discs", error_email="billing@acme.example")
    project = make_project(publisher, price=Decimal("10.00"), packaging="jewel-case")
    first = place(publisher, project, quantity=1, email="")  # 10 + 4.50 shipping
    second = place(publisher, project, quantity=5, email="")  # 50 + 4.50 + 4 x 0.75
    assert [first.total_cost, second.total_cost] == [Decimal("14.50"), Decimal("57.50")]

    # One reminder today, written when the first order went on HOLD.
    message = only_email()
    assert message.to == ["billing@acme.example"]
    assert message.subject == "1 order awaiting payment ($14.50 needed)"
    assert f"Order {first.id}, placed " in message.body
    assert "Amount needed to release them all: $14.50" in message.body
    assert message.message()["From"] == "pressrun <orders@press.example>"

    # The next day's lists both, less what the balance already covers.
    publisher.balance = Decimal("20.00")
    publisher.save(update_fields=["balance"])
    tomorrow = date.today() + timedelta(days=1)
    row = notify_hold_orders(publisher=publisher, today=tomorrow)
    assert row is not None
    assert row.key == f"hold-orders:{publisher.id}:{tomorrow.isoformat()}"
    assert row.subject == "2 orders awaiting payment ($52.00 needed)"
    assert "Total on HOLD: $72.00\nYour balance: $20.00\n" in row.text
    assert "Amount needed to release them all: $52.00" in row.text
    assert f"Order {second.id}, placed" in row.text
    assert "<strong>$52.00</strong>" in row.html
    assert notify_hold_orders(publisher=publisher, today=tomorrow) is None


def test_no_hold_email_without_hold_orders(publisher: Any) -> None:
    assert notify_hold_orders(publisher=publisher) is None
    assert OutgoingEmail.objects.count() == 0


def test_publisher_error_email_is_sent_once_per_key(
    publisher: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = notify_publisher_error(
            publisher=publisher,
            to="errors@acme.example",
            subject="1ShoppingCart order 77 was not placed",
            text="Product <X> is unknown.\n\nDelivery 5",
            key="delivery-error:5:1:failed",
        )
        again = notify_publisher_error(
            publisher=publisher,
            to="errors@acme.example",
            subject="1ShoppingCart order 77 was not placed",
            text="Product <X> is unknown.\n\nDelivery 5",
            key="delivery-error:5:1:failed",
        )
    assert first is not None
    assert again is None
    message = only_email()
    assert message.to == ["errors@acme.example"]
    assert message.subject == "1ShoppingCart order 77 was not placed"
    assert message.body == "Product <X> is unknown.\n\nDelivery 5"
    assert "Product &lt;X&gt; is unknown." in html_of(message)
    assert first.key == "publisher-error:delivery-error:5:1:failed"
    assert first.kind == EmailKind.PUBLISHER_ERROR


def test_notify_order_placed_twice_queues_once(publisher: Any, cd: Any, place: Any) -> None:
    order = place(publisher, cd)
    assert notify_order_placed(order=order) == []
    assert OutgoingEmail.objects.filter(kind=EmailKind.ORDER_PLACED).count() == 1
