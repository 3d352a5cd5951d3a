"""The address-error flow with the real processes: a gateway order whose ZIP code is in
another state is stopped by the real worker's check, the publisher's status call says ERROR /
10 with the description, the customer's email (written by the worker) carries the reopened
link, the customer corrects the address over HTTP on the real server, and the order is back
in production, recorded as fixed by the customer, and checked again."""

from __future__ import annotations

import html
import http.cookiejar
import re
import time
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.test_gateway_http import ORDER, STATUS, sections, send, status_fields, success
from tests.live import Account, LiveService

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0
SEPARATOR = b"\n" + b"-" * 79 + b"\n"
PROBLEM = "ZIP code 55401 is not in Texas (TX); check the state and the ZIP code."


def publisher_without_postage_delay(service: LiveService) -> Account:
    """A publisher whose orders may be made as soon as they are paid (postage delay 0)."""
    email = f"{service.unique('publisher').lower()}@example.com"
    password = "pw-address-errors-1234"
    publisher_id = int(
        service.pressrun(
            "createpublisher",
            "--email",
            email,
            "--password",
            password,
            "--postage-delay-hours",
            "0",
            "--address-error-reminder-days",
            "7",
        ).strip()
    )
    project_id = int(
        service.pressrun(
            "createproject",
            "--publisher",
            str(publisher_id),
            "--title",
            "Single (CD)",
            "--media",
            "cd",
            "--packaging",
            "sleeve",
            "--price",
            "4.50",
        ).strip()
    )
    service.pressrun("addcredit", "--publisher", str(publisher_id), "--amount", "100.00")
    return Account(id=publisher_id, email=email, password=password, project_ids=(project_id,))


def wait_for_email(mail_dir: Path, recipient: str, subject: str) -> EmailMessage:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.log")) if mail_dir.is_dir() else []:
            for raw in path.read_bytes().split(SEPARATOR):
                message = message_from_bytes(raw.lstrip(b"\n"), policy=policy.default)
                if str(message["To"]) == recipient and str(message["Subject"]) == subject:
                    assert isinstance(message, EmailMessage)
                    return message
        time.sleep(0.2)
    pytest.fail(f"no email {subject!r} to {recipient} within {WAIT_SECONDS:.0f} s")


def order_status(service: LiveService, account: Account, invoice: str) -> dict[str, str]:
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    return section


def wait_for_status(
    service: LiveService, account: Account, invoice: str, expected: str
) -> dict[str, str]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        section = order_status(service, account, invoice)
        if section["OrderStatus"] == expected:
            return section
        time.sleep(0.3)
    pytest.fail(f"order {invoice} did not become {expected} within {WAIT_SECONDS:.0f} s")


def test_address_error_fixed_through_the_customer_link(live_service: LiveService) -> None:
    service = live_service
    account = publisher_without_postage_delay(service)
    customer = f"{service.unique('buyer').lower()}@example.com"
    invoice = service.unique()
    fields = {
        "ordermethod": "url",
        "source": "cdfulfill",
        "CoLoginEmail": account.email,
        "CoLoginPassword": account.password,
        "mode": "prod",
        "productid": str(account.project_ids[0]),
        "quantity": "1",
        "Invoice": invoice,
        "name": "Jo Smith",
        "addr": "123 Some Street",
        "city": "Minneapolis",
        "st": "TX",
        "zip": "55401",
        "email": customer,
    }
    order_id = success(send(service, ORDER, fields=fields))["Order"]

    # The worker checks the paid order's address and stops it.
    section = wait_for_status(service, account, invoice, "ERROR")
    assert section["OrderStatusErrNum"] == "10"
    assert section["OrderStatusErrDesc"] == f"Error with address. {PROBLEM}"

    message = wait_for_email(
        service.data_dir / "mail", customer, f"Please check the address of your order {order_id}"
    )
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert PROBLEM in text
    match = re.search(r"^(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)$", text, re.MULTILINE)
    assert match, text
    link = match.group(1)

    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with browser.open(link, timeout=30) as response:
        page = response.read().decode()
    assert "We cannot ship this order to this address yet." in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page
    form = {
        "csrfmiddlewaretoken": html.unescape(token.group(1)),
        "name": "Jo Smith",
        "company": "",
        "address": "123 Some Street",
        "city": "Minneapolis",
        "state": "Minnesota",
        "postal_code": "55401",
        "country": "US",
    }
    request = urllib.request.Request(link, data=urlencode(form).encode(), method="POST")
    with browser.open(request, timeout=30) as response:
        assert response.geturl() == link + "?saved=1"
        after = response.read().decode()
    assert "Your address was updated." in after
    assert "Too late to change the address" in after  # the link closed again

    section = order_status(service, account, invoice)
    assert (section["OrderStatus"], section["OrderStatusErrNum"]) == ("PROCESSING", "0")
    # Back to ready, fixed by the customer; the worker checks the new address.
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        stored = service.shell(
            "from pressrun.orders.models import Order, OrderEvent\n"
            f"o = Order.objects.get(id={int(order_id)})\n"
            "e = OrderEvent.objects.filter(order=o).order_by('-at', '-id').first()\n"
            "print(o.fulfillment_state, o.state, o.address_check_note, sep='|')\n"
            "print(e.kind, e.message, e.actor, sep='|')\n"
        ).splitlines()
        if stored[0].endswith("|Offline check passed.") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert stored[0] == "ready|MN|Offline check passed."
    assert stored[1] == "fulfillment|Address corrected: ready to be made.|customer"
