"""An operator's correction of a shipped order's tracking is told to whoever got the tracking
email: once per correction however often its task runs, only when the tracking number or the
carrier changed, and as the tracking email itself when none had gone out yet."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail

from pressrun.notifications import services, subscribers
from pressrun.notifications.models import EmailKind, EmailStatus, OutgoingEmail
from pressrun.notifications.services import notify_order_shipped
from pressrun.notifications.tasks import order_shipped_email, shipment_corrected_email
from pressrun.orders.models import Order, OrderEvent
from tests.fulfillment.support import correct_shipment, ship, today

pytestmark = pytest.mark.django_db

# Tasks written as rows for a worker, none run: the tests' immediate backend runs each task
# as it is queued.
QUEUED_ONLY = {
    "default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend", "QUEUES": ["default"]}
}


@pytest.fixture
def order(make_account: Any, make_project: Any, place: Any) -> Order:
    """A paid order of a publisher that sends its customers' emails."""
    publisher = make_account(balance="100", company="Acme Discs")
    return place(publisher, make_project(publisher))


def correct(capture: Any, order: Order, **shipment: Any) -> list[Any]:
    """The operator's correction, its follow-up work run as the worker would; the emails it
    sent."""
    mail.outbox.clear()
    with capture(execute=True):
        correct_shipment(order, **shipment)
    return list(mail.outbox)


def shipped(capture: Any, order: Order, **shipment: Any) -> None:
    with capture(execute=True):
        ship(order, **shipment)


def ship_before_its_email(order: Order, **shipment: Any) -> Order:
    """Ship the order as if its tracking email task had not yet run: the tests' immediate
    task backend writes the email at once, so the row is taken back out."""
    shipped = ship(order, **shipment)
    OutgoingEmail.objects.filter(order=order, kind=EmailKind.ORDER_SHIPPED).delete()
    mail.outbox.clear()
    return shipped


def tracking_rows(order: Order) -> list[tuple[str, str]]:
    return list(
        OutgoingEmail.objects.filter(order=order, kind=EmailKind.ORDER_SHIPPED)
        .order_by("id")
        .values_list("key", "subject")
    )


