"""Address errors in a real browser against the real service: the customer fixes a stopped
order through the reopened link of the email the worker sent, and an operator reports a
problem and corrects an address on the "Address errors" page."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_gateway_http import place
from tests.fulfillment.test_address_http import (
    publisher_without_postage_delay,
    wait_for_email,
    wait_for_status,
)
from tests.live import LiveService
from tests.ui.conftest import screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PROBLEM = "ZIP code 55401 is not in Texas (TX); check the state and the ZIP code."


def stored(service: LiveService, order_id: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(
        service.shell(
            "import json\n"
            "from pressrun.orders.models import Order\n"
            f"o = Order.objects.get(id={int(order_id)})\n"
            "e = o.events.order_by('-at', '-id').first()\n"
            "print(json.dumps(dict(state=o.fulfillment_state, status=o.status, st=o.state, "
            "error=o.error_description, last=[e.kind, e.actor, e.message])))"
        )
    )
    return result


def test_the_customer_fixes_a_stopped_order_in_the_browser(
    ui_service: LiveService, page: Page
) -> None:
    service = ui_service
    account = publisher_without_postage_delay(service)
    customer = f"{service.unique('buyer').lower()}@example.com"
    invoice = service.unique()
    order_id = place(service, account, invoice, email=customer, st="TX")
    wait_for_status(service, account, invoice, "ERROR")
    message = wait_for_email(
        service.data_dir / "mail", customer, f"Please check the address of your order {order_id}"
    )
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    link = re.search(r"^(http://\S+/c/[A-Za-z0-9_-]+)$", text_part.get_content(), re.M)
    assert link

    page.goto(link.group(1))
    problem = page.get_by_test_id("address-problem")
    assert PROBLEM in problem.inner_text()
    screenshot(page, "customer-address-problem")
    page.get_by_label("State / province").fill("Minnesota")
    page.get_by_role("button", name="Save the address").click()
    page.wait_for_url(link.group(1) + "?saved=1")
    assert "Your address was updated." in page.content()
    assert page.get_by_role("button", name="Save the address").count() == 0

    after = stored(service, order_id)
    assert (after["state"], after["status"], after["st"], after["error"]) == (
        "ready",
        "PROCESSING",
        "MN",
        "",
    )
    assert after["last"] == ["fulfillment", "customer", "Address corrected: ready to be made."]


def test_an_operator_reports_and_corrects_on_the_address_errors_page(
    ui_service: LiveService, page: Page
) -> None:
    service = ui_service
    account = publisher_without_postage_delay(service)
    invoice = service.unique()
    order_id = place(service, account, invoice, email="")
    # Wait for the worker's check to pass before reporting (it would find nothing wrong).
    deadline = time.monotonic() + 60
    while not service.shell(
        "from pressrun.orders.models import Order\n"
        f"print(Order.objects.get(id={int(order_id)}).address_check_note)"
    ):
        assert time.monotonic() < deadline, "the address check did not run"
        time.sleep(0.3)
    username = f"op-{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    service.shell(
        "from django.contrib.auth.models import User\n"
        f"User.objects.create_user({username!r}, password={password!r}, is_staff=True)"
    )

    page.goto(service.url("/operator/address-errors/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(service.url("/operator/address-errors/"))
    page.get_by_label("Order number").fill(order_id)
    page.get_by_label("What is wrong with the address").fill("Returned: no such street number.")
    page.get_by_role("button", name="Stop the order for its address").click()
    page.wait_for_url(service.url("/operator/address-errors/"))
    row = page.locator(f'tr[data-order="{order_id}"]')
    assert "Returned: no such street number." in row.inner_text()
    assert stored(service, order_id)["status"] == "ERROR"
    screenshot(page, "operator-address-errors")

    row.get_by_role("link", name="Correct the address").click()
    page.get_by_label("Street address").fill("125 Some Street")
    page.get_by_role("button", name="Save the address").click()
    page.wait_for_url(service.url("/operator/address-errors/"))
    assert page.locator(f'tr[data-order="{order_id}"]').count() == 0
    after = stored(service, order_id)
    assert (after["state"], after["status"]) == ("ready", "PROCESSING")
    assert after["last"] == [
        "fulfillment",
        f"operator:{username}",
        "Address corrected: ready to be made.",
    ]
