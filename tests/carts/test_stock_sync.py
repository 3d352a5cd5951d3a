"""Stock sync to Shopify (carts/stock_sync.py) against the Shopify Admin GraphQL emulator
over real HTTP: bundle math, the location choice, batching, userErrors, retries, the
on-change trigger, one run at a time, isolation. SQLite, and PostgreSQL when
PRESSRUN_DATABASE_URL is set.

Queued runs are kept by the database task backend and run here by hand (`run_queued`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts import stock_sync as stock_sync_module
from pressrun.carts.models import ShopifyInventoryItem, StockSync, StockSyncItem
from pressrun.carts.shopify.client import sku_search
from pressrun.carts.stock_sync import (
    StockSyncInvalid,
    bundle_quantity,
    channel_stock,
    stock_sync_configure,
    stock_sync_run,
    stock_sync_sweep,
)
from pressrun.carts.tasks import stock_sync
from pressrun.warehouses.inbound import StockItem, StockReport
from pressrun.warehouses.listings import Component, listings_import
from pressrun.warehouses.models import WarehouseStockLevel
from pressrun.warehouses.services import warehouse_create, warehouse_set_enabled
from pressrun.warehouses.stock import warehouse_stock_report
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
OTHER_TOKEN = "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"
SHOP = "artist-a"
SHOP_DOMAIN = "artist-a.myshopify.com"
LISTINGS = b"channel_sku,warehouse_sku,quantity\nSHIRT-M,W-SHIRT-M,1\nSET,W-BOOK,1\nSET,W-CD,2\n"
AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- pure -----------------------------------------------------------------------------------


def test_bundle_quantity_is_the_complete_bundles_the_components_allow() -> None:
    components = (Component("A", 1), Component("B", 2))
    assert bundle_quantity(components, {"A": 10, "B": 7}) == 3
    assert bundle_quantity(components, {"A": 2, "B": 100}) == 2
    assert bundle_quantity(components, {"A": 0, "B": 100}) == 0
    assert bundle_quantity(components, {"A": 5}) is None
    # The same warehouse SKU twice needs both quantities.
    assert bundle_quantity((Component("A", 1), Component("A", 2)), {"A": 7}) == 2


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 5), min_size=1, max_size=4
    ),
    st.dictionaries(st.sampled_from(["A", "B", "C", "D"]), st.integers(0, 1000)),
)
def test_bundle_quantity_property(needs: dict[str, int], levels: dict[str, int]) -> None:
    components = tuple(Component(sku, quantity) for sku, quantity in needs.items())
    result = bundle_quantity(components, levels)
    if any(sku not in levels for sku in needs):
        assert result is None
        return
    assert result is not None
    # `result` bundles can be made, and one more cannot.
    assert all(needs[sku] * result <= levels[sku] for sku in needs)
    assert any(needs[sku] * (result + 1) > levels[sku] for sku in needs)


def test_channel_stock_maps_listings_bundles_and_unlisted_skus() -> None:
    listings = {
        "SHIRT-M": (Component("W-SHIRT-M", 1),),
        "SET": (Component("W-BOOK", 1), Component("W-CD", 2)),
        "POSTER": (Component("W-POSTER", 1),),
    }
    levels = {"W-SHIRT-M": 12, "W-BOOK": 5, "W-CD": 7, "W-MUG": 3}
    stocks = channel_stock(listings=listings, levels=levels)
    assert {sku: stock.quantity for sku, stock in stocks.items()} == {
        "SHIRT-M": 12,
        "SET": 3,
        "POSTER": None,
        "W-MUG": 3,  # no listing names it: synced under its own SKU
    }
    assert stocks["POSTER"].missing == ("W-POSTER",)


def test_sku_search_quotes_each_sku() -> None:
    assert sku_search(["A-1", 'B "x"', "C:D"]) == 'sku:"A-1" OR sku:"B \\"x\\"" OR sku:"C:D"'


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def emulator(settings: Any) -> Iterator[ShopifyAdminEmulator]:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.CART_POSTBACK_ATTEMPTS = 3
    with shopify_admin_api(tokens={SHOP: TOKEN, "artist-b": OTHER_TOKEN}) as emulator:
        settings.PRESSRUN_SHOPIFY_ADMIN_API_BASE = emulator.base_url + "/{shop}"
        yield emulator


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    publisher = make_publisher(company="Acme Discs")
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    publisher.refresh_from_db()
    return publisher


def make_warehouse(publisher: Any, listings: bytes = LISTINGS, name: str = "3PL") -> Any:
    connection = warehouse_create(name=name, publisher_id=publisher.id).connection
    warehouse_set_enabled(connection_id=connection.id, enabled=True)
    if listings:
        listings_import(connection_id=connection.id, data=listings)
    connection.refresh_from_db()
    return connection


def report(connection: Any, levels: dict[str, int], as_of: datetime = AS_OF) -> None:
    warehouse_stock_report(
        connection=connection,
        report=StockReport(
            as_of=as_of, items=tuple(StockItem(sku, qty) for sku, qty in levels.items())
        ),
    )


def queued_runs() -> list[dict[str, Any]]:
    return [
        result.args_kwargs["kwargs"]
        for result in DBTaskResult.objects.filter(
            task_path=stock_sync.module_path, status=TaskResultStatus.READY
        ).order_by("enqueued_at", "id")
    ]


def run_queued() -> list[str]:
    """Run every queued stock sync run (a retry's own too), in order; their states."""
    states = []
    for _ in range(20):
        result = (
            DBTaskResult.objects.filter(
                task_path=stock_sync.module_path, status=TaskResultStatus.READY
            )
            .order_by("run_after", "enqueued_at", "id")
            .first()
        )
        if result is None:
            return states
        result.status = TaskResultStatus.SUCCESSFUL
        result.save(update_fields=["status"])
        states.append(stock_sync_run(**result.args_kwargs["kwargs"]).state)
    raise AssertionError("runs kept queueing runs")


@pytest.fixture
def shop(emulator: ShopifyAdminEmulator) -> str:
    """The shop's location; variants for the listed channel SKUs."""
    emulator.add_location("Old shelf", active=False)
    location = emulator.add_location("3PL Austin")
    for sku in ("SHIRT-M", "SET", "W-MUG"):
        emulator.add_variant(sku)
    return location


def turn_on(publisher: Any, location: str) -> StockSync:
    sync = stock_sync_configure(publisher=publisher, shop_domain=SHOP_DOMAIN, location_id=location)
    DBTaskResult.objects.filter(task_path=stock_sync.module_path).delete()
    return sync


# --- the location ---------------------------------------------------------------------------


def test_no_location_means_off(emulator: ShopifyAdminEmulator, shop: str, publisher: Any) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 4})
    assert queued_runs() == []
    assert stock_sync_run(publisher_id=publisher.id).state == "off"
    assert emulator.requests == []
    assert StockSyncItem.objects.count() == 0


