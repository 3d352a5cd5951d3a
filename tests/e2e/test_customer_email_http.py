"""A gateway order's notification email, written by the real worker, and its link followed
over HTTP to the real server to correct the address."""

from __future__ import annotations

import html
import http.cookiejar
import re
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.test_gateway_http import place
from tests.live import LiveService

pytestmark = pytest.mark.e2e

EMAIL_WAIT_SECONDS = 60.0
SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def wait_for_email(mail_dir: Path, recipient: str) -> EmailMessage:
    """The one email to `recipient` the file backend wrote, once the worker has sent it."""
    deadline = time.monotonic() + EMAIL_WAIT_SECONDS
    needle = f"To: {recipient}".encode()
    while time.monotonic() < deadline:
        found = []
        for path in sorted(mail_dir.glob("*.log")) if mail_dir.is_dir() else []:
            for raw in path.read_bytes().split(SEPARATOR):
                if needle in raw:
                    found.append(raw)
        if found:
            assert len(found) == 1, found
            message = message_from_bytes(found[0].lstrip(b"\n"), policy=policy.default)
            assert isinstance(message, EmailMessage)
            return message
        time.sleep(0.2)
    pytest.fail(f"no email to {recipient} within {EMAIL_WAIT_SECONDS:.0f} s")


def test_gateway_order_email_link_changes_the_address(live_service: LiveService) -> None:
    service = live_service
    account = service.create_publisher(balance="100.00")
    customer = f"{service.unique('buyer').lower()}@example.com"
    order_id = place(
        service,
        account,
        service.unique(),
        email=customer,
        name="Jo <b>Smith</b>",
        nprice="12.50",
    )

    message = wait_for_email(service.data_dir / "mail", customer)
    assert str(message["Subject"]) == f"Your order {order_id} from pressrun"
    assert str(message["Reply-To"]) == account.email
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None
    assert html_part is not None
    text = text_part.get_content()
    assert "Hello Jo <b>Smith</b>," in text
    assert "Price: $12.50" in text
    assert "Hello Jo &lt;b&gt;Smith&lt;/b&gt;," in html_part.get_content()
    match = re.search(r"^(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)$", text, re.MULTILINE)
    assert match, text
    link = match.group(1)
    assert link.startswith(service.base_url + "/c/")
    assert f'<a href="{link}"' in html_part.get_content()

    # The customer follows the link, sees the order, and corrects the address.
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with browser.open(link, timeout=30) as response:
        assert response.status == 200
        page = response.read().decode()
    assert f"<h1>Order {order_id}</h1>" in page
    assert "123 Some Street, Apt 12" in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page
    form = {
        "csrfmiddlewaretoken": html.unescape(token.group(1)),
        "name": "Jo Smith",
        "company": "",
        "address": "9 Ocean Ave",
        "city": "Santa Monica",
        "state": "california",
        "postal_code": "90401",
        "country": "United States",
    }
    request = urllib.request.Request(link, data=urlencode(form).encode(), method="POST")
    with browser.open(request, timeout=30) as response:  # follows the redirect
        assert response.status == 200
        assert response.geturl() == link + "?saved=1"
        after = response.read().decode()
    assert "Your address was updated." in after
    assert "Santa Monica, CA 90401<br>" in after

    stored = service.shell(
        "from pressrun.orders.models import Order, OrderEvent\n"
        f"o = Order.objects.get(id={int(order_id)})\n"
        "print(o.address, o.city, o.state, o.postal_code, o.country, sep='|')\n"
        "e = OrderEvent.objects.get(order=o, kind='address_corrected')\n"
        "print(e.actor, e.message, sep='|')\n"
    ).splitlines()
    assert stored[0] == "9 Ocean Ave|Santa Monica|CA|90401|US"
    assert stored[1] == (
        "customer|Address corrected: Jo <b>Smith</b>, 123 Some Street, Apt 12, Minneapolis, "
        "MN 55401, US → Jo Smith, 9 Ocean Ave, Santa Monica, CA 90401, US."
    )

    # Without the form's token the server refuses the change.
    forged = urllib.request.Request(link, data=urlencode(form).encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=30)
    assert refused.value.code == 403
