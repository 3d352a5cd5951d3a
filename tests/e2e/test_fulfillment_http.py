"""A paid gateway order through its physical life with the real server and worker: placed for
a publisher created with a 0-hour postage delay, moved from waiting to ready by the worker's
window task, shipped by an operator on the admin's Change status page, and reported SHIPPED
with ShipDate (mm/dd/yyyy) and TrackingID by the status call, with the tracking email sent."""

from __future__ import annotations

import html
import http.cookiejar
import re
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.test_customer_email_http import SEPARATOR
from tests.e2e.test_gateway_http import STATUS, place, sections, send, status_fields
from tests.live import CD_SLEEVE, Account, LiveService

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0
OPERATOR_PASSWORD = "operator secret 123"


def create_publisher(service: LiveService, *delay: str) -> Account:
    """A publisher made with the CLI as an operator would, `createpublisher *delay`."""
    email = f"{service.unique('fulfil').lower()}@example.com"
    password = "correct horse battery"
    args = ["createpublisher", "--email", email, "--password", password, *delay]
    publisher_id = int(service.setup(*args).strip())
    [(title, media, packaging, price, _)] = CD_SLEEVE
    project = service.setup(
        "createproject",
        *("--publisher", str(publisher_id), "--title", title, "--media", media),
        *("--packaging", packaging, "--price", price),
    )
    service.setup("addcredit", "--publisher", str(publisher_id), "--amount", "50.00")
    return Account(publisher_id, email, password, (int(project.strip()),))


def order_state(service: LiveService, order_id: str) -> list[str]:
    """The order's status and physical state, then one line per fulfillment event."""
    return service.shell(
        "from pressrun.orders.models import Order, OrderEvent\n"
        f"o = Order.objects.get(id={int(order_id)})\n"
        "print(o.status, o.fulfillment_state, o.postage_cost, sep='|')\n"
        "for e in OrderEvent.objects.filter(order=o, kind='fulfillment').order_by('id'):\n"
        "    print(e.from_state, e.to_state, e.actor, sep='|')\n"
    ).splitlines()


def wait_for(happened: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if happened():
            return
        time.sleep(0.3)
    pytest.fail(f"{what} did not happen within {WAIT_SECONDS:.0f} s")


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


def shipped_email(mail_dir: Path, order_id: str) -> bytes | None:
    needle = f"Subject: Your order {order_id} has shipped".encode()
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.is_dir() else []:
        for raw in path.read_bytes().split(SEPARATOR):
            if needle in raw:
                return raw
    return None


def test_createpublisher_refuses_a_delay_out_of_range(live_service: LiveService) -> None:
    result = live_service.run(
        "createpublisher",
        *("--email", "too-late@example.com", "--password", "secret-pass"),
        *("--postage-delay-hours", "169"),
    )
    assert result.returncode != 0
    assert "The postage delay must be between 0 and 168 hours." in result.stderr


def test_a_paid_order_waits_becomes_ready_ships_and_reports_shipped(
    live_service: LiveService,
) -> None:
    service = live_service
    account = create_publisher(service, "--postage-delay-hours", "0")
    invoice = service.unique("SHIP")
    customer = f"{service.unique('buyer').lower()}@example.com"
    order_id = place(service, account, invoice, email=customer)

    # Paid at once and waiting for its window (0 hours); the worker's window task makes it
    # ready. The status call says PROCESSING all along.
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert (section["OrderStatus"], section["ShipDate"], section["TrackingID"]) == (
        "PROCESSING",
        "",
        "",
    )
    wait_for(lambda: order_state(service, order_id)[0] == "PROCESSING|ready|None", "ready")
    assert order_state(service, order_id)[1:] == ["waiting|ready|postage window"]

    # An operator signs in to the admin and ships it from "Change status".
    service.shell(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.filter(username='shipper').delete()\n"
        f"get_user_model().objects.create_superuser('shipper', '', {OPERATOR_PASSWORD!r})\n"
    )
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login_url = service.url("/admin/login/?next=/admin/")
    with browser.open(login_url, timeout=30) as response:
        token = csrf_token(response.read().decode())
    form = {"csrfmiddlewaretoken": token, "username": "shipper", "password": OPERATOR_PASSWORD}
    with browser.open(
        urllib.request.Request(login_url, data=urlencode(form).encode()), timeout=30
    ) as response:
        assert response.geturl() == service.url("/admin/")
    change_url = service.url(f"/admin/orders/order/{order_id}/transition/")
    with browser.open(change_url, timeout=30) as response:
        page = response.read().decode()
    assert re.findall(r'<option value="([a-z_]+)"', page) == [
        "in_production",
        "packed",
        "shipped",
        "address_error",
        "cancelled",
    ]
    today = datetime.now(UTC).date()
    form = {
        "csrfmiddlewaretoken": csrf_token(page),
        "to": "shipped",
        "ship_date": today.isoformat(),
        "carrier": "USPS",
        "service": "First-Class Mail",
        "tracking_id": "9400 1118 9922 3344 5566 77",
        "postage_cost": "4.63",
    }
    with browser.open(
        urllib.request.Request(change_url, data=urlencode(form).encode()), timeout=30
    ) as response:
        assert response.geturl() == service.url(f"/admin/orders/order/{order_id}/change/")
        assert "is now SHIPPED, shipped." in response.read().decode()
    assert order_state(service, order_id) == [
        "SHIPPED|shipped|4.63",
        "waiting|ready|postage window",
        "ready|shipped|operator:shipper",
    ]

    # The status call: SHIPPED, ShipDate mm/dd/yyyy, TrackingID as entered.
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert section == {
        "ErrorNum": "0",
        "ErrorDesc": "",
        "CustName": "John H. Smith",
        "Invoice": invoice,
        "OrderStatus": "SHIPPED",
        "OrderStatusErrNum": "0",
        "OrderStatusErrDesc": "",
        "ShipDate": today.strftime("%m/%d/%Y"),
        "ShippingMethod": "standard",
        "TrackingID": "9400 1118 9922 3344 5566 77",
    }

    # The worker sent the customer's tracking email.
    mail_dir = service.data_dir / "mail"
    wait_for(lambda: shipped_email(mail_dir, order_id) is not None, "the tracking email")
    raw = shipped_email(mail_dir, order_id)
    assert raw is not None
    message = message_from_bytes(raw.lstrip(b"\n"), policy=policy.default)
    assert str(message["To"]) == customer
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Tracking number (USPS): 9400 1118 9922 3344 5566 77" in body.get_content()
