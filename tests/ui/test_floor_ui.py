"""The production floor in a real browser: an operator signs in, sees the ready DVDs in
sleeves (express first), batches them, marks one packed, pulls one out, packs the rest,
prints the batch's PDF and reads an order's history.

The orders are placed through intake with `pressrun shell`, their postage windows ended
a minute ago (the window task has not recorded them ready: the queue counts them anyway).
The group (DVD sleeve) is one no other browser test uses, so the shared service's other
orders stay out of this batch.
"""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import screenshot, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

OPERATOR = "floorop"
OPERATOR_PASSWORD = "floor operator secret 42"
DVD_SLEEVE = (("Concert Film (DVD)", "dvd", "sleeve", "5.00", None),)

PLACE_READY_ORDERS = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from pressrun.accounts.models import Publisher
from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
User = get_user_model()
if not User.objects.filter(username={operator!r}).exists():
    User.objects.create_user({operator!r}, password={password!r}, is_staff=True)
publisher = Publisher.objects.get(id={publisher_id})
ids = []
for n, (name, method) in enumerate({orders!r}):
    order = order_place(publisher=publisher, request=OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id={project_id}, quantity=n + 1),),
        recipient=RecipientRequest(name=name, address="1 Main Street", city="Springfield",
            state="IL", postal_code="62701", country="US", email="buyer@example.com"),
        mode="prod", source="gateway", invoice="{prefix}-" + str(n), mail_method=method))
    Order.objects.filter(id=order.id).update(
        created_at=timezone.now() - timedelta(hours=10 - n),
        address_changes_until=timezone.now() - timedelta(minutes=1))
    ids.append(order.id)
print(json.dumps(ids))
"""

ORDER_STATES = """
import json
from pressrun.orders.models import Order
print(json.dumps(dict(Order.objects.filter(id__in={ids!r}).values_list("id", "fulfillment_state"))))
"""


def test_batch_pack_pull_out_and_print_in_the_browser(page: Page, ui_service: LiveService) -> None:
    from playwright.sync_api import expect

    account = ui_service.create_publisher(balance="200", projects=DVD_SLEEVE)
    oldest, middle, express = json.loads(
        ui_service.shell(
            PLACE_READY_ORDERS.format(
                operator=OPERATOR,
                password=OPERATOR_PASSWORD,
                publisher_id=account.id,
                project_id=account.project_ids[0],
                prefix=ui_service.unique("FLOOR"),
                orders=[("Ann Oldest", "standard"), ("Bo Middle", None), ("Cy Rush", "express")],
            )
        )
    )

    # /operator/ asks a signed-out visitor to sign in, then lands on the floor queue.
    page.goto(ui_service.url("/operator/"))
    page.locator("#id_username").fill(OPERATOR)
    page.locator("#id_password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(ui_service.url("/operator/floor/"))

    group = page.get_by_test_id("group-dvd-sleeve")
    assert text_of(page, "group-count-dvd-sleeve") == "3 orders · 6 units · 1 priority/express"
    listed = [int(n) for n in re.findall(r"/operator/floor/orders/(\d+)", group.inner_html())]
    assert listed == [express, oldest, middle]
    screenshot(page, "operator-floor-queue")

    group.get_by_role("button", name="Batch DVD sleeve").click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile(r"^Batch \d+: 3 orders in production\.$")
    )
    batch = int(text_of(page, "batch-number"))
    assert page.url == ui_service.url(f"/operator/floor/batches/{batch}")
    assert text_of(page, "batch-state") == "In production"
    rows = page.get_by_test_id("batch-orders").locator("tbody tr")
    assert [row.get_attribute("data-testid") for row in rows.all()] == [
        f"batch-order-{express}",
        f"batch-order-{oldest}",
        f"batch-order-{middle}",
    ]

    page.get_by_role("button", name=f"Mark order {express} packed").click()
    expect(page.get_by_role("status")).to_have_text(f"Order {express} is packed.")
    page.get_by_role("button", name=f"Pull order {middle} out").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Order {middle} is pulled out of batch {batch}: ready to be made again."
    )
    expect(page.get_by_test_id("batch-removed")).to_contain_text(f"Order {middle}: Back to ready")
    page.get_by_role("button", name="Mark all 1 packed").click()
    expect(page.get_by_role("status")).to_have_text(f"Batch {batch}: 1 order marked packed.")
    assert text_of(page, "batch-state") == "Packed"
    screenshot(page, "operator-floor-batch")

    states = json.loads(ui_service.shell(ORDER_STATES.format(ids=[oldest, middle, express])))
    assert states == {str(express): "packed", str(oldest): "packed", str(middle): "ready"}

    # The PDF the button opens: the pick list, then a slip for each order still in the batch.
    href = page.get_by_test_id("batch-pdf").get_attribute("href")
    assert href == f"/operator/floor/batches/{batch}/pdf"
    pdf = page.request.get(ui_service.url(href))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    import pypdf

    # Words only: where a long line wraps depends on the font the system has (DejaVu or
    # reportlab's own), not on what the slip says.
    texts = [
        " ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf.body())).pages
    ]
    assert len(texts) == 3
    assert "DVD sleeve · 2 orders · 4 units" in texts[0]
    assert texts[1].startswith(f"Packing slip · order {express} · invoice ")
    assert texts[2].startswith(f"Packing slip · order {oldest} · invoice ")

    # The order page: its history names the operator, and its actions follow its state.
    page.goto(ui_service.url(f"/operator/floor/orders/{middle}"))
    assert text_of(page, "order-state") == "Ready to make"
    history = page.get_by_test_id("order-history").inner_text()
    assert f"Pulled out of batch {batch}." in history
    assert f"operator:{OPERATOR}" in history
    page.get_by_role("button", name="Put in production").click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile(rf"^Order {middle} is in production in batch \d+\.$")
    )
    assert text_of(page, "order-state") == "In production"
    screenshot(page, "operator-floor-order")
