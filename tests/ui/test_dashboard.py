"""The publisher dashboard in a real browser: sign-in, home, settings, passwords,
integrations, billing, and a phone-sized screen.

Each test signs in a publisher of its own (made with the real `pressrun` commands), so the
numbers it checks are exact whatever ran before. Values are read back through the pages and
through `pressrun shell` on the service's own database.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.carts.shopify_payloads import order_json
from tests.live import Account, LiveService
from tests.ui.conftest import PHONE, screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PLACE_ORDERS = """
from pressrun.accounts.models import Publisher
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
publisher = Publisher.objects.get(id={publisher_id})
ids = []
for number in range({count}):
    order = order_place(publisher=publisher, request=OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id={project_id}, quantity=1),),
        recipient=RecipientRequest(name="Ada Customer " + str(number), address="1 Main Street",
            city="Springfield", state="IL", postal_code="62701", country="US"),
        mode="prod", source="gateway", invoice="{prefix}-" + str(number)))
    ids.append(order.id)
print(ids)
"""


def place_orders(service: LiveService, account: Account, count: int) -> list[int]:
    """`count` production orders of one CD in a sleeve ($4.50 + $1.50 letter postage)."""
    code = PLACE_ORDERS.format(
        publisher_id=account.id,
        project_id=account.project_ids[0],
        count=count,
        prefix=service.unique("UI"),
    )
    ids: list[int] = json.loads(service.shell(code))
    return ids


def publisher_values(service: LiveService, account: Account, *fields: str) -> dict[str, object]:
    """The publisher's stored values of `fields`, read from the service's database."""
    names = ", ".join(repr(field) for field in fields)
    code = (
        "import json; from pressrun.accounts.models import Publisher; "
        f"row = Publisher.objects.filter(id={account.id}).values({names}).get(); "
        "print(json.dumps(row, default=str))"
    )
    values: dict[str, object] = json.loads(service.shell(code))
    return values


def test_sign_in_refuses_a_wrong_password_then_signs_in(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher()
    page.goto(ui_service.url("/"))
    page.wait_for_url(ui_service.url("/sign-in"))
    screenshot(page, "sign-in")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().strip() == (
        "The email and password do not match an account."
    )
    assert page.url == ui_service.url("/sign-in")
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(ui_service.url("/home"))
    assert page.get_by_role("heading", level=1).inner_text() == "Home"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(ui_service.url("/sign-in"))
    page.goto(ui_service.url("/billing"))
    page.wait_for_url(ui_service.url("/sign-in?next=%2Fbilling"))


def test_sign_in_is_throttled_with_growing_delays(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    page.goto(ui_service.url("/sign-in"))

    def attempt(password: str) -> str:
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        return page.get_by_role("alert").inner_text().strip()

    for n in range(5):
        assert "do not match an account" in attempt(f"wrong password {n}")
    # Then each further attempt from this browser's address waits 1 s, 2 s, 4 s… after the
    # latest failure: wait as told until seven have been checked.
    checked, n = 5, 5
    while checked < 7:
        answer = attempt(f"wrong password {n}")
        if "do not match an account" in answer:
            checked, n = checked + 1, n + 1
            continue
        waited = re.fullmatch(
            r"Too many failed sign-in attempts for this account from your address\. "
            r"Try again in (\d+) seconds?\.",
            answer,
        )
        assert waited, answer
        time.sleep(int(waited.group(1)) + 0.2)
    # Even the right password is refused during the delay (4 s after the seventh failure).
    answer = attempt(account.password)
    assert re.fullmatch(
        r"Too many failed sign-in attempts for this account from your address\. "
        r"Try again in [1-4] seconds?\.",
        answer,
    ), answer
    assert page.url == ui_service.url("/sign-in")


def test_home_shows_balance_holds_problems_and_chart(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    order_ids = place_orders(ui_service, account, 2)
    ui_service.pressrun("addcredit", "--publisher", str(account.id), "--amount", "5.00")
    sign_in(page, ui_service, account)
    assert text_of(page, "balance") == "$5.00"
    assert text_of(page, "hold-count") == "2"
    assert text_of(page, "hold-needed") == (
        "They cost $12.00. A payment of $7.00 releases all of them."
    )
    assert text_of(page, "problem-count") == "0"
    summary = page.locator("figure.chart figcaption").inner_text()
    assert re.fullmatch(
        r"2 production orders from \w{3} \d{2} to \w{3} \d{2}; busiest day 2\.", summary
    ), summary
    # Today's bar is the last one and fills the plot.
    last_bar = page.locator("svg rect.bar").last
    assert last_bar.get_attribute("height") == "128.0"
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    assert rows.first.locator("td").first.inner_text() == str(order_ids[1])
    assert "HOLD" in rows.first.inner_text()
    screenshot(page, "home")


def test_settings_change_and_cart_credentials(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Company").fill("Harbor Lights Music")
    page.get_by_label("Default mail method").select_option("priority")
    page.get_by_label("Email customers when their order is placed and shipped").uncheck()
    page.get_by_label("Postage delay (hours)").fill("24")
    page.get_by_label("Error email").fill("Errors@Harbor.example")
    page.get_by_label("orders/paid").check()
    page.get_by_role("button", name="Save settings").click()
    assert page.get_by_role("status").inner_text().strip() == "Your settings are saved."
    assert publisher_values(
        ui_service,
        account,
        "company",
        "default_mail_method",
        "customer_email_notifications",
        "postage_delay_hours",
        "error_email",
        "shopify_topics",
    ) == {
        "company": "Harbor Lights Music",
        "default_mail_method": "priority",
        "customer_email_notifications": False,
        "postage_delay_hours": 24,
        "error_email": "errors@harbor.example",
        "shopify_topics": "orders/fulfilled,orders/paid",
    }
    # A refused value is explained next to its field and nothing is saved.
    page.get_by_label("Postage delay (hours)").fill("500")
    page.get_by_role("button", name="Save settings").click()
    assert "less than or equal to 168" in page.locator(".field.has-error").inner_text()
    assert publisher_values(ui_service, account, "postage_delay_hours") == {
        "postage_delay_hours": 24
    }

    page.get_by_label("1ShoppingCart merchant ID").fill("123456")
    page.get_by_label("1ShoppingCart merchant API key").fill("3B2EA25FBE9B4E31915F3CEDD74E8E78")
    page.get_by_role("button", name="Save cart credentials").click()
    assert text_of(page, "api-key-hint") == "••••••••8E78"
    assert "3B2EA25FBE9B4E31915F3CEDD74E8E78" not in page.content()
    screenshot(page, "settings")

    # Replacing the cart token asks first, then changes the URLs.
    before = publisher_values(ui_service, account, "cart_token")["cart_token"]
    page.get_by_text("Replace the cart token…").click()
    page.get_by_role("button", name="Yes, replace it").click()
    page.wait_for_url(ui_service.url("/integrations"))
    after = publisher_values(ui_service, account, "cart_token")["cart_token"]
    assert after != before
    assert f"token={after}" in text_of(page, "shopify-url")


def test_password_change_signs_out_other_browsers(
    page: Page, ui_service: LiveService, browser: object
) -> None:
    account = ui_service.create_publisher()
    other_context = browser.new_context()  # type: ignore[attr-defined]
    other = other_context.new_page()
    sign_in(other, ui_service, account)
    sign_in(page, ui_service, account)
    page.goto(ui_service.url("/settings/password"))
    page.get_by_label("Current password").fill("not it")
    page.get_by_label("New password", exact=True).fill("a brand new secret")
    page.get_by_label("New password again").fill("a brand new secret")
    page.get_by_role("button", name="Change password").click()
    assert "This is not your current password." in page.locator(".has-error").inner_text()
    page.get_by_label("Current password").fill(account.password)
    page.get_by_label("New password", exact=True).fill("a brand new secret")
    page.get_by_label("New password again").fill("a brand new secret")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(ui_service.url("/settings"))
    # This browser stays signed in; the other one is sent to the sign-in page.
    page.goto(ui_service.url("/home"))
    assert page.url == ui_service.url("/home")
    other.goto(ui_service.url("/home"))
    assert other.url == ui_service.url("/sign-in?next=%2Fhome")
    other_context.close()
    page.get_by_role("button", name="Sign out").click()
    renewed = Account(
        id=account.id, email=account.email, password="a brand new secret", project_ids=()
    )
    sign_in(page, ui_service, renewed)


def test_password_reset_by_emailed_link(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    mail_dir = ui_service.data_dir / "mail"
    before = set(mail_dir.glob("*")) if mail_dir.exists() else set()
    page.goto(ui_service.url("/sign-in"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Login email").fill(account.email)
    page.get_by_role("button", name="Email me a link").click()
    assert (
        "a link to choose a new password is on its way" in page.get_by_role("status").inner_text()
    )
    body = _wait_for_mail(mail_dir, before, account.email)
    match = re.search(r"https?://\S+(/password-reset/\S+)", body)
    assert match, body
    link = ui_service.url(match.group(1))
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("reset secret 123")
    page.get_by_label("New password again").fill("reset secret 123")
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(ui_service.url("/sign-in"))
    # The link worked once.
    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text() == "This link no longer works"
    sign_in(
        page,
        ui_service,
        Account(id=account.id, email=account.email, password="reset secret 123", project_ids=()),
    )


def _wait_for_mail(mail_dir: Path, before: set[Path], recipient: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in set(mail_dir.glob("*")) - before if mail_dir.exists() else ():
            text = path.read_text(errors="replace")
            if f"To: {recipient}" in text:
                return text.replace("=\n", "")
        time.sleep(0.2)
    pytest.fail(f"no email to {recipient} in {mail_dir}")


def test_integrations_urls_and_a_test_order(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    token = publisher_values(ui_service, account, "cart_token")["cart_token"]
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Integrations").click()
    assert text_of(page, "publisher-id") == str(account.id)
    base = ui_service.base_url
    assert text_of(page, "gateway-order-url") == f"{base}/gateway/order"
    assert text_of(page, "gateway-status-url") == f"{base}/gateway/status"
    assert text_of(page, "shopify-url") == f"{base}/carts/shopify?idpub={account.id}&token={token}"
    assert text_of(page, "samcart-url") == f"{base}/carts/samcart?idpub={account.id}&token={token}"
    assert text_of(page, "oneshoppingcart-url") == (
        f"{base}/carts/1shoppingcart?TSMode=prod&TSPub={account.id}&TSErrEM="
        + account.email.replace("@", "%40")
    )
    page.get_by_role("button", name="Send a test order").click()
    message = page.get_by_role("status").inner_text().strip()
    match = re.fullmatch(
        r"Test order (\d+) placed \(invoice TEST-[0-9A-F]{8}, 1 x project (\d+)\): status TEST, "
        r"it would cost \$6\.00\. Test orders are never billed or produced\.",
        message,
    )
    assert match, message
    assert int(match.group(2)) == account.project_ids[0]
    stored = json.loads(
        ui_service.shell(
            "import json; from pressrun.orders.models import Order; "
            f"o = Order.objects.get(id={match.group(1)}); "
            "print(json.dumps([o.publisher_id, o.mode, o.status, o.source, str(o.total_cost), "
            "o.charged_at is None]))"
        )
    )
    assert stored == [account.id, "test", "TEST", "dashboard", "6.00", True]
    screenshot(page, "integrations")


def test_billing_shows_ledger_and_what_a_payment_releases(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher(balance="20.00")
    place_orders(ui_service, account, 4)  # $24.00: three are paid, the fourth waits
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Billing").click()
    assert text_of(page, "balance") == "$2.00"
    assert text_of(page, "payments") == "$20.00"
    assert text_of(page, "charges") == "-$18.00"
    assert text_of(page, "hold-summary").startswith(
        "1 order waits for payment, $6.00 in all. A payment of $4.00 releases every one."
    )
    ledger_rows = page.get_by_test_id("ledger").locator("tbody tr")
    assert ledger_rows.count() == 4
    assert ledger_rows.first.locator("td").last.inner_text() == "-$6.00"
    assert ledger_rows.last.locator("td").last.inner_text() == "$20.00"
    page.get_by_label("If I pay ($)").fill("3.99")
    page.get_by_role("button", name="Show what it releases").click()
    assert text_of(page, "release-preview") == "A payment of $3.99 would release no order yet."
    page.get_by_label("If I pay ($)").fill("4")
    page.get_by_role("button", name="Show what it releases").click()
    page.get_by_test_id("release-preview").filter(has_text="would release 1 order").wait_for()
    assert re.fullmatch(
        r"A payment of \$4\.00 would release 1 order \(\$6\.00\): \d+\.",
        text_of(page, "release-preview"),
    )
    screenshot(page, "billing")


def test_a_phone_sized_screen(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    place_orders(ui_service, account, 1)
    page.set_viewport_size(PHONE)
    sign_in(page, ui_service, account)
    screenshot(page, "home-phone")
    # Nothing is wider than the screen: tables scroll inside their own box.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    page.get_by_role("link", name="Billing").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(ui_service.url("/billing"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_map_an_unmatched_cart_product_and_watch_the_order_appear(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher()
    token = publisher_values(ui_service, account, "cart_token")["cart_token"]
    body = order_json(
        order_id="820982911946154508", name="#7001", skus=(("POSTER-9", 1, "Poster"),)
    )
    request = urllib.request.Request(
        ui_service.url(f"/carts/shopify?idpub={account.id}&token={token}"),
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/fulfilled",
            "X-Shopify-Webhook-Id": ui_service.unique("hook"),
            "X-Shopify-Shop-Domain": "ui-shop.myshopify.com",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    sign_in(page, ui_service, account)
    deadline = time.monotonic() + 20
    while "Cart products that match no project (1)" not in page.content():
        assert time.monotonic() < deadline, "the delivery was not processed as unmatched"
        time.sleep(0.3)
        page.reload()
    page.get_by_role("link", name="Map them to projects").click()
    page.get_by_label("Map to").select_option(str(account.project_ids[0]))
    page.get_by_role("button", name="Map and re-process").click()
    assert page.get_by_role("status").inner_text().strip() == (
        f"Shopify product 'POSTER-9' now orders project {account.project_ids[0]} (Single (CD)). "
        "1 kept delivery queued to be processed again."
    )
    deadline = time.monotonic() + 20
    while True:
        page.goto(ui_service.url("/home"))
        rows = page.locator("table tbody tr")
        if "#7001" in rows.first.inner_text():
            break
        assert time.monotonic() < deadline, "no order appeared after the mapping"
        time.sleep(0.3)
    assert "Shopify" in rows.first.inner_text()
    assert text_of(page, "problem-count") == "0"