def test_location_is_one_of_the_shops_active_locations(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    inactive = next(gid for gid, (_, active) in emulator.locations.items() if not active)
    for wrong in (inactive, "gid://shopify/Location/1"):
        with pytest.raises(StockSyncInvalid, match="active locations"):
            stock_sync_configure(publisher=publisher, shop_domain=SHOP_DOMAIN, location_id=wrong)
    assert StockSync.objects.count() == 0
    sync = stock_sync_configure(
        publisher=publisher, shop_domain=" Artist-A.myshopify.com ", location_id=shop
    )
    assert (sync.shop_domain, sync.location_id, sync.location_name) == (
        SHOP_DOMAIN,
        shop,
        "3PL Austin",
    )
    # Picking a location queues a full run.
    assert queued_runs() == [{"publisher_id": publisher.id, "changed_only": False}]
    # Off again: no location.
    sync = stock_sync_configure(publisher=publisher, shop_domain=SHOP_DOMAIN, location_id="")
    assert (sync.location_id, sync.is_on) == ("", False)


def test_a_refused_token_is_shown_when_reading_locations(
    emulator: ShopifyAdminEmulator, shop: str, make_publisher: Callable[..., Any]
) -> None:
    other = make_publisher()
    publisher_set_cart_credentials(publisher=other, shopify_admin_token="shpat_wrong")
    other.refresh_from_db()
    with pytest.raises(StockSyncInvalid, match="HTTP 401"):
        stock_sync_configure(publisher=other, shop_domain=SHOP_DOMAIN, location_id=shop)
    assert StockSync.objects.count() == 0


# --- a run ----------------------------------------------------------------------------------


def test_a_full_run_sets_channel_sku_quantities_at_the_location(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12, "W-BOOK": 5, "W-CD": 7, "W-MUG": 3, "W-PIN": 9})
    turn_on(publisher, shop)
    result = stock_sync_run(publisher_id=publisher.id)
    assert result.state == "synced"
    assert result.sent == {"SET": 3, "SHIRT-M": 12, "W-MUG": 3}
    assert emulator.available(shop) == {"SET": 3, "SHIRT-M": 12, "W-MUG": 3}
    [call] = emulator.set_calls
    assert call["name"] == "available"
    assert call["reason"] == "correction"
    assert call["ignoreCompareQuantity"] is True
    items = {
        item.channel_sku: (
            item.components,
            item.quantity_available,
            item.quantity_sent,
            item.last_error,
        )
        for item in StockSyncItem.objects.filter(connection=warehouse)
    }
    assert items == {
        "SET": ("W-BOOK x 1 + W-CD x 2", 3, 3, ""),
        "SHIRT-M": ("W-SHIRT-M x 1", 12, 12, ""),
        "W-MUG": ("W-MUG x 1", 3, 3, ""),
        "W-PIN": ("W-PIN x 1", 9, None, "The shop has no product variant with SKU W-PIN."),
    }
    assert StockSyncItem.objects.get(channel_sku="SET").synced_at is not None
    # Every level read is taken: nothing pending, no run queued.
    assert WarehouseStockLevel.objects.filter(sync_pending=True).count() == 0
    assert queued_runs() == []
    sync = StockSync.objects.get(publisher=publisher)
    assert (sync.claimed_until, sync.last_error) == (None, "")
    # Inventory item ids are kept: a second run does not look them up again.
    searches = [r for r in emulator.requests if r.operation == "productVariants"]
    assert len(searches) == 1
    stock_sync_run(publisher_id=publisher.id)
    searches = [r for r in emulator.requests if r.operation == "productVariants"]
    # Only the SKU the shop does not have is searched again.
    assert [r.variables["query"] for r in searches[1:]] == ['sku:"W-PIN"']
    assert emulator.available(shop) == {"SET": 3, "SHIRT-M": 12, "W-MUG": 3}


