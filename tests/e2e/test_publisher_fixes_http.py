"""Over HTTP with the real server and worker: the customer is emailed when the publisher
changes or deletes a HOLD order (country names, not codes); the deleted order's pages say
so; unknown pages are styled; "Needs attention" is cleared by Dismiss, Replay and Ignore."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.carts.shopify_payloads import order_json
from tests.e2e.test_carts_rules_http import HTTP_TIMEOUT, Dashboard
from tests.e2e.test_customer_email_http import EMAIL_WAIT_SECONDS, SEPARATOR
from tests.e2e.test_gateway_http import place
from tests.live import LiveService

pytestmark = pytest.mark.e2e


def emails_to(mail_dir: Path, recipient: str) -> list[EmailMessage]:
    found = []
    needle = f"To: {recipient}".encode()
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.is_dir() else []:
        for raw in path.read_bytes().split(SEPARATOR):
            if needle in raw:
                message = message_from_bytes(raw.lstrip(b"\n"), policy=policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
    return found


def wait_for_subject(mail_dir: Path, recipient: str, subject: str) -> EmailMessage:
    """The one email to `recipient` with `subject`, once the worker has sent it."""
    deadline = time.monotonic() + EMAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        found = [m for m in emails_to(mail_dir, recipient) if str(m["Subject"]) == subject]
        if found:
            assert len(found) == 1, [str(m["Subject"]) for m in found]
            return found[0]
        time.sleep(0.2)
    sent = [str(m["Subject"]) for m in emails_to(mail_dir, recipient)]
    pytest.fail(f"no email {subject!r} to {recipient} within {EMAIL_WAIT_SECONDS:.0f} s: {sent}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def error_page(dashboard: Dashboard, path: str) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as refused:
        dashboard.opener.open(dashboard.service.url(path), timeout=HTTP_TIMEOUT)
    return refused.value.code, html.unescape(refused.value.read().decode())


def test_changing_and_deleting_a_hold_order_tells_the_customer(
    live_service: LiveService,
) -> None:
    service = live_service
    account = service.create_publisher()  # no balance: orders wait on HOLD
    customer = f"{service.unique('buyer').lower()}@example.com"
    order_id = place(service, account, service.unique(), email=customer, name="Jo Smith")
    mail_dir = service.data_dir / "mail"
    placed = wait_for_subject(mail_dir, customer, f"Your order {order_id} from pressrun")
    assert "  Minneapolis, MN 55401\n  United States\n" in text_of(placed)
    link = re.search(r"^(http://\S+/c/[A-Za-z0-9_-]+)$", text_of(placed), re.MULTILINE)
    assert link, text_of(placed)

    line_id = service.shell(
        "from pressrun.orders.models import OrderLine; "
        f"print(OrderLine.objects.get(order_id={int(order_id)}).id)"
    )
    dashboard = Dashboard(service, account)
    form = dashboard.get(f"/orders/{order_id}/modify")
    after = dashboard.submit(
        form,
        f"/orders/{order_id}/modify",
        {
            "name": "Jo Smith",
            "company": "",
            "address": "2 High Street",
            "city": "London",
            "state": "",
            "postal_code": "SW1A 1AA",
            "country": "United Kingdom",
            "email": customer,
            "mail_method": "standard",
            f"quantity_{line_id}": "3",
        },
    )
    assert f"Order {order_id} is changed." in after
    changed = text_of(
        wait_for_subject(mail_dir, customer, f"Your order {order_id} from pressrun was changed")
    )
    assert "Items now:\n  3 x Single (CD) (was 1)\n" in changed
    assert "Shipping to (changed):\n  Jo Smith\n  2 High Street\n  London SW1A 1AA\n" in changed
    assert "  United Kingdom\n" in changed
    assert "\n  GB\n" not in changed

    detail = dashboard.get(f"/orders/{order_id}")
    page = dashboard.submit(detail, f"/orders/{order_id}/delete", {})
    assert f"Order {order_id}" in page
    assert "is deleted." in page
    cancelled = wait_for_subject(
        mail_dir, customer, f"Your order {order_id} from pressrun was cancelled"
    )
    assert str(cancelled["Reply-To"]) == account.email
    body = text_of(cancelled)
    assert f"pressrun cancelled your order {order_id} (invoice " in body
    assert "Nothing will be shipped and nothing will be charged for this order." in body
    assert "Items of the cancelled order:\n  3 x Single (CD)\n" in body
    assert f"write to {account.email}." in body

    # The order's pages now say what happened, styled, with the dashboard's navigation.
    status, page = error_page(dashboard, f"/orders/{order_id}")
    assert status == 404
    assert f"Order {order_id} was deleted on " in page
    assert "by dashboard (" in page
    assert 'aria-label="Main"' in page
    # The customer's link says the order was cancelled.
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(link.group(1), timeout=HTTP_TIMEOUT)
    assert gone.value.code == 410
    assert f"Order {order_id} was cancelled" in gone.value.read().decode()
    # Any unknown address is the styled page, never Django's bare one.
    status, page = error_page(dashboard, "/no/such/page")
    assert status == 404
    assert "There is no page at this address." in page
    assert "<h1>Not Found</h1>" not in page


REPLAYED = """
import json
from pressrun.carts.models import InboundDelivery
d = InboundDelivery.objects.get(id={delivery_id})
print(json.dumps([d.outcome, [o.id for o in d.orders.all()], d.dismissed_by]))
"""


def test_needs_attention_is_cleared_by_dismiss_replay_and_ignore(
    live_service: LiveService,
) -> None:
    service = live_service
    account = service.create_publisher(balance="100.00")
    body = order_json(order_id=str(int(time.time() * 1000)), skus=(("VTD234-100", 1, "CD"),))
    created = service.shell(
        "import json\n"
        "from django.utils import timezone\n"
        "from pressrun.carts.models import InboundDelivery, UnmatchedProduct\n"
        "from pressrun.carts.unmatched import CartProduct, unmatched_record\n"
        f"p = {account.id}\n"
        "d = InboundDelivery.objects.create(cart='shopify', publisher_id=p,\n"
        f"    received_at=timezone.now(), body={body!r}, topic='orders/fulfilled',\n"
        "    outcome='failed', reason='Gave up after 8 attempts: the database was down.')\n"
        "u = InboundDelivery.objects.create(cart='shopify', publisher_id=p,\n"
        "    received_at=timezone.now(), body=b'{}', topic='orders/fulfilled',\n"
        "    outcome='unmatched', reason='No line matches a project.')\n"
        "unmatched_record(delivery=u, products=[CartProduct('TOUR-POSTER', 'Poster')])\n"
        "print(json.dumps([d.id, UnmatchedProduct.objects.get(publisher_id=p).id]))\n"
    )
    delivery_id, product_id = json.loads(created)
    dashboard = Dashboard(service, account)
    home = dashboard.get("/home")
    assert 'data-testid="problem-count">2<' in home

    home = dashboard.submit(
        home, f"/integrations/deliveries/{delivery_id}/dismiss", {"back": "home"}
    )
    assert f"Delivery {delivery_id} is dismissed" in home
    assert 'data-testid="problem-count">1<' in home
    integrations = dashboard.submit(home, f"/integrations/unmatched/{product_id}/ignore", {})
    assert "Shopify product 'TOUR-POSTER' is ignored" in integrations
    assert 'data-testid="problem-count">0<' in dashboard.get("/home")

    # The cause fixed (the SKU now names a project), the publisher replays the delivery.
    service.shell(
        "from pressrun.catalog.models import Project\n"
        "from pressrun.catalog.services import project_update\n"
        f"project_update(project=Project.objects.get(id={account.project_ids[0]}),\n"
        "    ecommerce_ids='{VTD234-100}')\n"
    )
    page = dashboard.submit(integrations, f"/integrations/deliveries/{delivery_id}/replay", {})
    assert f"Delivery {delivery_id} is queued to be processed again" in page
    deadline = time.monotonic() + 60
    while True:
        outcome, orders, dismissed_by = json.loads(
            service.shell(REPLAYED.format(delivery_id=delivery_id))
        )
        if outcome != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert outcome == "order_created"
    assert len(orders) == 1
    assert dismissed_by == ""
    # A second replay is refused and makes no second order.
    page = dashboard.submit(
        dashboard.get("/integrations"), f"/integrations/deliveries/{delivery_id}/replay", {}
    )
    assert "only a failed or unmatched delivery can be replayed" in page
    assert json.loads(service.shell(REPLAYED.format(delivery_id=delivery_id)))[1] == orders
