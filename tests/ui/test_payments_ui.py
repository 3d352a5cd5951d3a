"""Adding credit in a real browser: the Billing page's form redirects to Stripe's payment page
(the emulator) — which the page's Content Security Policy must allow — and back."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.e2e


def text(locator: Locator) -> str:
    return " ".join(locator.inner_text().split())


def test_add_credit_goes_to_stripe_and_back(page: Page, ui_service: LiveService) -> None:
    stripe = ui_service.stripe
    assert stripe is not None
    account = ui_service.create_publisher()
    sign_in(page, ui_service, account)
    page.goto(ui_service.url("/billing"))
    section = page.locator("#add-credit")
    assert "Pay by card on Stripe's secure page" in text(section)
    page.get_by_label("Amount ($)").fill("1e3")
    page.get_by_role("button", name="Continue to payment").click()
    assert "'1e3' is not an amount" in text(page.locator("#add-credit"))
    page.get_by_label("Amount ($)").fill("42.50")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(re.escape(stripe.base_url) + r"/c/pay/cs_test_"))
    assert "Pay $42.50 USD" in text(page.locator("h1"))
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(ui_service.url("/billing"))
    assert "Thank you: your payment of $42.50 is added to your balance." in text(
        page.locator(".messages")
    )
    assert text(page.get_by_test_id("balance")) == "$42.50"
