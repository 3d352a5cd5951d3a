"""The dashboard's stock page of a warehouse: the stock sync shown off until a Shopify
location is picked from the shop's locations (read from the Shopify Admin emulator), the
channel SKUs with what was reported and sent, "Sync now"; another publisher's connection is
a 404 (tests/dashboard/test_security.py walks every URL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts.models import StockSync
from pressrun.carts.stock_sync import stock_sync_run
from pressrun.carts.tasks import stock_sync
from pressrun.warehouses.inbound import StockItem, StockReport
from pressrun.warehouses.stock import warehouse_stock_report
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.dashboard.test_warehouse_orders import make_warehouse, text

pytestmark = pytest.mark.django_db

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


@pytest.fixture
def emulator(settings: Any) -> Iterator[ShopifyAdminEmulator]:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    with shopify_admin_api(tokens={"artist-a": TOKEN}) as emulator:
        settings.PRESSRUN_SHOPIFY_ADMIN_API_BASE = emulator.base_url + "/{shop}"
        yield emulator


def test_pick_a_location_then_see_what_was_sent(
    signed_in: Client, publisher: Publisher, emulator: ShopifyAdminEmulator
) -> None:
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    connection = make_warehouse(publisher)
    warehouse_stock_report(
        connection=connection,
        report=StockReport(
            as_of=datetime(2026, 12, 1, tzinfo=UTC),
            items=(StockItem("ACME-TEE-M", 8), StockItem("A", 4), StockItem("B", 5)),
        ),
    )
    location = emulator.add_location("3PL Austin")
    emulator.add_location("Closed store", active=False)
    emulator.add_variant("SHIRT-M")
    emulator.add_variant("SET")
    page = f"/integrations/warehouses/{connection.id}/stock"
    body = text(signed_in.get(page))
    assert "no Shopify location is picked, so\n      nothing is sent to Shopify." in body
    assert 'data-testid="stock-levels"' in body
    assert "ACME-TEE-M" in body

    shop = "artist-a.myshopify.com"
    body = text(signed_in.post(page, {"action": "locations", "shop_domain": shop}))
    assert f'<option value="{location}">3PL Austin</option>' in body
    assert "Closed store" not in body
    response = signed_in.post(
        page, {"action": "save", "shop_domain": shop, "location_id": location}
    )
    assert response.status_code == 302
    sync = StockSync.objects.get(publisher=publisher)
    assert (sync.location_id, sync.location_name) == (location, "3PL Austin")
    [run] = DBTaskResult.objects.filter(task_path=stock_sync.module_path)
    assert run.args_kwargs["kwargs"] == {"publisher_id": publisher.id, "changed_only": False}
    DBTaskResult.objects.filter(id=run.id).update(status=TaskResultStatus.SUCCESSFUL)
    assert stock_sync_run(publisher_id=publisher.id).sent == {"SET": 2, "SHIRT-M": 8}

    body = text(signed_in.get(page))
    assert "On: stock is set at <strong>3PL Austin</strong>" in body
    assert "<td><code>SET</code></td>\n              <td>A x 1 + B x 2</td>\n" in body
    assert "<td>A x 1 + B x 2</td>\n              <td>2</td>\n              <td>2</td>" in body

    signed_in.post(page, {"action": "sync"})
    assert (
        DBTaskResult.objects.filter(
            task_path=stock_sync.module_path, status=TaskResultStatus.READY
        ).count()
        == 1
    )


def test_a_location_not_in_the_shop_is_refused(
    signed_in: Client, publisher: Publisher, emulator: ShopifyAdminEmulator
) -> None:
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    connection = make_warehouse(publisher)
    page = f"/integrations/warehouses/{connection.id}/stock"
    response = signed_in.post(
        page,
        {
            "action": "save",
            "shop_domain": "artist-a.myshopify.com",
            "location_id": "gid://shopify/Location/1",
        },
    )
    assert response.status_code == 400
    assert "Pick one of the shop&#x27;s active locations." in text(response)
    assert StockSync.objects.count() == 0
    # A shop that is not a myshopify.com domain is refused before anything is sent.
    response = signed_in.post(page, {"action": "locations", "shop_domain": "evil.example.com"})
    assert response.status_code == 400
    assert len(emulator.requests) == 1  # the first POST's look at the locations