def test_a_bundle_with_an_unreported_component_is_not_synced(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 2, "W-BOOK": 5})
    turn_on(publisher, shop)
    assert stock_sync_run(publisher_id=publisher.id).sent == {"SHIRT-M": 2}
    item = StockSyncItem.objects.get(channel_sku="SET")
    assert (item.quantity_available, item.quantity_sent, item.last_error) == (
        None,
        None,
        "No stock reported for W-CD.",
    )
    assert emulator.available(shop) == {"SHIRT-M": 2}


def test_quantities_go_out_250_at_a_time(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher, listings=b"")
    levels = {f"SKU-{n:04d}": n for n in range(601)}
    for sku in levels:
        emulator.add_variant(sku)
    report(warehouse, levels)
    turn_on(publisher, shop)
    assert stock_sync_run(publisher_id=publisher.id).state == "synced"
    assert [len(call["quantities"]) for call in emulator.set_calls] == [250, 250, 101]
    assert emulator.available(shop) == levels
    searches = [r for r in emulator.requests if r.operation == "productVariants"]
    assert len(searches) == 13  # 50 SKUs a search


def test_a_user_error_names_its_sku_and_the_rest_are_sent(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12, "W-BOOK": 5, "W-CD": 7})
    turn_on(publisher, shop)
    stock_sync_run(publisher_id=publisher.id)
    # The shop deletes the SET variant: its cached inventory item is now unknown.
    del emulator.variants["SET"]
    report(warehouse, {"W-SHIRT-M": 11, "W-BOOK": 4}, as_of=AS_OF + timedelta(hours=1))
    assert stock_sync_run(publisher_id=publisher.id).sent == {"SHIRT-M": 11}
    first, second = emulator.set_calls[-2:]
    assert len(first["quantities"]) == 2
    assert len(second["quantities"]) == 1
    item = StockSyncItem.objects.get(channel_sku="SET")
    assert item.quantity_sent == 3  # the earlier run's
    assert item.last_error == (
        "Shopify refused it: The specified inventory item could not be found."
    )
    # The cached id is forgotten: looked up again (and not found) next time.
    assert not ShopifyInventoryItem.objects.filter(sku="SET").exists()
    stock_sync_run(publisher_id=publisher.id)
    item.refresh_from_db()
    assert item.last_error == "The shop has no product variant with SKU SET."
    assert emulator.available(shop)["SHIRT-M"] == 11


