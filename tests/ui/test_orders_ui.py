"""Orders in a real browser: find a HOLD order, modify it, delete it (asked first, by
keyboard); a PROCESSING order cannot be changed; a manual order; the CSV export.

Orders are placed through intake with `pressrun shell` on the service's own database, and
read back the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live import Account, LiveService
from tests.ui.conftest import PHONE, screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PLACE_ORDERS = """
import json
from pressrun.accounts.models import Publisher
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
publisher = Publisher.objects.get(id={publisher_id})
ids = []
for name in {names!r}:
    order = order_place(publisher=publisher, request=OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id={project_id}, quantity=1),),
        recipient=RecipientRequest(name=name, address="1 Main Street", city="Springfield",
            state="IL", postal_code="62701", country="US", email="buyer@example.com"),
        mode="prod", source="gateway", invoice="{prefix}-" + str(len(ids) + 1)))
    ids.append(order.id)
print(json.dumps(ids))
"""

STORED_ORDER = """
import json
from pressrun.orders.models import Order
order = Order.objects.filter(id={order_id}).first()
print(json.dumps(None if order is None else dict(
    status=order.status, name=order.name, address=order.address, city=order.city,
    state=order.state, postal_code=order.postal_code, mail_method=order.mail_method,
    total_cost=str(order.total_cost), quantities=[line.quantity for line in order.lines.all()],
    events=[event.kind for event in order.events.all()])))
