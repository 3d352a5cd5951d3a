"""The operators' shipping pages in the browser: an operator signs in, adds a shipping
station (its password shown once), imports tracking from pasted CSV rows after a preview,
and reads the margin report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_fulfillment_http import create_publisher
from tests.e2e.test_gateway_http import place
from tests.live import LiveService
from tests.ui.conftest import screenshot, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

OPERATOR_PASSWORD = "operator secret 456"


def test_stations_import_and_margin(page: Page, ui_service: LiveService) -> None:
    service = ui_service
    service.shell(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.filter(username='desk').delete()\n"
        f"get_user_model().objects.create_user('desk', '', {OPERATOR_PASSWORD!r}, is_staff=True)\n"
    )
    account = create_publisher(service, "--postage-delay-hours", "0")
    invoice = service.unique("UI")
    order_id = place(service, account, invoice)

    page.goto(service.url("/operator/shipping/"))
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(service.url("/operator/shipping/"))
    assert page.get_by_role("heading", level=1).inner_text() == "Shipping stations"

    page.get_by_label("Name").fill("Browser desk")
    page.get_by_role("button", name="Create the station").click()
    assert text_of(page, "endpoint-url") == service.url("/warehouses/shipstation")
    username = text_of(page, "station-username")
    assert username.startswith("station-")
    assert len(text_of(page, "station-password")) >= 30
    screenshot(page, "operator-shipping-stations")

    page.get_by_role("link", name="Import tracking").click()
    day = datetime.now(UTC).strftime("%m/%d/%Y")
    page.get_by_label("CSV rows").fill(
        "invoice or order id,carrier,service,tracking number,ship date,cost\n"
        f"{invoice},USPS,First-Class,9400111,{day},0.98\n"
    )
    page.get_by_role("button", name="Preview").click()
    assert text_of(page, "import-preview").endswith(
        f"shipped {day}, USPS First-Class 9400111, postage $0.98."
    )
    screenshot(page, "operator-shipping-import")
    page.get_by_role("button", name="Import 1 row").click()
    assert "Imported: 1 order(s) changed." in page.get_by_role("status").first.inner_text()

    page.get_by_role("link", name="Margin").click()
    rows = text_of(page, "margin-rows")
    assert f"{order_id} {account.id}" in rows
    assert "$0.98" in rows
    screenshot(page, "operator-shipping-margin")