def test_outages_are_retried_with_backoff_then_sent(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12})
    turn_on(publisher, shop)
    emulator.fail_next = ["503", "429:7"]
    assert stock_sync_run(publisher_id=publisher.id).state == "retrying"
    sync = StockSync.objects.get(publisher=publisher)
    assert sync.last_error == "Shopify answered HTTP 503."
    assert sync.claimed_until is None
    assert queued_runs() == [{"publisher_id": publisher.id, "changed_only": False, "attempt": 2}]
    # The level stays pending until a run gets through.
    assert WarehouseStockLevel.objects.get(sku="W-SHIRT-M").sync_pending is True
    # Attempt 2 meets a 429 and waits what Shopify asked; attempt 3 gets through.
    result = DBTaskResult.objects.get(task_path=stock_sync.module_path)
    result.status = TaskResultStatus.SUCCESSFUL
    result.save(update_fields=["status"])
    second = stock_sync_run(publisher_id=publisher.id, attempt=2)
    assert (second.state, second.delay_seconds) == ("retrying", 7.0)
    assert run_queued() == ["synced"]
    assert emulator.available(shop) == {"SHIRT-M": 12}
    sync.refresh_from_db()
    assert sync.last_error == ""
    assert WarehouseStockLevel.objects.get(sku="W-SHIRT-M").sync_pending is False


def test_it_gives_up_after_the_last_attempt(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12})
    turn_on(publisher, shop)
    emulator.down = True
    assert run_queued() == []
    stock_sync.enqueue(publisher_id=publisher.id)
    assert run_queued() == ["retrying", "retrying", "gave_up"]
    sync = StockSync.objects.get(publisher=publisher)
    assert sync.last_error == "Shopify answered HTTP 503. Gave up after 3 attempts."
    assert emulator.quantities == {}


def test_a_refused_token_gives_up_with_the_reason(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12})
    turn_on(publisher, shop)
    emulator.tokens[SHOP] = "shpat_rotated"
    assert stock_sync_run(publisher_id=publisher.id).state == "gave_up"
    sync = StockSync.objects.get(publisher=publisher)
    assert sync.last_error.startswith("Shopify refused the access token (HTTP 401)")
    assert queued_runs() == []
    assert emulator.quantities == {}
    assert StockSyncItem.objects.get(channel_sku="SHIRT-M").quantity_sent is None


# --- when -----------------------------------------------------------------------------------


def test_a_change_queues_a_run_of_the_changed_skus_only(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12, "W-BOOK": 5, "W-CD": 7, "W-MUG": 3})
    turn_on(publisher, shop)
    stock_sync_run(publisher_id=publisher.id)
    calls = len(emulator.set_calls)
    # The same counts again change nothing: no run.
    report(warehouse, {"W-SHIRT-M": 12}, as_of=AS_OF + timedelta(minutes=5))
    assert queued_runs() == []
    # A component of the bundle changes: one run queued (two reports, one run).
    report(warehouse, {"W-CD": 2}, as_of=AS_OF + timedelta(minutes=10))
    report(warehouse, {"W-CD": 1}, as_of=AS_OF + timedelta(minutes=11))
    assert queued_runs() == [{"publisher_id": publisher.id, "changed_only": True}]
    assert run_queued() == ["synced"]
    [call] = emulator.set_calls[calls:]
    assert [q["quantity"] for q in call["quantities"]] == [0]  # SET: 1 // 2 CDs
    assert emulator.available(shop) == {"SET": 0, "SHIRT-M": 12, "W-MUG": 3}


def test_the_sweep_queues_a_full_run_per_publisher_that_is_on(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any, make_publisher: Callable[..., Any]
) -> None:
    make_publisher()  # no stock sync
    turn_on(publisher, shop)
    assert stock_sync_sweep() == 1
    assert stock_sync_sweep() == 0  # already queued
    assert queued_runs() == [{"publisher_id": publisher.id, "changed_only": False}]


def test_a_run_finding_the_publisher_claimed_leaves_it(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any, monkeypatch: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12})
    turn_on(publisher, shop)
    now = stock_sync_module._now()
    StockSync.objects.filter(publisher=publisher).update(claimed_until=now + timedelta(minutes=5))
    assert stock_sync_run(publisher_id=publisher.id).state == "busy"
    assert [r.operation for r in emulator.requests] == ["locations"]  # the configure's
    # A run is queued for when the claim lapses (its holder may have been killed).
    [queued] = DBTaskResult.objects.filter(task_path=stock_sync.module_path)
    assert queued.run_after == now + timedelta(minutes=5)
    assert queued.args_kwargs["kwargs"] == {"publisher_id": publisher.id, "changed_only": False}
    # A claim whose run died (past claimed_until) is taken over.
    monkeypatch.setattr(stock_sync_module, "_now", lambda: now + timedelta(minutes=6))
    assert stock_sync_run(publisher_id=publisher.id).state == "synced"


