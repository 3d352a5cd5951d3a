"""Shipping rules in the browser, by keyboard only: a publisher adds a rule, tries a
description, and deletes the rule after confirming."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e


def stored_rules(service: LiveService, publisher_id: int) -> list[list[str]]:
    rules: list[list[str]] = json.loads(
        service.shell(
            "import json; from pressrun.carts.models import ShippingRule; print(json.dumps("
            f"[[r.match, r.text, r.mail_method] for r in ShippingRule.objects.filter("
            f"publisher_id={publisher_id}).order_by('position')]))"
        )
    )
    return rules


def test_add_try_and_delete_a_shipping_rule_with_the_keyboard(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher()
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Integrations").click()
    page.get_by_role("link", name="Shipping rules").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Shipping rules"

    page.get_by_label("When the cart's shipping description").select_option("starts_with")
    page.get_by_label("ship by").select_option("express")
    page.get_by_label("this text").fill("Overnight")
    with page.expect_navigation():
        page.get_by_label("this text").press("Enter")  # submits the form
    assert page.get_by_role("status").first.inner_text().strip() == (
        "Rule added: description starts with 'overnight' → Express (1-2 days)."
    )
    assert stored_rules(ui_service, account.id) == [["starts_with", "overnight", "express"]]

    page.get_by_label("A shipping description as your cart sends it").fill("Overnight Air")
    page.get_by_label("A shipping description as your cart sends it").press("Enter")
    assert text_of(page, "shipping-reading") == (
        "“Overnight Air” ships by Express (1-2 days): your rule description starts with "
        "'overnight' → Express (1-2 days)."
    )
    screenshot(page, "shipping-rules")

    page.get_by_text("Delete…").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Yes, delete it").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("status").first.inner_text().strip() == (
        "Rule deleted: description starts with 'overnight' → Express (1-2 days)."
    )
    assert stored_rules(ui_service, account.id) == []
