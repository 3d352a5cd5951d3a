"""A pushing warehouse in the browser, against the live service and a local WMS emulator
(tests/warehouses/warehouse_emulator.py) that checks each push's signature:

1. the Push page: saving the URL shows the signing secret once (not on the next visit);
   *New secret…* asks first and shows a new one, which is what the pushes are then signed
   with;
2. the Orders page's push column: a Shopify order routed to the warehouse is refused by it
   (HTTP 422): the attempt log says so, with *Send again*; sent again, it is accepted (the
   log lists both attempts) and the order is routed;
3. the shipments column: the warehouse posts two signed packages over HTTP; the one that
   completes the shirt line is posted back to Shopify, which gives up (no Admin API token
   saved) and offers *Send again*; the one with half a bundle completes no cart line and
   says so.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from tests.live import LiveService
from tests.ui.conftest import screenshot, sign_in, text_of
from tests.warehouses import warehouse_emulator

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

WAREHOUSE = """
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
w = warehouse_create(name="Acme WMS", publisher_id={publisher_id}).connection
warehouse_set_enabled(connection_id=w.id, enabled=True)
listings_import(connection_id=w.id, data=b"channel_sku,warehouse_sku,quantity\\n"
    b"SHIRT-M,ACME-TEE-M,1\\nGIFTSET,ACME-BOOK,1\\nGIFTSET,ACME-MUG,2\\n")
carrier_codes_import(connection_id=w.id,
    data=b"Carrier,Code,Description\\nUSPS,USPS_PRIORITY,Priority\\n")
description_rule_create(connection_id=w.id, match="is", text="Standard Shipping",
    carrier_code="USPS_PRIORITY")
print(w.id)
"""

ROUTE = """
import json
from pressrun.accounts.models import Publisher
from pressrun.carts.services import delivery_process, delivery_receive
from pressrun.warehouses.models import WarehouseOrder
body = json.dumps({{
    "id": 5550077, "name": "#1077", "email": "bob@example.com",
    "line_items": [
        {{"id": 71, "sku": "SHIRT-M", "title": "Tour shirt", "quantity": 2}},
        {{"id": 72, "sku": "GIFTSET", "title": "Gift set", "quantity": 1}}],
    "shipping_address": {{"name": "Bob Norman", "address1": "123 Main Street",
        "city": "Louisville", "province_code": "KY", "zip": "40202", "country_code": "US"}},
    "shipping_lines": [{{"title": "Standard Shipping"}}]}}).encode()
delivery, _ = delivery_receive(cart="shopify", publisher=Publisher.objects.get(id={publisher_id}),
    headers={{"X-Shopify-Shop-Domain": "push-ui.myshopify.com"}}, body=body,
    topic="orders/fulfilled", delivery_id="{delivery_id}",
    external_key="push-ui.myshopify.com:5550077")