def test_a_change_during_a_run_is_synced_by_a_run_after_it(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any, monkeypatch: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12})
    turn_on(publisher, shop)
    real_send = stock_sync_module._send

    def send_then_report(*args: Any, **kwargs: Any) -> dict[str, int]:
        sent = real_send(*args, **kwargs)
        report(warehouse, {"W-SHIRT-M": 4}, as_of=AS_OF + timedelta(minutes=1))
        return sent

    monkeypatch.setattr(stock_sync_module, "_send", send_then_report)
    assert stock_sync_run(publisher_id=publisher.id).sent == {"SHIRT-M": 12}
    monkeypatch.setattr(stock_sync_module, "_send", real_send)
    assert queued_runs() == [{"publisher_id": publisher.id, "changed_only": True}]
    assert run_queued() == ["synced"]
    assert emulator.available(shop) == {"SHIRT-M": 4}


def test_isolation_one_publishers_levels_never_reach_another_shop(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any, make_publisher: Callable[..., Any]
) -> None:
    other = make_publisher()
    publisher_set_cart_credentials(publisher=other, shopify_admin_token=OTHER_TOKEN)
    other.refresh_from_db()
    other_location = emulator.add_location("B's shelf")
    mine = make_warehouse(publisher)
    theirs = make_warehouse(other, name="B 3PL")
    report(mine, {"W-SHIRT-M": 12})
    report(theirs, {"W-SHIRT-M": 99, "W-BOOK": 9, "W-CD": 9})
    turn_on(publisher, shop)
    stock_sync_configure(
        publisher=other, shop_domain="artist-b.myshopify.com", location_id=other_location
    )
    DBTaskResult.objects.all().delete()
    emulator.requests.clear()
    assert stock_sync_run(publisher_id=publisher.id).sent == {"SHIRT-M": 12}
    shops = {(r.shop, r.operation) for r in emulator.requests}
    assert shops == {(SHOP, "productVariants"), (SHOP, "inventorySetQuantities")}
    assert emulator.available(shop) == {"SHIRT-M": 12}
    assert emulator.available(other_location) == {}
    assert StockSyncItem.objects.filter(connection=theirs).count() == 0
    # Their report queues their run, not mine.
    report(theirs, {"W-SHIRT-M": 98}, as_of=AS_OF + timedelta(hours=1))
    assert queued_runs() == [{"publisher_id": other.id, "changed_only": True}]


def test_disabled_warehouses_take_no_part(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12})
    warehouse_set_enabled(connection_id=warehouse.id, enabled=False)
    turn_on(publisher, shop)
    assert stock_sync_run(publisher_id=publisher.id).state == "nothing"
    assert emulator.set_calls == []


def test_two_warehouses_stocking_one_channel_sku_add_up(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    first = make_warehouse(publisher)
    second = make_warehouse(
        publisher, listings=b"channel_sku,warehouse_sku,quantity\nSHIRT-M,TEE-M,1\n", name="East"
    )
    report(first, {"W-SHIRT-M": 12})
    report(second, {"TEE-M": 5})
    turn_on(publisher, shop)
    assert stock_sync_run(publisher_id=publisher.id).sent == {"SHIRT-M": 17}
    assert StockSyncItem.objects.get(connection=second).quantity_sent == 17


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_do_not_interleave(
    emulator: ShopifyAdminEmulator, shop: str, publisher: Any
) -> None:
    if db_connection.vendor != "postgresql":
        pytest.skip("threads on PostgreSQL")
    warehouse = make_warehouse(publisher)
    report(warehouse, {"W-SHIRT-M": 12, "W-BOOK": 5, "W-CD": 7})
    turn_on(publisher, shop)
    barrier = threading.Barrier(4)
    states: list[str] = []

    def run() -> None:
        from django.db import connections

        try:
            barrier.wait()
            states.append(stock_sync_run(publisher_id=publisher.id).state)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(states).count("synced") >= 1
    assert set(states) <= {"synced", "busy"}
    # However they fell, each run that got the claim sent the whole set once.
    assert len(emulator.set_calls) == states.count("synced")
    assert emulator.available(shop) == {"SET": 3, "SHIRT-M": 12}
    with transaction.atomic():
        assert StockSync.objects.get(publisher=publisher).claimed_until is None
