"""A warehouse's carrier codes and shipping rules in the browser: a bad carrier-code file
shows its errors, a good one is previewed and confirmed; rules are added from the imported
codes, a pasted description shows which rule decides (or the error an order would stop with),
and a rule is deleted after confirmation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

CREATE = """
import json
from pressrun.warehouses.services import warehouse_create
connection = warehouse_create(name="Acme 3PL", publisher_id={publisher_id}).connection
print(json.dumps({{"id": connection.id}}))
"""


def test_carrier_codes_rules_and_the_tester(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    warehouse = json.loads(ui_service.shell(CREATE.format(publisher_id=account.id)))["id"]
    sign_in(page, ui_service, account)
    page.goto(ui_service.url("/integrations/warehouses"))
    page.get_by_role("link", name="Shipping rules").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Shipping rules of Acme 3PL"
    page.get_by_test_id("no-codes").get_by_role("link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Carrier codes of Acme 3PL"

    page.get_by_label("Carrier codes file (CSV)").set_input_files(
        {
            "name": "bad.csv",
            "mimeType": "text/csv",
            "buffer": b"Carrier,Code,Description\nUSPS,USPS_PRIORITY,\nUPS,,Ground\n",
        }
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    assert text_of(page, "carrier-codes-errors") == (
        "The file has 1 error(s): nothing was imported. Fix them and upload it again. "
        "Line 3: Code is blank."
    )
    page.get_by_label("Carrier codes file (CSV)").set_input_files(
        {
            "name": "codes.csv",
            "mimeType": "text/csv",
            "buffer": b"Carrier,Code,Description\nUSPS,USPS_PRIORITY,USPS Priority Mail\n"
            b"UPS,UPS_GROUND,UPS Ground\n",
        }
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    assert text_of(page, "preview-summary") == "2 added, 0 changed, 0 unchanged."
    with page.expect_navigation():
        page.get_by_role("button", name="Import these changes").click()
    assert page.get_by_role("status").first.inner_text().strip() == (
        "Carrier codes imported: 2 added, 0 changed, 0 unchanged."
    )
    assert text_of(page, "carrier-codes") == (
        "Carrier Code Description UPS UPS_GROUND UPS Ground USPS USPS_PRIORITY USPS Priority Mail"
    )

    page.goto(ui_service.url(f"/integrations/warehouses/{warehouse}/shipping-rules"))
    for match, text, code in (
        ("starts with", "Free", "USPS_PRIORITY — USPS USPS Priority Mail"),
        ("is", "Free Shipping", "UPS_GROUND — UPS UPS Ground"),
    ):
        page.get_by_label("When the cart's shipping description").select_option(label=match)
        page.get_by_label("this text").fill(text)
        page.get_by_label("send the warehouse the carrier code").select_option(label=code)
        with page.expect_navigation():
            page.get_by_role("button", name="Add the rule").click()
    assert text_of(page, "description-rules") == (
        "Rule Actions description is “Free Shipping” → UPS_GROUND Delete… "
        "description starts with “Free” → USPS_PRIORITY Delete…"
    )

    tester = page.get_by_label("A shipping description as your cart sends it")
    for description, expected in (
        (
            "Free Shipping",
            "“Free Shipping” is sent as UPS_GROUND (UPS · UPS Ground): your rule description "
            "is “Free Shipping” → UPS_GROUND.",
        ),
        (
            "Free Shipping (3-5 days)",
            "“Free Shipping (3-5 days)” is sent as USPS_PRIORITY (USPS · USPS Priority Mail): "
            "your rule description starts with “Free” → USPS_PRIORITY.",
        ),
        (
            "free shipping",
            "The shipping description “free shipping” matches no Shipping Description "
            "Transformer rule of this warehouse: add a rule that turns it into one of the "
            "warehouse's carrier codes.",
        ),
    ):
        tester.fill(description)
        with page.expect_navigation():
            page.get_by_role("button", name="Show which rule decides").click()
        assert text_of(page, "description-reading") == expected
    screenshot(page, "warehouse-shipping-rules")

    page.get_by_role("row", name="Free Shipping").get_by_text("Delete…").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, delete it").first.click()
    assert "Rule deleted: description is “Free Shipping” → UPS_GROUND." in (
        page.get_by_role("status").first.inner_text()
    )
    assert text_of(page, "description-rules") == (
        "Rule Actions description starts with “Free” → USPS_PRIORITY Delete…"
    )
