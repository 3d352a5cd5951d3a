"""Integrations → Webhooks in the browser: a refused URL explained beside the field, the
endpoint saved with its secret shown once, a test event sent by the real worker to a local
receiver and its answer in the log and on the delivery's page."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import screenshot, sign_in, text_of
from tests.webhooks import receiver as receiver_module

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e


def test_set_up_webhooks_and_send_a_test_event(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Integrations").click()
    page.get_by_role("link", name="Webhooks", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Webhooks"
    assert page.get_by_role("button", name="Send test event").is_disabled()

    page.get_by_label("Endpoint URL").fill("http://hooks.example.com/in")
    page.get_by_label("Send webhooks").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert page.locator("#id_url_error").inner_text() == (
        "The URL must start with https:// (webhooks are sent encrypted only)."
    )

    with receiver_module.running() as receiver:
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("Order held (placed on HOLD: the balance did not cover it)").uncheck()
        with page.expect_navigation():
            page.get_by_role("button", name="Save").click()
        secret = text_of(page, "webhook-secret")
        assert secret.startswith("whsec_")
        assert len(secret) == 49
        receiver.secret = secret

        with page.expect_navigation():
            page.get_by_role("button", name="Send test event").click()
        assert "is queued" in page.get_by_role("status").first.inner_text()
        [request] = receiver.wait_for(1)
        assert request.signature_valid
        assert request.json()["type"] == "webhook.test"

        deadline = time.monotonic() + 30
        log = page.get_by_test_id("webhook-log")
        while "Delivered" not in log.inner_text():
            assert time.monotonic() < deadline, log.inner_text()
            time.sleep(0.5)
            page.reload()
        assert "HTTP 200" in log.inner_text()
        # The secret is not on the page any more, only its end.
        assert secret not in page.content()
        assert text_of(page, "webhook-secret-hint") == "••••••••" + secret[-4:]
        screenshot(page, "webhooks")

        log.get_by_role("link").first.click()
        attempts = page.get_by_test_id("webhook-attempts").inner_text()
        assert "HTTP 200" in attempts
        assert receiver.url in attempts
        with page.expect_navigation():
            page.get_by_role("button", name="Send again").click()
        assert "is queued to be sent again" in page.get_by_role("status").first.inner_text()
        _, again = receiver.wait_for(2)
        assert again.headers["pressrun-event-id"] == request.headers["pressrun-event-id"]
