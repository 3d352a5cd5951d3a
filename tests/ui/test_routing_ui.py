"""Routing in the browser: a Shopify order with a disc, a listed shirt and a poster no route
takes; the publisher sees the missing SKU on the delivery's page, adds a listing for it from
the unmatched products, and finds the poster in the warehouse's orders beside the shirt."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

SETUP = """
import json
from django.utils import timezone
from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery
from pressrun.carts.services import delivery_process, delivery_receive
from pressrun.catalog.models import Project
from pressrun.catalog.services import project_update
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
publisher = Publisher.objects.get(id={publisher_id})
project_update(project=Project.objects.get(id={project_id}), ecommerce_ids="{{HITS-CD}}")
warehouse = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
warehouse_set_enabled(connection_id=warehouse.id, enabled=True)
listings_import(connection_id=warehouse.id,
    data=b"channel_sku,warehouse_sku,quantity\\nSHIRT-M,ACME-TEE-M,1\\n")
carrier_codes_import(connection_id=warehouse.id,
    data=b"Carrier,Code,Description\\nUSPS,USPS_PRIORITY,Priority\\n")
description_rule_create(connection_id=warehouse.id, match="is", text="Standard Shipping",
    carrier_code="USPS_PRIORITY")
body = json.dumps({{
    "id": 5550001, "name": "#1040", "email": "bob@example.com",
    "line_items": [
        {{"id": 1, "sku": "HITS-CD", "title": "Greatest Hits CD", "quantity": 1}},
        {{"id": 2, "sku": "SHIRT-M", "title": "Tour shirt", "quantity": 2}},
        {{"id": 3, "sku": "POSTER-9", "title": "Tour poster", "quantity": 1}}],
    "shipping_address": {{"name": "Bob Norman", "address1": "123 Main Street",
        "city": "Louisville", "province_code": "KY", "zip": "40202", "country_code": "US"}},
    "shipping_lines": [{{"title": "Standard Shipping"}}]}}).encode()
delivery, _ = delivery_receive(cart="shopify", publisher=publisher,
    headers={{"X-Shopify-Shop-Domain": "press-demo.myshopify.com"}}, body=body,
    topic="orders/fulfilled", delivery_id="{delivery_id}",
    external_key="press-demo.myshopify.com:5550001")
delivery_process(delivery_id=delivery.id)
print(json.dumps({{"delivery": delivery.id, "warehouse": warehouse.id}}))
"""


def test_a_missing_sku_gets_a_listing_and_joins_the_warehouse_order(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher(balance="100")
    made = json.loads(
        ui_service.shell(
            SETUP.format(
                publisher_id=account.id,
                project_id=account.project_ids[0],
                delivery_id=ui_service.unique("W"),
            )
        )
    )
    delivery_id, warehouse_id = made["delivery"], made["warehouse"]
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Integrations").click()
    page.locator(f'a[href="/integrations/deliveries/{delivery_id}"]').click()
    assert page.get_by_role("heading", level=1).inner_text() == f"Delivery {delivery_id}"
    assert text_of(page, "delivery-outcome") == "Order created"
    assert text_of(page, "unrouted") == "Not routed"
    assert "Acme 3PL: open" in text_of(page, "delivery-warehouse-orders")
    screenshot(page, "delivery")

    page.get_by_role("link", name="← Integrations").click()
    form = page.get_by_test_id("add-listing")
    form.get_by_label("Add a listing at").select_option(label="Acme 3PL")
    form.get_by_label("as warehouse SKU").fill("ACME-POSTER")
    with page.expect_navigation():
        form.get_by_role("button", name="Add the listing and route").click()
    assert (
        "Shopify product 'POSTER-9' is listed at your warehouse. 1 kept delivery routed"
        in page.get_by_role("status").first.inner_text()
    )

    page.goto(ui_service.url(f"/integrations/warehouses/{warehouse_id}/orders"))
    rows = page.get_by_test_id("warehouse-orders").inner_text()
    assert "2 x ACME-TEE-M (cart: SHIRT-M)" in rows
    assert "1 x ACME-POSTER (cart: POSTER-9)" in rows
    assert "→ USPS_PRIORITY" in rows
    screenshot(page, "warehouse-orders")
    page.goto(ui_service.url(f"/integrations/deliveries/{delivery_id}"))
    assert page.get_by_test_id("unrouted").count() == 0