def test_a_corrected_tracking_number_is_sent_once_with_the_new_number(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    (message,) = correct(capture, order, tracking_id="1Z 999", carrier="UPS")
    assert message.to == ["ann@example.com"]
    assert message.subject == f"Your order {order.id}: corrected tracking"
    assert (
        f"The tracking details of your order {order.id} from Acme Discs have been corrected: "
        f"please use these instead of the ones we sent before. It shipped on {today():%Y-%m-%d}."
    ) in message.body
    assert "Tracking number (UPS): 1Z 999\nTrack your package: https://www.ups.com/" in message.body
    assert "9400 1" not in message.body
    [(html, _)] = message.alternatives
    assert "Tracking number (UPS): <strong>1Z 999</strong>" in str(html)
    assert "have been corrected" in str(html)
    correction = OrderEvent.objects.filter(order=order, kind="shipment_corrected").get()
    assert tracking_rows(order) == [
        (f"order_shipped:{order.id}:customer", f"Your order {order.id} has shipped"),
        (
            f"order_shipped:{order.id}:{correction.id}:customer",
            f"Your order {order.id}: corrected tracking",
        ),
    ]
    # The task again (a retry, a second worker): nothing more is sent.
    mail.outbox.clear()
    shipment_corrected_email.call(order_id=order.id, history_event_id=correction.id)
    order_shipped_email.call(order_id=order.id)
    assert mail.outbox == []
    assert len(tracking_rows(order)) == 2


def test_each_correction_is_told(order: Order, django_capture_on_commit_callbacks: Any) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    (first,) = correct(capture, order, tracking_id="9400 2", carrier="USPS")
    (second,) = correct(capture, order, tracking_id="9400 3", carrier="USPS")
    assert "Tracking number (USPS): 9400 2\n" in first.body
    assert "Tracking number (USPS): 9400 3\n" in second.body
    assert len(tracking_rows(order)) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"ship_date": "the day before"},
        {"postage_cost": Decimal("8.10")},
        {"service": "Priority Mail"},
    ],
)
def test_a_correction_that_leaves_number_and_carrier_sends_nothing(
    *,
    order: Order,
    django_capture_on_commit_callbacks: Any,
    change: dict[str, Any],
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    if "ship_date" in change:
        change = {"ship_date": today() - timedelta(days=1)}
    sent = correct(capture, order, tracking_id="9400 1", carrier="USPS", **change)
    assert sent == []
    assert len(tracking_rows(order)) == 1
    assert OrderEvent.objects.filter(order=order, kind="shipment_corrected").count() == 1


def test_a_letter_given_a_tracking_number_gets_the_tracking_email(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order)  # no tracking number: no tracking email
    assert tracking_rows(order) == []
    (message,) = correct(capture, order, tracking_id="9400 7", carrier="USPS")
    assert message.subject == f"Your order {order.id} has shipped"
    assert "Tracking number (USPS): 9400 7\n" in message.body
    assert tracking_rows(order) == [
        (f"order_shipped:{order.id}:customer", f"Your order {order.id} has shipped")
    ]


def test_a_correction_before_the_tracking_email_was_written_sends_one_email(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    ship_before_its_email(order, tracking_id="9400 1", carrier="USPS")
    (message,) = correct(capture, order, tracking_id="1Z 999", carrier="UPS")
    assert message.subject == f"Your order {order.id} has shipped"
    assert "Tracking number (UPS): 1Z 999\n" in message.body
    # The shipment's own task, run late, finds the email written.
    mail.outbox.clear()
    order_shipped_email.call(order_id=order.id)
    assert mail.outbox == []
    assert len(tracking_rows(order)) == 1


def test_no_email_where_the_order_sends_none(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    publisher = make_account(balance="100", company="Acme Discs")
    order = place(publisher, make_project(publisher), send_notification_email=False)
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    assert correct(capture, order, tracking_id="1Z 999", carrier="UPS") == []
    assert tracking_rows(order) == []


def test_the_task_for_an_unknown_order_or_entry_sends_nothing(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    mail.outbox.clear()
    assert shipment_corrected_email.call(order_id=999_999, history_event_id=1) == 0
    assert shipment_corrected_email.call(order_id=order.id, history_event_id=999_999) == 0
    assert mail.outbox == []


def test_a_tracking_email_rendered_before_the_correction_but_written_after_is_corrected(
    *,
    order: Order,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    """The shipment's task read the order just before the correction committed and wrote
    its email just after: what the email names decides, not when it was written."""
    capture = django_capture_on_commit_callbacks
    as_shipped = ship_before_its_email(order, tracking_id="9400 1", carrier="USPS")
    immediate = settings.TASKS
    settings.TASKS = QUEUED_ONLY  # the correction's task is queued, not run yet
    correct_shipment(order, tracking_id="1Z 999", carrier="UPS")
    settings.TASKS = immediate
    correction = OrderEvent.objects.filter(order=order, kind="shipment_corrected").get()
    with capture(execute=True):
        notify_order_shipped(order=as_shipped)  # the order as the late task read it
    [late] = mail.outbox
    assert "Tracking number (USPS): 9400 1\n" in late.body
    assert OutgoingEmail.objects.get(key=f"order_shipped:{order.id}:customer").created_at > (
        correction.at
    )
    mail.outbox.clear()
    with capture(execute=True):
        assert shipment_corrected_email.call(order_id=order.id, history_event_id=correction.id) == 1
    (corrected,) = mail.outbox
    assert corrected.subject == f"Your order {order.id}: corrected tracking"
    assert "Tracking number (UPS): 1Z 999\n" in corrected.body


def test_a_tracking_email_written_while_the_correction_looked_is_corrected(
    order: Order,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The correction's task found no tracking email; the shipment's own task, with the order
    as it read it before the correction, wrote one before the correction's could: the key
    is taken, and what that email names decides."""
    capture = django_capture_on_commit_callbacks
    as_shipped = ship_before_its_email(order, tracking_id="9400 1", carrier="USPS")
    real = services._queue_tracking_email

    def late_task_first(**kwargs: Any) -> Any:
        real(
            order=as_shipped,
            recipient=kwargs["recipient"],
            context=services._tracking_context(as_shipped),
        )
        return real(**kwargs)

    monkeypatch.setattr(services, "_queue_tracking_email", late_task_first)
    sent = correct(capture, order, tracking_id="1Z 999", carrier="UPS")
    assert [m.subject for m in sent] == [
        f"Your order {order.id} has shipped",
        f"Your order {order.id}: corrected tracking",
    ]
    assert "Tracking number (USPS): 9400 1\n" in sent[0].body
    assert "Tracking number (UPS): 1Z 999\n" in sent[1].body


def test_a_tracking_email_that_could_not_be_sent_is_not_corrected_but_sent_anew(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    OutgoingEmail.objects.filter(key=f"order_shipped:{order.id}:customer").update(
        status=EmailStatus.FAILED
    )
    (message,) = correct(capture, order, tracking_id="1Z 999", carrier="UPS")
    assert message.subject == f"Your order {order.id} has shipped"
    assert "have been corrected" not in message.body
    assert "Tracking number (UPS): 1Z 999\n" in message.body


def test_no_task_is_queued_for_a_correction_the_customer_need_not_hear_of(
    order: Order,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    queued: list[Any] = []
    monkeypatch.setattr(
        subscribers,
        "shipment_corrected_email",
        SimpleNamespace(enqueue=lambda **kwargs: queued.append(kwargs)),
    )
    correct(capture, order, tracking_id="9400 1", carrier="USPS", service="Priority Mail")
    assert queued == []
    correct(capture, order, tracking_id="9400 2", carrier="USPS")
    correction = OrderEvent.objects.filter(order=order, kind="shipment_corrected").latest("id")
    assert queued == [{"order_id": order.id, "history_event_id": correction.id}]


def test_a_correction_after_one_whose_email_failed_is_still_told_as_a_correction(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    """The customer holds the first number (its email went out); the first correction's
    email failed for good; the second correction is still "corrected tracking"."""
    capture = django_capture_on_commit_callbacks
    shipped(capture, order, tracking_id="9400 1", carrier="USPS")
    correct(capture, order, tracking_id="9400 2", carrier="USPS")
    OutgoingEmail.objects.filter(key__startswith=f"order_shipped:{order.id}:").exclude(
        key=f"order_shipped:{order.id}:customer"
    ).update(status=EmailStatus.FAILED)
    (message,) = correct(capture, order, tracking_id="9400 3", carrier="USPS")
    assert message.subject == f"Your order {order.id}: corrected tracking"
    assert "Tracking number (USPS): 9400 3\n" in message.body


def test_the_task_counts_the_email_it_queued(
    order: Order, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    shipped(capture, order)  # a letter: no tracking email
    correct(capture, order, tracking_id="9400 7", carrier="USPS")
    correction = OrderEvent.objects.get(order=order, kind="shipment_corrected")
    OutgoingEmail.objects.filter(order=order, kind=EmailKind.ORDER_SHIPPED).delete()
    assert shipment_corrected_email.call(order_id=order.id, history_event_id=correction.id) == 1
    assert shipment_corrected_email.call(order_id=order.id, history_event_id=correction.id) == 0
