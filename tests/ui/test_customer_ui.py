"""The customer's address-change page in a real browser, reached the way a customer reaches
it: a publisher's script places an order through the HTTP gateway, the real worker sends the
order notification (the file backend writes it under the service's data dir), and the link in
that email is opened without any login. The publisher then sees the change in the order's
history in the dashboard. After the postage delay the same link only says whom to contact,
and a submitted form changes nothing.

Stored values are read back with `pressrun shell` on the service's own database.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_customer_email_http import wait_for_email
from tests.e2e.test_gateway_http import place
from tests.live import Account, LiveService
from tests.ui.conftest import screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

COMPANY = "Harbor Lights Music"
# What order_fields() in the gateway tests sends as the customer's address.
PLACED_ADDRESS = "John H. Smith, 123 Some Street, Apt 12, Minneapolis, MN 55401, US"

STORED_ORDER = """
import json
from pressrun.orders.models import Order
order = Order.objects.get(id={order_id})
print(json.dumps(dict(
    status=order.status, name=order.name, company=order.company, address=order.address,
    city=order.city, state=order.state, postal_code=order.postal_code, country=order.country,
    events=[[event.kind, event.actor, event.message] for event in order.events.order_by("id")])))
"""


def stored_order(service: LiveService, order_id: str) -> dict[str, object]:
    stored: dict[str, object] = json.loads(
        service.shell(STORED_ORDER.format(order_id=int(order_id)))
    )
    return stored


def publisher_with_company(service: LiveService) -> Account:
    """A paid-up publisher with customer emails and address changes on (the defaults)."""
    account = service.create_publisher(balance="100.00")
    flags = service.shell(
        "from pressrun.accounts.models import Publisher\n"
        f"Publisher.objects.filter(id={account.id}).update(company={COMPANY!r})\n"
        f"p = Publisher.objects.get(id={account.id})\n"
        "print(p.customer_email_notifications, p.customer_address_changes, "
        "p.postage_delay_hours)"
    )
    assert flags == "True True 12", flags
    return account


def order_and_emailed_link(service: LiveService, account: Account) -> tuple[str, str]:
    """A gateway order over HTTP for a fresh customer address; returns the order ID and the
    address-change link from the notification email the worker sent."""
    customer = f"{service.unique('buyer').lower()}@example.com"
    order_id = place(service, account, service.unique(), email=customer)
    message = wait_for_email(service.data_dir / "mail", customer)
    assert str(message["Subject"]) == f"Your order {order_id} from {COMPANY}"
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = text_part.get_content()
    match = re.search(r"^(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)$", text, re.MULTILINE)
    assert match, text
    link = match.group(1)
    assert link.startswith(service.base_url + "/c/"), link
    assert "You can correct it until " in text
    return order_id, link


def fill_address(page: Page) -> None:
    page.get_by_label("Full name").fill("Jo  Smith")
    page.get_by_label("Company / attention").fill("")
    page.get_by_label("Street address").fill("9 Ocean Ave")
    page.get_by_label("City").fill("Santa Monica")
    page.get_by_label("State / province").fill("California")
    page.get_by_label("ZIP / postal code").fill("90401")
    page.get_by_label("Country").fill("United States")


def test_the_emailed_link_corrects_the_address_and_the_publisher_sees_it(
    page: Page, ui_service: LiveService
) -> None:
    account = publisher_with_company(ui_service)
    order_id, link = order_and_emailed_link(ui_service, account)
    assert stored_order(ui_service, order_id)["status"] == "PROCESSING"

    # The customer opens the link: no sign-in, the order and its address are shown.
    response = page.goto(link)
    assert response is not None
    assert response.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == f"Order {order_id}"
    assert page.locator(".seller").inner_text() == COMPANY
    assert page.locator(".status").inner_text() == "Received, being prepared"
    assert " ".join(page.locator("address").inner_text().split()) == (
        "John H. Smith 123 Some Street, Apt 12 Minneapolis, MN 55401 United States"
    )
    hint = page.locator(".hint").inner_text()
    assert re.fullmatch(
        r"You can correct it until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC, before postage is "
        r"printed\.",
        hint,
    ), hint
    assert page.get_by_label("Street address").input_value() == "123 Some Street, Apt 12"

    # A full state name and country name are normalized as at intake.
    fill_address(page)
    with page.expect_response(lambda r: r.url == link and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save the address").click()
    assert posted.value.status == 302, (posted.value.status, posted.value.text()[:300])
    page.wait_for_url(link + "?saved=1")
    assert page.get_by_role("status").inner_text().strip() == (
        "Thank you. Your address was updated."
    )
    assert " ".join(page.locator("address").inner_text().split()) == (
        "Jo Smith 9 Ocean Ave Santa Monica, CA 90401 United States"
    )
    assert page.get_by_label("State / province").input_value() == "CA"
    assert page.get_by_label("Country").input_value() == "United States"
    screenshot(page, "customer-address")

    corrected = (
        f"Address corrected: {PLACED_ADDRESS} → Jo Smith, 9 Ocean Ave, Santa Monica, CA 90401, US."
    )
    stored = stored_order(ui_service, order_id)
    events = stored.pop("events")
    assert stored == {
        "status": "PROCESSING",
        "name": "Jo Smith",
        "company": "",
        "address": "9 Ocean Ave",
        "city": "Santa Monica",
        "state": "CA",
        "postal_code": "90401",
        "country": "US",
    }
    assert isinstance(events, list)
    assert [event[0] for event in events] == ["placed", "charged", "address_corrected"]
    assert events[-1] == ["address_corrected", "customer", corrected]

    # The publisher signs in and finds the change in the order's history.
    page.context.clear_cookies()
    sign_in(page, ui_service, account)
    page.goto(ui_service.url(f"/orders/{order_id}"))
    assert (
        text_of(page, "order-address")
        == "Jo Smith 9 Ocean Ave Santa Monica, CA 90401 United States"
    )
    history = page.get_by_test_id("order-history").locator("tbody tr")
    last = history.last.locator("td")
    assert last.nth(1).inner_text() == corrected
    assert last.nth(3).inner_text() == "customer"


def _close_the_window(service: LiveService, order_id: str) -> None:
    """12 hours and a minute pass: the order was placed that long ago, and the end of its
    postage delay (fixed on the order at intake, `address_changes_until`) is a minute ago."""
    moved = service.shell(
        "from datetime import timedelta\n"
        "from django.db.models import F\n"
        "from pressrun.orders.models import Order\n"
        "past = timedelta(hours=12, minutes=1)\n"
        f"print(Order.objects.filter(id={int(order_id)}).update(\n"
        "    created_at=F('created_at') - past,\n"
        "    address_changes_until=F('address_changes_until') - past))"
    )
    assert moved == "1"
    # The worker's postage-window task now records the order ready (every second in the test
    # service); wait for it, so that what follows is compared with the order as it stays.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = stored_order(service, order_id)["events"]
        assert isinstance(events, list)
        if ["fulfillment", "postage window"] in [event[:2] for event in events]:
            return
        time.sleep(0.2)
    pytest.fail("the postage window task did not record the order ready")


def _assert_too_late(page: Page, account: Account) -> None:
    """The page says it is too late and whom to contact; no form, the old address."""
    closed = page.locator(".notice-closed")
    assert " ".join(closed.inner_text().split()) == (
        "Too late to change the address "
        "It is too late to change the address online: postage is being printed. "
        f"Please contact {COMPANY} at {account.email}."
    )
    mail_link = closed.get_by_role("link", name=account.email)
    assert mail_link.get_attribute("href") == f"mailto:{account.email}"
    assert page.locator("form").count() == 0
    assert page.get_by_role("status").count() == 0  # no "Your address was updated."
    assert " ".join(page.locator("address").inner_text().split()) == (
        "John H. Smith 123 Some Street, Apt 12 Minneapolis, MN 55401 United States"
    )


def test_after_the_postage_delay_the_link_says_whom_to_contact_and_changes_nothing(
    page: Page, ui_service: LiveService
) -> None:
    account = publisher_with_company(ui_service)
    order_id, link = order_and_emailed_link(ui_service, account)
    # The customer opened the link in time (so the browser holds the CSRF cookie and the
    # form's token)...
    page.goto(link)
    csrf_token = page.locator('input[name="csrfmiddlewaretoken"]').input_value()
    assert csrf_token
    events = stored_order(ui_service, order_id)["events"]
    assert isinstance(events, list)
    assert [event[0] for event in events] == ["placed", "charged"]

    # ...and comes back after the postage delay.
    _close_the_window(ui_service, order_id)
    before = stored_order(ui_service, order_id)
    response = page.goto(link)
    assert response is not None
    assert response.status == 200
    _assert_too_late(page, account)
    screenshot(page, "customer-too-late")

    # A POST with a valid CSRF token (the browser's cookie and the form's token) is answered
    # with the same page and writes nothing.
    posted = page.request.post(
        link,
        form={
            "csrfmiddlewaretoken": csrf_token,
            "name": "Jo Smith",
            "company": "",
            "address": "9 Ocean Ave",
            "city": "Santa Monica",
            "state": "California",
            "postal_code": "90401",
            "country": "United States",
        },
        max_redirects=0,
    )
    assert posted.status == 200, posted.status
    body = posted.text()
    assert "<h2>Too late to change the address</h2>" in body
    assert "Your address was updated." not in body
    assert "<form" not in body
    assert stored_order(ui_service, order_id) == before


def test_a_form_submitted_after_the_postage_delay_is_refused_in_the_browser(
    page: Page, ui_service: LiveService
) -> None:
    account = publisher_with_company(ui_service)
    order_id, link = order_and_emailed_link(ui_service, account)
    # The customer types the new address in time but submits it too late.
    page.goto(link)
    fill_address(page)
    _close_the_window(ui_service, order_id)
    before = stored_order(ui_service, order_id)
    with page.expect_response(lambda r: r.url == link and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save the address").click()
    # The page again (not the redirect of a saved change), saying it is too late.
    assert posted.value.status == 200, (posted.value.status, posted.value.text()[:300])
    page.wait_for_load_state()
    assert page.url == link
    _assert_too_late(page, account)
    assert stored_order(ui_service, order_id) == before