delivery_process(delivery_id=delivery.id)
print(WarehouseOrder.objects.get(connection_id={warehouse_id}).id)
"""

PUSH = """
from pressrun.warehouses.models import WarehousePush
p = WarehousePush.objects.get(order_id={order_id})
print(p.status, p.attempts.count(), p.order.state)
"""

POSTBACK = """
from pressrun.carts.models import CartPostback
p = CartPostback.objects.filter(warehouse_shipment__tracking_number="{tracking}").first()
print(p.state, p.attempts) if p else print("none")
"""


def _wait(service: LiveService, code: str, expected: str) -> None:
    deadline = time.monotonic() + 30
    found = ""
    while time.monotonic() < deadline:
        found = service.shell(code)
        if found == expected:
            return
        time.sleep(0.3)
    pytest.fail(f"{found!r}, not {expected!r}")


def test_push_page_attempt_log_and_package_postbacks(page: Page, ui_service: LiveService) -> None:
    service = ui_service
    account = service.create_publisher()
    warehouse_id = int(service.shell(WAREHOUSE.format(publisher_id=account.id)))
    with warehouse_emulator.running(script=[422]) as wms:
        # 1. The Push page: the secret once, then a new one.
        sign_in(page, service, account)
        page.goto(service.url("/integrations/warehouses"))
        page.get_by_role("link", name="Push").click()
        assert page.get_by_role("heading", level=1).inner_text() == ("Push protocol for Acme WMS")
        assert text_of(page, "push-mode") == "This warehouse pulls its orders (no push URL)."
        page.get_by_label("Push URL").fill(wms.url)
        with page.expect_navigation():
            page.get_by_role("button", name="Save").click()
        first_secret = text_of(page, "push-secret-value")
        assert first_secret.startswith("wmssec_")
        assert text_of(page, "push-mode") == "This warehouse receives its orders by push."
        assert text_of(page, "push-shipments-url") == service.url(
            f"/warehouses/{warehouse_id}/shipments"
        )
        assert text_of(page, "push-inventory-url") == service.url(
            f"/warehouses/{warehouse_id}/inventory"
        )
        screenshot(page, "warehouse-push")

        page.goto(service.url(f"/integrations/warehouses/{warehouse_id}/push"))
        assert page.get_by_test_id("push-secret").count() == 0
        assert first_secret not in page.content()
        page.get_by_text("New secret…").click()
        with page.expect_navigation():
            page.get_by_role("button", name="Yes, a new secret").click()
        wms.secret = text_of(page, "push-secret-value")
        assert wms.secret.startswith("wmssec_")
        assert wms.secret != first_secret

        # 2. A routed order is refused (422), then sent again and accepted.
        order_id = int(
            service.shell(
                ROUTE.format(
                    publisher_id=account.id,
                    warehouse_id=warehouse_id,
                    delivery_id=service.unique("P"),
                )
            )
        )
        _wait(service, PUSH.format(order_id=order_id), "refused 1 error")
        [refused] = wms.requests
        assert refused.signature_valid
        assert wms.orders == {}

        page.goto(service.url(f"/integrations/warehouses/{warehouse_id}/orders"))
        push = page.get_by_test_id("warehouse-order-push")
        assert push.locator(".outcome").inner_text() == "Refused by the warehouse"
        attempts = push.get_by_test_id("push-attempts").locator("li")
        assert attempts.count() == 1
        assert " HTTP 422 (" in attempts.nth(0).inner_text()
        assert text_of(page, "warehouse-order-error") == (
            'The warehouse refused the order (HTTP 422): {"error": "SKU ACME-MUG is not '
            'stocked here"}'
        )
        assert text_of(page, "warehouse-order-shipments") == "None yet"
        with page.expect_navigation():
            push.get_by_role("button", name="Send again").click()
        assert (
            f"WH-{order_id} is being sent to the warehouse again."
            in page.get_by_role("status").first.inner_text()
        )
        _wait(service, PUSH.format(order_id=order_id), "delivered 2 routed")
        assert [request.idempotency_key for request in wms.requests] == [
            refused.idempotency_key
        ] * 2
        [pushed] = wms.orders.values()
        assert [(line["sku"], line["quantity"]) for line in pushed["lines"]] == [
            ("ACME-TEE-M", 2),
            ("ACME-BOOK", 1),
            ("ACME-MUG", 2),
        ]

        page.reload()
        push = page.get_by_test_id("warehouse-order-push")
        assert push.locator(".outcome").inner_text() == "Accepted by the warehouse"
        logged = push.get_by_test_id("push-attempts").locator("li").all_inner_texts()
        assert [(" HTTP 422 (" in t, " HTTP 200 (" in t) for t in logged] == [
            (True, False),
            (False, True),
        ]
        assert push.get_by_role("button", name="Send again").count() == 0
        assert "Routed" in page.get_by_test_id("warehouse-orders").inner_text()

        # 3. Two packages, posted back (or not) each on its own.
        base = service.url("")
        shirt = {
            "order_id": f"WH-{order_id}",
            "carrier": "UPS",
            "service": "Ground",
            "tracking_number": "1Z999AA10000000071",
            "ship_date": "2026-11-04",
            "lines": [{"sku": "ACME-TEE-M", "quantity": 2}],
        }
        half_bundle = {
            "order_id": f"WH-{order_id}",
            "carrier": "USPS",
            "tracking_number": "9400100000000000000072",
            "ship_date": "2026-11-05",
            "lines": [{"sku": "ACME-BOOK", "quantity": 1}],
        }
        for message in (shirt, half_bundle):
            status, answer = wms.post(base, f"/warehouses/{warehouse_id}/shipments", message)
            assert (status, answer["outcome"]) == (200, "applied"), json.dumps(answer)
    _wait(service, POSTBACK.format(tracking=shirt["tracking_number"]), "gave_up 1")
    assert service.shell(POSTBACK.format(tracking=half_bundle["tracking_number"])) == "none"

    page.reload()
    cell = page.get_by_test_id("warehouse-order-shipments")
    packages = cell.get_by_test_id("shipment-postback")
    assert [packages.nth(i).get_attribute("data-state") for i in range(2)] == ["gave_up", "none"]
    shown = " ".join(cell.inner_text().split())
    assert "2026-11-04 UPS Ground: 1Z999AA10000000071 2 x ACME-TEE-M" in shown
    assert "2026-11-05 USPS: 9400100000000000000072 1 x ACME-BOOK" in shown
    assert " ".join(packages.nth(0).inner_text().split()) == (
        "Not sent to Shopify: No Shopify Admin API access token is saved: add it under "
        "Settings → Cart credentials, then send again. Send again"
    )
    assert " ".join(packages.nth(1).inner_text().split()) == (
        "Completes no cart line yet (part of a bundle): the cart is told with the package "
        "that completes it."
    )
    assert "Partially shipped" in page.get_by_test_id("warehouse-orders").inner_text()
    screenshot(page, "warehouse-orders-push")

    # Send again: queued, and the worker gives up again for the same reason.
    with page.expect_navigation():
        cell.get_by_role("button", name="Send again").click()
    assert (
        "Sending the package's tracking to Shopify again."
        in page.get_by_role("status").first.inner_text()
    )
    _wait(service, POSTBACK.format(tracking=shirt["tracking_number"]), "gave_up 1")
    page.reload()
    packages = page.get_by_test_id("shipment-postback")
    assert packages.nth(0).get_attribute("data-state") == "gave_up"
