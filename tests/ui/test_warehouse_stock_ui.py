"""A warehouse's Stock page in the browser: the stock sync shown off, the shop's locations
read from the Shopify Admin emulator to pick from, then (the sync on) each channel SKU with
what the warehouse's levels allow and why it was not sent.

The page is served by a second `pressrun serve` whose Shopify Admin API is the emulator. No
location is saved through the page: saving queues a sync, and this service's worker speaks
to the real Shopify address, so the sync is turned on and run without a token instead,
which stops before any request."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.carts.shopify_admin_emulator import shopify_admin_api
from tests.live import LiveService
from tests.ui.conftest import screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
SHOP = "stock-ui"

SET_UP = """
from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.warehouses.inbound import StockItem, StockReport
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
from pressrun.warehouses.stock import warehouse_stock_report
p = Publisher.objects.get(id={publisher_id})
publisher_set_cart_credentials(publisher=p, shopify_admin_token={token!r})
w = warehouse_create(name="Acme 3PL", publisher_id=p.id).connection
warehouse_set_enabled(connection_id=w.id, enabled=True)
listings_import(connection_id=w.id, data=b"channel_sku,warehouse_sku,quantity\\n"
    b"TEE-M,W-TEE-M,1\\nBOX-SET,W-BOOK,1\\nBOX-SET,W-CD,3\\nPOSTER,W-POSTER,1\\n")
warehouse_stock_report(connection=w, report=StockReport(as_of=None, items=(
    StockItem("W-TEE-M", 40), StockItem("W-BOOK", 9), StockItem("W-CD", 20))))
print(w.id)
"""

TURN_ON = """
from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts.models import StockSync
from pressrun.carts.stock_sync import stock_sync_run
p = Publisher.objects.get(id={publisher_id})
publisher_set_cart_credentials(publisher=p, shopify_admin_token="")
StockSync.objects.create(publisher=p, shop_domain="{shop}.myshopify.com",
    location_id={location!r}, location_name="Acme 3PL shelf")
print(stock_sync_run(publisher_id=p.id).state)
"""


def test_the_stock_page_offers_the_shops_locations_and_shows_each_channel_sku(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher()
    connection_id = int(
        ui_service.shell(SET_UP.format(publisher_id=account.id, token=TOKEN)).split()[-1]
    )
    with shopify_admin_api(tokens={SHOP: TOKEN}) as emulator:
        location = emulator.add_location("Acme 3PL shelf")
        emulator.add_location("Closed pop-up", active=False)
        with ui_service.another_server(
            PRESSRUN_SHOPIFY_ADMIN_API_BASE=emulator.base_url + "/{shop}"
        ) as base:
            sign_in(page, ui_service, account)
            page.goto(f"{base}/integrations/warehouses/{connection_id}/stock")
            assert page.get_by_role("heading", level=1).inner_text() == "Stock at Acme 3PL"
            assert text_of(page, "stock-sync-state") == (
                "Off: no Shopify location is picked, so nothing is sent to Shopify."
            )
            page.get_by_label("Shop (myshopify.com domain)").fill(f"{SHOP}.myshopify.com")
            page.get_by_role("button", name="Choose a location…").click()
            options = page.get_by_label("Location").locator("option").all_inner_texts()
            assert options == ["None: stock sync off", "Acme 3PL shelf"]
        assert [request.operation for request in emulator.requests] == ["locations"]

    state = ui_service.shell(TURN_ON.format(publisher_id=account.id, shop=SHOP, location=location))
    assert state == "gave_up"
    page.goto(ui_service.url(f"/integrations/warehouses/{connection_id}/stock"))
    assert text_of(page, "stock-sync-state").startswith(
        f"On: stock is set at Acme 3PL shelf in {SHOP}.myshopify.com."
    )
    assert text_of(page, "stock-sync-error").startswith(
        "No Shopify Admin API access token is saved"
    )
    rows = page.get_by_test_id("stock-items").locator("tbody tr").all_inner_texts()
    assert [" ".join(row.split()) for row in rows] == [
        "BOX-SET W-BOOK x 1 + W-CD x 3 6 — never",
        "POSTER W-POSTER x 1 — — never No stock reported for W-POSTER.",
        "TEE-M W-TEE-M x 1 40 — never",
    ]
    screenshot(page, "warehouse-stock")
