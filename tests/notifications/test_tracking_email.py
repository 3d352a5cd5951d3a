"""The customer's tracking email names the carrier and links its tracking page (orders.tracking:
USPS, UPS, FedEx, DHL; a carrier the table does not know gets the number without a link), is
sent once however often its task runs, and only when the publisher's setting and the order's
flag allow it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from hypothesis import given
from hypothesis import strategies as st

from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.notifications.tasks import order_shipped_email
from pressrun.orders.tracking import carrier_for, tracking_link
from tests.fulfillment.support import ship, today

pytestmark = pytest.mark.django_db


def shipped_email(capture: Any, order: Any, **shipment: Any) -> list[EmailMultiAlternatives]:
    mail.outbox.clear()
    with capture(execute=True):
        ship(order, **shipment)
    messages = [m for m in mail.outbox if "has shipped" in m.subject]
    assert all(isinstance(m, EmailMultiAlternatives) for m in messages)
    return messages  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("carrier", "name", "url"),
    [
        ("UPS", "UPS", "https://www.ups.com/track?tracknum=1Z%20999"),
        ("fedex_ground", "FedEx", "https://www.fedex.com/fedextrack/?trknbr=1Z%20999"),
        (
            "DHL Express",
            "DHL",
            "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1"
            "&tracking-id=1Z%20999",
        ),
        ("", "USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels=1Z%20999"),
        ("stamps_com", "USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels=1Z%20999"),
    ],
)
def test_the_tracking_email_links_the_carrier_once(
    *,
    make_account: Any,
    make_project: Any,
    place: Any,
    django_capture_on_commit_callbacks: Any,
    carrier: str,
    name: str,
    url: str,
) -> None:
    publisher = make_account(balance="100", company="Acme Discs")
    order = place(publisher, make_project(publisher))
    (message,) = shipped_email(
        django_capture_on_commit_callbacks, order, tracking_id="1Z 999", carrier=carrier
    )
    assert message.to == ["ann@example.com"]
    assert message.subject == f"Your order {order.id} has shipped"
    assert f"has shipped on {today():%Y-%m-%d}." in message.body
    assert f"Tracking number ({name}): 1Z 999\nTrack your package: {url}\n" in message.body
    [(html, _)] = message.alternatives
    assert f"Tracking number ({name}): <strong>1Z 999</strong>" in str(html)
    assert f'<a href="{url.replace("&", "&amp;")}"' in str(html)
    # The task again (a retry, a second worker): nothing more is sent.
    mail.outbox.clear()
    order_shipped_email.call(order_id=order.id)
    order_shipped_email.call(order_id=order.id)
    assert mail.outbox == []
    assert OutgoingEmail.objects.filter(kind=EmailKind.ORDER_SHIPPED).count() == 1


def test_an_unknown_carrier_gets_the_number_without_a_link(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100", company="Acme Discs")
    order = place(publisher, make_project(publisher))
    (message,) = shipped_email(
        django_capture_on_commit_callbacks, order, tracking_id="AF-1", carrier="Acme & Sons"
    )
    assert "Tracking number (Acme & Sons): AF-1\n\nQuestions about your order?" in message.body
    assert "Track your package" not in message.body
    [(html, _)] = message.alternatives
    assert "Tracking number (Acme &amp; Sons): <strong>AF-1</strong>" in str(html)
    assert "Track your package" not in str(html)


@pytest.mark.parametrize(
    ("publisher_setting", "order_flag", "sent"),
    [
        (True, None, True),
        (False, None, False),  # Customer Email Notifications off
        (True, False, False),  # bSendOrderNotificationEmail=0
        (False, True, True),  # bSendOrderNotificationEmail=1 overrides the setting
    ],
)
def test_settings_and_the_order_flag_decide(
    *,
    make_account: Any,
    make_project: Any,
    place: Any,
    django_capture_on_commit_callbacks: Any,
    publisher_setting: bool,
    order_flag: bool | None,
    sent: bool,
) -> None:
    publisher = make_account(
        balance="100", company="Acme Discs", customer_email_notifications=publisher_setting
    )
    order = place(publisher, make_project(publisher), send_notification_email=order_flag)
    messages = shipped_email(
        django_capture_on_commit_callbacks, order, tracking_id="9400 1", carrier="USPS"
    )
    assert len(messages) == (1 if sent else 0)
    assert OutgoingEmail.objects.filter(kind=EmailKind.ORDER_SHIPPED).count() == (1 if sent else 0)


def test_a_letter_without_tracking_sends_no_tracking_email(
    make_account: Any, make_project: Any, place: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = make_account(balance="100", company="Acme Discs")
    order = place(publisher, make_project(publisher))
    assert shipped_email(django_capture_on_commit_callbacks, order) == []


@given(tracking_id=st.text(max_size=40), carrier=st.text(max_size=30))
def test_tracking_links_are_always_safe(tracking_id: str, carrier: str) -> None:
    link = tracking_link(tracking_id=tracking_id, carrier=carrier)
    if not tracking_id.strip():
        assert link is None
        return
    assert link is not None
    if link.url:
        query = link.url.split("?", 1)[1]
        # The number is percent-encoded: it can add no parameter and break out of nothing.
        assert not any(c in query.rsplit("=", 1)[1] for c in " &<>\"'#?")
        assert carrier_for(carrier) is not None
    else:
        assert carrier_for(carrier) is None
