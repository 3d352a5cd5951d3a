"""Needs attention, cleared in a real browser: Dismiss a failed delivery, ignore a product
that is not a disc, then ask again from Integrations."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PROBLEMS = """
import json
from django.utils import timezone
from pressrun.carts.models import InboundDelivery, UnmatchedProduct
from pressrun.carts.unmatched import CartProduct, unmatched_record
p = {publisher_id}
d = InboundDelivery.objects.create(cart="samcart", publisher_id=p, received_at=timezone.now(),
    body=b"{{}}", outcome="failed", reason="Gave up after 8 attempts: the database was down.")
u = InboundDelivery.objects.create(cart="shopify", publisher_id=p, received_at=timezone.now(),
    body=b"{{}}", outcome="unmatched", reason="No line matches a project.")
unmatched_record(delivery=u, products=[CartProduct("GIFT-WRAP", "Gift wrap")])
print(json.dumps([d.id, UnmatchedProduct.objects.get(publisher_id=p).id]))
"""


def test_dismiss_ignore_and_ask_again_in_the_browser(page: Page, ui_service: LiveService) -> None:
    from playwright.sync_api import expect

    account = ui_service.create_publisher()
    delivery_id, _ = json.loads(ui_service.shell(PROBLEMS.format(publisher_id=account.id)))
    sign_in(page, ui_service, account)
    assert text_of(page, "problem-count") == "2"

    page.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Delivery {delivery_id} is dismissed: it no longer needs attention and stays in the "
        "delivery log."
    )
    assert text_of(page, "problem-count") == "1"

    page.get_by_role("button", name="Not a disc: never ask again").click()
    expect(page.get_by_role("status")).to_contain_text("Shopify product 'GIFT-WRAP' is ignored")
    assert text_of(page, "problem-count") == "0"

    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_test_id("ignored-products")).to_contain_text("GIFT-WRAP")
    expect(page.get_by_test_id("dismissed")).to_contain_text("Dismissed ")

    page.get_by_role("button", name="Ask again").click()
    expect(page.get_by_role("status")).to_have_text("Shopify product 'GIFT-WRAP' is listed again.")
    page.goto(ui_service.url("/home"))
    assert text_of(page, "problem-count") == "1"
