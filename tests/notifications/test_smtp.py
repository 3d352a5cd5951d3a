"""An order notification through a real SMTP server (aiosmtpd), the way production sends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from pressrun.notifications.models import EmailStatus, OutgoingEmail
from pressrun.orders.models import OrderStatus
from pressrun.orders.requests import RecipientRequest
from tests.notifications.conftest import BASE_URL

pytestmark = pytest.mark.django_db


@dataclass
class Inbox:
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def test_order_notification_over_smtp(
    smtp_server: Inbox, make_account: Any, make_project: Any, place: Any
) -> None:
    publisher = make_account(
        balance="100", company="Zoë's Discs", email="label@example.com", postage_delay_hours=12
    )
    project = make_project(publisher, title="Live & Loud")
    order = place(
        publisher,
        project,
        quantity=3,
        recipient=RecipientRequest(
            name="<script>alert('x')</script>",
            address="1 Main St",
            city="Austin",
            state="texas",
            postal_code="78701",
            email="ann@example.com",
        ),
    )
    assert order.status == OrderStatus.PROCESSING

    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "orders@press.example"
    assert envelope.rcpt_tos == ["ann@example.com"]
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    # The sender name is the publisher's company, encoded because it is not ASCII.
    assert str(message["From"]) == "Zoë's Discs <orders@press.example>"
    [raw_from] = [line for line in envelope.content.splitlines() if line.startswith(b"From: ")]
    assert raw_from.startswith(b"From: =?utf-8?")
    assert raw_from.endswith(b" <orders@press.example>")
    assert str(message["To"]) == "ann@example.com"
    assert str(message["Reply-To"]) == "label@example.com"
    assert str(message["Subject"]) == f"Your order {order.id} from Zoë's Discs"
    assert message.get_content_type() == "multipart/alternative"

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None
    assert html_part is not None
    # SMTP carries CRLF line ends.
    text = text_part.get_content().replace("\r\n", "\n")
    html = html_part.get_content()
    url = f"{BASE_URL}/c/{order.customer_token}"
    assert "Hello <script>alert('x')</script>," in text
    assert "  3 x Live & Loud\n" in text
    assert "Austin, TX 78701" in text
    assert f"\n{url}\n" in text
    assert f'<a href="{url}"' in html
    assert "Hello &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;," in html
    assert "<script>" not in html
    assert "Live &amp; Loud" in html

    row = OutgoingEmail.objects.get()
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 1, "")


def test_cancellation_email_over_smtp(
    smtp_server: Inbox,
    make_account: Any,
    make_project: Any,
    place: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from pressrun.orders.changes import order_delete

    publisher = make_account(company="Zoë's Discs", email="label@example.com")
    project = make_project(publisher, title="Live & Loud")
    order = place(
        publisher,
        project,
        quantity=2,
        invoice="A-1",
        recipient=RecipientRequest(
            name="Ann <b>Buyer</b>",
            address="2 High Street",
            city="London",
            postal_code="SW1A 1AA",
            country="GB",
            email="ann@example.com",
        ),
    )
    assert order.status == OrderStatus.HOLD
    placed = message_from_bytes(smtp_server.envelopes[0].content, policy=policy.default)
    assert isinstance(placed, EmailMessage)
    placed_text = placed.get_body(preferencelist=("plain",))
    assert placed_text is not None
    assert "  London SW1A 1AA\r\n  United Kingdom\r\n" in placed_text.get_content()
    smtp_server.envelopes.clear()

    with django_capture_on_commit_callbacks(execute=True):
        order_delete(publisher=publisher, order_id=order.id, actor="dashboard")

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["ann@example.com"]
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert str(message["Subject"]) == f"Your order {order.id} from Zoë's Discs was cancelled"
    assert str(message["Reply-To"]) == "label@example.com"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None
    assert html_part is not None
    text = text_part.get_content().replace("\r\n", "\n")
    assert f"Zoë's Discs cancelled your order {order.id} (invoice A-1)" in text
    assert "Nothing will be shipped and nothing will be charged for this order." in text
    assert "  2 x Live & Loud\n" in text
    assert "write to label@example.com." in text
    assert "Hello Ann &lt;b&gt;Buyer&lt;/b&gt;," in html_part.get_content()
    row = OutgoingEmail.objects.get(kind="order_cancelled")
    assert (row.status, row.order_id) == (EmailStatus.SENT, None)
