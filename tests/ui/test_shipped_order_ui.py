"""A shipped order in a real browser: the publisher's order page shows the ship date, the
carrier, the service and the tracking number linked to the carrier's page, and where the
post-back to the cart stands — here a Shopify order whose publisher saved no Admin API
token: "Not sent to Shopify: …" with a Send again button that queues it again (the worker
gives up again, for the same reason, and the page says so).

The order is placed and shipped with `pressrun shell` on the service's own database (the
shipped move queues the post-back, the service's worker runs it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import PHONE, screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

SHIP_A_SHOPIFY_ORDER = """
from datetime import timedelta
from django.utils import timezone
from pressrun.accounts.models import Publisher
from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
publisher = Publisher.objects.get(id={publisher_id})
order = order_place(publisher=publisher, request=OrderRequest(
    publisher_id=publisher.id,
    lines=(LineRequest(project_id={project_id}, quantity=1),),
    recipient=RecipientRequest(name="Sam Shopper", address="1 Main Street",
        city="Springfield", state="IL", postal_code="62701", country="US",
        email="sam@example.com"),
    mode="prod", source="shopify", invoice="{invoice}", external_ref="{external_ref}",
    store="ui-shop.myshopify.com"))
window_ended = timezone.now() - timedelta(minutes=1)
Order.objects.filter(id=order.id).update(address_changes_until=window_ended)
fulfillment_move(order_id=order.id, to="shipped", actor="operator:ui",
    ship_date=timezone.now().date(), tracking_id="1Z999AA10123456784", carrier="UPS",
    service="UPS Ground")
print(order.id, timezone.now().date().isoformat())
"""

POSTBACK = """
from pressrun.carts.models import CartPostback
p = CartPostback.objects.get(order_id={order_id})
print(p.state, p.attempts)
"""


def _wait_for_postback(service: LiveService, order_id: int, state: str, attempts: int) -> None:
    deadline = time.monotonic() + 30
    found = ""
    while time.monotonic() < deadline:
        found = service.shell(POSTBACK.format(order_id=order_id))
        if found == f"{state} {attempts}":
            return
        time.sleep(0.3)
    pytest.fail(f"post-back of order {order_id}: {found}, not {state} {attempts}")


def test_the_shipped_order_page(page: Page, ui_service: LiveService) -> None:
    service = ui_service
    account = service.create_publisher(balance="100.00")
    invoice = service.unique("#UI")
    output = service.shell(
        SHIP_A_SHOPIFY_ORDER.format(
            publisher_id=account.id,
            project_id=account.project_ids[0],
            invoice=invoice,
            external_ref=str(int(time.time() * 1000)),
        )
    )
    order_id_text, shipped_on = output.split()[-2:]
    order_id = int(order_id_text)
    _wait_for_postback(service, order_id, "gave_up", 1)

    sign_in(page, service, account)
    page.goto(service.url(f"/orders/{order_id}"))
    assert text_of(page, "order-status") == "SHIPPED"
    assert text_of(page, "order-ship-date") == shipped_on
    assert text_of(page, "order-carrier") == "UPS"
    assert text_of(page, "order-service") == "UPS Ground"
    assert text_of(page, "order-tracking") == "1Z999AA10123456784 (UPS)"
    link = page.get_by_role("link", name="1Z999AA10123456784")
    assert link.get_attribute("href") == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert link.get_attribute("rel") == "noopener noreferrer"
    postback = page.get_by_test_id("order-postback")
    assert postback.get_attribute("data-state") == "gave_up"
    assert text_of(page, "order-postback") == (
        "Not sent to Shopify: No Shopify Admin API access token is saved: add it under "
        "Settings → Cart credentials, then send again. Send again"
    )
    screenshot(page, "order-shipped")

    # Send again: queued, the worker tries again and gives up again for the same reason.
    page.get_by_role("button", name="Send again").click()
    page.wait_for_url(service.url(f"/orders/{order_id}"))
    assert "Sending the tracking to Shopify again." in page.content()
    _wait_for_postback(service, order_id, "gave_up", 1)
    page.reload()
    assert page.get_by_test_id("order-postback").get_attribute("data-state") == "gave_up"

    # On a phone the facts stay readable: nothing wider than the screen.
    page.set_viewport_size(PHONE)
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