"""


def place_orders(service: LiveService, account: Account, *names: str) -> tuple[str, list[int]]:
    """One production order of one CD in a sleeve ($4.50 + $1.50 letter) per name; returns
    the invoice prefix and the order numbers."""
    prefix = service.unique("UI")
    code = PLACE_ORDERS.format(
        publisher_id=account.id, project_id=account.project_ids[0], names=list(names), prefix=prefix
    )
    ids: list[int] = json.loads(service.shell(code))
    return prefix, ids


def stored_order(service: LiveService, order_id: int) -> dict[str, object] | None:
    stored: dict[str, object] | None = json.loads(
        service.shell(STORED_ORDER.format(order_id=order_id))
    )
    return stored


def test_find_modify_and_delete_a_hold_order(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    prefix, (first, second, third) = place_orders(
        ui_service, account, "Ada Lovelace", "Grace Hopper", "Alan Turing"
    )
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Orders", exact=True).click()
    page.wait_for_url(ui_service.url("/orders"))
    assert text_of(page, "order-count") == "3 orders."
    screenshot(page, "orders")

    # Find it by the customer's name, then open it.
    page.get_by_label("Search").fill("hopper")
    page.get_by_label("Status").select_option("HOLD")
    page.get_by_role("button", name="Find").click()
    assert text_of(page, "order-count") == "1 order matches."
    rows = page.get_by_test_id("orders").locator("tbody tr")
    assert rows.count() == 1
    assert " ".join(rows.first.inner_text().split()).startswith(
        f"{second} {prefix}-2 Grace Hopper buyer@example.com Production HTTP gateway HOLD $6.00"
    )
    page.get_by_role("link", name=str(second), exact=True).click()
    page.wait_for_url(ui_service.url(f"/orders/{second}"))
    assert text_of(page, "order-status") == "HOLD"
    assert text_of(page, "order-total") == "$6.00"
    screenshot(page, "order-detail")

    # Modify the address, the quantity and the mail method: the order is priced again.
    page.get_by_role("link", name="Modify address, quantities or mail method").click()
    page.wait_for_url(ui_service.url(f"/orders/{second}/modify"))
    page.get_by_label("Street address").fill("9 Ocean Ave")
    page.get_by_label("City", exact=True).fill("Santa Monica")
    page.get_by_label("State / province").fill("california")
    page.get_by_label("ZIP / postal code").fill("90401")
    page.get_by_label("Quantity of").fill("3")
    page.get_by_label("Mail method").select_option("priority")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(ui_service.url(f"/orders/{second}"))
    assert page.get_by_role("status").inner_text().strip() == (
        f"Order {second} is changed. It now costs $25.00 (was $6.00)."
    )
    assert text_of(page, "order-total") == "$25.00"
    assert (
        text_of(page, "order-address")
        == "Grace Hopper 9 Ocean Ave Santa Monica, CA 90401 United States"
    )
    assert stored_order(ui_service, second) == {
        "status": "HOLD",
        "name": "Grace Hopper",
        "address": "9 Ocean Ave",
        "city": "Santa Monica",
        "state": "CA",
        "postal_code": "90401",
        "mail_method": "priority",
        "total_cost": "25.00",
        "quantities": [3],
        "events": ["placed", "modified"],
    }

    # A quantity over the limit is explained beside the field and nothing changes.
    page.get_by_role("link", name="Modify address, quantities or mail method").click()
    page.get_by_label("Quantity of").fill("300")
    page.get_by_role("button", name="Save changes").click()
    assert (
        "Ensure this value is less than or equal to 250."
        in page.locator(".field.has-error").inner_text()
    )
    assert stored_order(ui_service, second)["quantities"] == [3]  # type: ignore[index]

    # Delete it, with the keyboard: the question comes first.
    page.goto(ui_service.url(f"/orders/{second}"))
    page.get_by_text("Delete order…").focus()
    page.keyboard.press("Enter")
    question = page.locator("#delete-order .confirm-body p")
    assert question.inner_text() == (
        f"Delete order {second} (invoice {prefix}-2) for Grace Hopper? This cannot be undone."
    )
    page.get_by_role("button", name="Yes, delete it").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(ui_service.url("/orders"))
    assert page.get_by_role("status").inner_text().strip() == (
        f"Order {second} (invoice {prefix}-2) for Grace Hopper is deleted."
    )
    assert stored_order(ui_service, second) is None
    assert stored_order(ui_service, first) is not None
    assert stored_order(ui_service, third) is not None
    assert text_of(page, "order-count") == "2 orders."


def test_a_processing_order_cannot_be_modified(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher(balance="100.00")
    _, (order_id,) = place_orders(ui_service, account, "Paid Customer")
    before = stored_order(ui_service, order_id)
    assert before is not None
    assert before["status"] == "PROCESSING"
    sign_in(page, ui_service, account)
    page.goto(ui_service.url(f"/orders/{order_id}"))
    assert text_of(page, "order-status") == "PROCESSING"
    refusal = (
        f"Order {order_id} is paid and in production, so it can no longer be changed or "
        "deleted. Only HOLD orders can be changed, and HOLD and test orders deleted. Contact "
        "us if something must change."
    )
    assert text_of(page, "not-changeable") == refusal
    assert page.get_by_role("link", name="Modify address, quantities or mail method").count() == 0
    assert page.get_by_text("Delete order…").count() == 0
    # Even the page's address typed by hand only shows the refusal.
    response = page.goto(ui_service.url(f"/orders/{order_id}/modify"))
    assert response is not None
    assert response.status == 409
    assert text_of(page, "refusal") == refusal
    assert page.get_by_role("button", name="Save changes").count() == 0
    assert stored_order(ui_service, order_id) == before


def test_a_manual_order_and_the_csv_export(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    sign_in(page, ui_service, account)
    page.goto(ui_service.url("/orders"))
    page.get_by_role("link", name="New order").click()
    page.get_by_label("Test", exact=True).check()
    invoice = ui_service.unique("MANUAL")
    page.get_by_label("Invoice", exact=True).fill(invoice)
    page.get_by_label("Product 1").select_option(str(account.project_ids[0]))
    page.get_by_label("Quantity 1").fill("2")
    page.get_by_label("Name", exact=True).fill("=Grace Hopper")
    page.get_by_label("Street address").fill("1 Navy Way")
    page.get_by_label("City", exact=True).fill("Arlington")
    page.get_by_label("State / province").fill("VA")
    page.get_by_label("ZIP / postal code").fill("22202")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(lambda url: "/orders/" in url and not url.endswith("/new"))
    order_id = int(text_of(page, "order-id"))
    assert text_of(page, "order-status") == "TEST"
    # Two CDs travel as a parcel: $9.00 + standard + tracking $4.50 + $0.75.
    assert page.get_by_role("status").inner_text().strip() == (
        f"Order {order_id} is placed: TEST, $14.25."
    )
    page.goto(ui_service.url("/orders?mode=test"))
    with page.expect_download() as download_info:
        page.get_by_test_id("export").click()
    download = download_info.value
    assert download.suggested_filename.startswith("orders-")
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("order,invoice,mode,status,source,store,placed_utc,name,")
    assert lines[1].startswith(f"{order_id},{invoice},test,TEST,dashboard,")
    assert ",'=Grace Hopper," in lines[1]
    assert len(lines) == 2


def test_orders_fit_a_phone(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    _, (order_id,) = place_orders(ui_service, account, "Small Screen")
    page.set_viewport_size(PHONE)
    sign_in(page, ui_service, account)
    for path in ("/orders", f"/orders/{order_id}", f"/orders/{order_id}/modify", "/orders/new"):
        page.goto(ui_service.url(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
