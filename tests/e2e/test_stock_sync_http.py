"""Stock from a warehouse to Shopify, with real processes: the warehouse POSTs a signed stock
report to `pressrun serve` (`/warehouses/<connection>/inventory`), and `pressrun worker` sets
the channel SKUs' quantities at the picked location in the Shopify Admin GraphQL emulator
(`inventorySetQuantities`): a product listing under its channel SKU, a bundle as the number of
complete sets, an unlisted warehouse SKU under its own SKU. On SQLite, and on PostgreSQL when
PRESSRUN_DATABASE_URL is set."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from pressrun.warehouses.signing import signature
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator
from tests.e2e.test_postback_http import SHOP, TOKEN, served, wait_for
from tests.live import LiveService

__all__ = ["served"]

pytestmark = pytest.mark.e2e

LISTINGS = "channel_sku,warehouse_sku,quantity\nTEE-M,W-TEE-M,1\nBOX-SET,W-BOOK,1\nBOX-SET,W-CD,3\n"


def post_inventory(service: LiveService, connection_id: int, secret: str, report: dict) -> dict:
    body = json.dumps(report).encode()
    now = int(time.time())
    request = urllib.request.Request(
        service.url(f"/warehouses/{connection_id}/inventory"),
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Pressrun-Timestamp": str(now),
            "X-Pressrun-Signature": signature(secret=secret, timestamp=now, body=body),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        answer: dict = json.loads(response.read())
        return answer


def test_a_signed_stock_report_reaches_shopify_under_the_channel_skus(
    served: tuple[LiveService, ShopifyAdminEmulator],
) -> None:
    service, emulator = served
    account = service.account
    location = emulator.add_location("Acme 3PL")
    for sku in ("TEE-M", "BOX-SET", "W-MUG"):
        emulator.add_variant(sku)

    # A warehouse that pushes, its listings (a bundle among them), the shop's token: data put
    # in place with the commands through `setup` (what they print is tested in tests/warehouses
    # and, run as written, by docs/warehouses.md's examples).
    created = service.setup(
        "createwarehouse", "--name", "Acme WMS", "--publisher", str(account.id), "--enabled"
    )
    connection_id = int(created.split()[0].removeprefix("id="))
    pushed = service.setup(
        "warehousepush", "--warehouse", str(connection_id), "--url", "https://wms.example.com/in"
    )
    secret = pushed.rsplit(" secret=", 1)[1].strip()
    listings = service.data_dir / "listings.csv"
    listings.write_text(LISTINGS)
    service.setup("importlistings", "--warehouse", str(connection_id), str(listings))
    # The publisher picks the location on the Stock page (the same service).
    service.shell(
        "from pressrun.accounts.models import Publisher\n"
        "from pressrun.accounts.services import publisher_set_cart_credentials\n"
        "from pressrun.carts.stock_sync import stock_sync_configure\n"
        f"p = Publisher.objects.get(id={account.id})\n"
        f"publisher_set_cart_credentials(publisher=p, shopify_admin_token={TOKEN!r})\n"
        f"stock_sync_configure(publisher=p, shop_domain='{SHOP}.myshopify.com', "
        f"location_id={location!r})\n"
    )

    answer = post_inventory(
        service,
        connection_id,
        secret,
        {
            "as_of": "2026-11-04T10:00:00Z",
            "items": [
                {"sku": "W-TEE-M", "quantity": 40},
                {"sku": "W-BOOK", "quantity": 9},
                {"sku": "W-CD", "quantity": 20},
                {"sku": "W-MUG", "quantity": 5},
            ],
        },
    )
    assert answer == {"ok": True, "received": 4, "changed": 4, "unchanged": 0, "older": 0}
    expected = {"TEE-M": 40, "BOX-SET": 6, "W-MUG": 5}
    wait_for(lambda: emulator.available(location) == expected, "the quantities in Shopify")

    # A change to one component: the bundle follows at once.
    post_inventory(
        service,
        connection_id,
        secret,
        {"as_of": "2026-11-04T11:00:00Z", "items": [{"sku": "W-CD", "quantity": 7}]},
    )
    expected = {"TEE-M": 40, "BOX-SET": 2, "W-MUG": 5}
    wait_for(lambda: emulator.available(location) == expected, "the bundle's new quantity")
    for call in emulator.set_calls:
        assert call["name"] == "available"
        assert call["ignoreCompareQuantity"] is True
        assert {q["locationId"] for q in call["quantities"]} == {location}
    synced = service.shell(
        "from pressrun.carts.models import StockSyncItem\n"
        "print(sorted((i.channel_sku, i.quantity_available, i.quantity_sent) "
        "for i in StockSyncItem.objects.all()))"
    )
    assert synced == "[('BOX-SET', 2, 2), ('TEE-M', 40, 40), ('W-MUG', 5, 5)]"
