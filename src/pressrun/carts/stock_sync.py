"""Stock sync (DropStream's inventory channel): the stock levels a publisher's warehouses
report (warehouses/stock.py) set the "available" quantity of the publisher's Shopify shop, at
the location the publisher picked, under the cart's SKU (the channel SKU).

What a channel SKU's quantity is (`channel_stock`, pure), per warehouse connection:

- a product listing (channel SKU → one warehouse SKU) → that SKU's level;
- a bundle → the number of complete bundles the components allow: the least, over its
  components, of floor(level / component quantity);
- a reported warehouse SKU that no listing names → itself, under its own SKU;
- a component with no reported level → not synced ("no stock reported for X").

A channel SKU stocked by several of the publisher's warehouses gets the sum of theirs (any
of them unknown: not synced). Disabled connections and pressrun's own station take no part.

When (`stock_sync_run`): every PRESSRUN_STOCK_SYNC_SECONDS (default 900) for every publisher
with a location picked, all channel SKUs ("full"); and on change: a report that changes a
level publishes `StockLevelsChanged`, whose subscriber queues a run of only the channel SKUs
that changed, picked up by the worker at once (its next poll, about a second). One run per
publisher at a time: a run claims the publisher's `StockSync` row (`claimed_until`) before it
reads anything, and a second one that finds it claimed leaves the work to it (the claimer
looks again for levels that changed while it ran, and a run is queued for when the claim
lapses, should its worker have been killed). Quantities are absolute, so a run repeated
after a crash sets the same numbers again.

Shopify's answers (carts/shopify/client.py): an outage, a 5xx, a 429 or a throttled query
retries the run with backoff (the post-back's settings, PRESSRUN_CART_POSTBACK_*); a refused
token (401/403) ends the run with the reason shown, until the next scheduled run; a
userError names one quantity, which is shown on its SKU, and the rest are sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import Publisher
from pressrun.carts.models import ShopifyInventoryItem, StockSync, StockSyncItem
from pressrun.carts.shopify.client import (
    MAX_SET_QUANTITIES,
    Location,
    ShopifyAdminClient,
    ShopifyRefused,
    ShopifyUnavailable,
)
from pressrun.core.tasks import backoff_seconds
from pressrun.orders.models import Order, Source
from pressrun.warehouses.events import StockLevelsChanged
from pressrun.warehouses.listings import Component, listings_for
from pressrun.warehouses.models import WarehouseConnection, WarehouseStockLevel
from pressrun.warehouses.stock import warehouse_stock_synced

logger = logging.getLogger(__name__)

# A run that has not finished this long after it claimed the publisher is taken to have died
# (its worker killed): the next run claims it again.
CLAIM_SECONDS = 600
MAX_ERROR_LENGTH = 500


def _now() -> datetime:
    """The sync's clock (one place, so a test can run hours of retries at once)."""
    return timezone.now()


class StockSyncInvalid(Exception):
    """The settings cannot be saved (`message` says why, for the form)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the quantities (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class ChannelStock:
    """What one connection's levels allow of one channel SKU; `quantity` None when a
    component has no reported level (`missing` names them)."""

    channel_sku: str
    components: tuple[Component, ...]
    quantity: int | None
    missing: tuple[str, ...] = ()


def bundle_quantity(components: Iterable[Component], levels: Mapping[str, int]) -> int | None:
    """The complete bundles the levels allow: min over the components of
    floor(level / quantity), a warehouse SKU named twice counted with both quantities;
    None when a component has no level."""
    needed: dict[str, int] = {}
    for component in components:
        needed[component.warehouse_sku] = needed.get(component.warehouse_sku, 0) + max(
            component.quantity, 1
        )
    if not needed or any(sku not in levels for sku in needed):
        return None
    return min(levels[sku] // quantity for sku, quantity in needed.items())


def channel_stock(
    *, listings: Mapping[str, tuple[Component, ...]], levels: Mapping[str, int]
) -> dict[str, ChannelStock]:
    """Every channel SKU a connection's listings and levels give, by SKU (module docstring)."""
    found: dict[str, ChannelStock] = {}
    listed_warehouse_skus: set[str] = set()
    for channel_sku, components in listings.items():
        listed_warehouse_skus.update(component.warehouse_sku for component in components)
        missing = tuple(
            dict.fromkeys(c.warehouse_sku for c in components if c.warehouse_sku not in levels)
        )
        found[channel_sku] = ChannelStock(
            channel_sku=channel_sku,
            components=components,
            quantity=None if missing else bundle_quantity(components, levels),
            missing=missing,
        )
    for sku, level in levels.items():
        if sku not in listed_warehouse_skus and sku not in found:
            found[sku] = ChannelStock(sku, (Component(sku, 1),), level)
    return found


def components_text(components: Iterable[Component]) -> str:
    """ "A x 1 + B x 2": a channel SKU's warehouse SKUs, as the stock page shows them."""
    return " + ".join(f"{c.warehouse_sku} x {c.quantity}" for c in components)[:1000]


# --- settings ------------------------------------------------------------------------------


def stock_sync_shop_guess(*, publisher_id: int) -> str:
    """The shop the publisher's latest Shopify order came from ("" when none): the form's
    first suggestion."""
    store = (
        Order.objects.filter(publisher_id=publisher_id, source=Source.SHOPIFY)
        .exclude(store="")
        .order_by("-id")
        .values_list("store", flat=True)
        .first()
    )
    return store or ""


def _client(publisher: Publisher, shop_domain: str) -> ShopifyAdminClient:
    token = publisher.shopify_admin_token
    if not token:
        raise ShopifyRefused(
            "No Shopify Admin API access token is saved: add it under Settings → Cart "
            "credentials (scopes write_inventory, read_locations, read_products)."
        )
    return ShopifyAdminClient(shop_domain=shop_domain, access_token=token)


def stock_sync_locations(*, publisher: Publisher, shop_domain: str) -> list[Location]:
    """The shop's active locations, read from Shopify with the publisher's token. Raises
    StockSyncInvalid with what went wrong."""
    try:
        return [
            location for location in _client(publisher, shop_domain).locations() if location.active
        ]
    except (ShopifyRefused, ShopifyUnavailable) as exc:
        raise StockSyncInvalid(str(exc)) from exc


def stock_sync_configure(*, publisher: Publisher, shop_domain: str, location_id: str) -> StockSync:
    """Save the shop and the location stock is set at, checked against the shop's locations
    (StockSyncInvalid when it is not one of them); an empty `location_id` turns the sync off.
    A location newly picked queues a full sync at once."""
    shop_domain = shop_domain.strip().lower()
    name = ""
    if location_id:
        by_id = {
            location.id: location
            for location in stock_sync_locations(publisher=publisher, shop_domain=shop_domain)
        }
        if location_id not in by_id:
            raise StockSyncInvalid("Pick one of the shop's active locations.")
        name = by_id[location_id].name
    with transaction.atomic():
        sync, _ = StockSync.objects.select_for_update().get_or_create(publisher=publisher)
        changed = (sync.shop_domain, sync.location_id) != (shop_domain, location_id)
        if sync.shop_domain != shop_domain:
            # Another shop: its inventory items are others.
            ShopifyInventoryItem.objects.filter(publisher=publisher).delete()
        sync.shop_domain = shop_domain
        sync.location_id = location_id
        sync.location_name = name
        if changed:
            sync.last_error = ""
            sync.next_attempt_at = None
        sync.save()
        if location_id and changed:
            stock_sync_queue(publisher_id=publisher.id, changed_only=False)
    return sync


# --- queueing ------------------------------------------------------------------------------


def _queued(publisher_id: int, changed_only: bool) -> bool:
    """Whether a run of the publisher not yet started is queued that covers this one (a
    full run covers a changed-only one). A running one does not count: it may have read the
    levels before this change."""
    from pressrun.carts.tasks import stock_sync

    runs = DBTaskResult.objects.filter(
        task_path=stock_sync.module_path,
        status=TaskResultStatus.READY,
        args_kwargs__kwargs__publisher_id=publisher_id,
    ).values_list("args_kwargs", flat=True)
    for args_kwargs in runs:
        kwargs = args_kwargs.get("kwargs", {}) if isinstance(args_kwargs, dict) else {}
        if changed_only or not kwargs.get("changed_only", False):
            return True
    return False


def stock_sync_queue(*, publisher_id: int, changed_only: bool) -> bool:
    """Queue a run for the publisher now, unless one that covers it is already queued;
    returns whether it queued one."""
    from pressrun.carts.tasks import stock_sync

    if _queued(publisher_id, changed_only):
        return False
    stock_sync.enqueue(publisher_id=publisher_id, changed_only=changed_only)
    return True


def on_stock_levels_changed(event: StockLevelsChanged) -> None:
    """The subscriber (CartsConfig.ready): queue a sync of the changed SKUs, in the report's
    transaction, for a publisher whose sync is on."""
    if StockSync.objects.filter(publisher_id=event.publisher_id).exclude(location_id="").exists():
        stock_sync_queue(publisher_id=event.publisher_id, changed_only=True)


def stock_sync_sweep() -> int:
    """Queue a full run for every publisher whose sync is on (the periodic task); returns how
    many were queued."""
    queued = 0
    for publisher_id in (
        StockSync.objects.exclude(location_id="")
        .exclude(shop_domain="")
        .values_list("publisher_id", flat=True)
    ):
        queued += stock_sync_queue(publisher_id=publisher_id, changed_only=False)
    return queued


# --- a run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    state: str  # off, busy, nothing, synced, retrying, gave_up
    sent: dict[str, int] = field(default_factory=dict)  # channel SKU → quantity set
    delay_seconds: float | None = None


def _claim(publisher_id: int, now: datetime) -> StockSync | None:
    claimed = (
        StockSync.objects.filter(publisher_id=publisher_id)
        .exclude(location_id="")
        .exclude(shop_domain="")
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return None
    return StockSync.objects.select_related("publisher").get(publisher_id=publisher_id)


def _release(sync: StockSync, **values: object) -> None:
    StockSync.objects.filter(id=sync.id).update(claimed_until=None, **values)


@dataclass
class _Read:
    # connection id → its channel stocks; the pending levels read (id, changed_at)
    stocks: dict[int, dict[str, ChannelStock]]
    pending: list[tuple[int, datetime]]
    pending_skus: dict[int, set[str]]


def _read(publisher_id: int) -> _Read:
    connections = list(
        WarehouseConnection.objects.filter(publisher_id=publisher_id, enabled=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    read = _Read(stocks={}, pending=[], pending_skus={})
    for connection_id in connections:
        levels: dict[str, int] = {}
        for level_id, sku, quantity, changed_at, pending in WarehouseStockLevel.objects.filter(
            connection_id=connection_id
        ).values_list("id", "sku", "quantity", "changed_at", "sync_pending"):
            levels[sku] = quantity
            if pending:
                read.pending.append((level_id, changed_at))
                read.pending_skus.setdefault(connection_id, set()).add(sku)
        read.stocks[connection_id] = channel_stock(
            listings=listings_for(connection_id), levels=levels
        )
    return read


def _totals(read: _Read, wanted: set[str] | None) -> tuple[dict[str, int], dict[str, str]]:
    """The quantity to send per channel SKU (its warehouses' sum), and why the others are
    not sent."""
    totals: dict[str, int] = {}
    blocked: dict[str, str] = {}
    for stocks in read.stocks.values():
        for sku, stock in stocks.items():
            if wanted is not None and sku not in wanted:
                continue
            if stock.quantity is None:
                blocked[sku] = "No stock reported for " + ", ".join(stock.missing) + "."
                continue
            totals[sku] = totals.get(sku, 0) + stock.quantity
    for sku in blocked:
        totals.pop(sku, None)
    return totals, blocked


def _changed_skus(read: _Read) -> set[str]:
    """The channel SKUs one of whose components changed."""
    wanted: set[str] = set()
    for connection_id, skus in read.pending_skus.items():
        for channel_sku, stock in read.stocks.get(connection_id, {}).items():
            if any(component.warehouse_sku in skus for component in stock.components):
                wanted.add(channel_sku)
    return wanted


def _write_items(read: _Read, wanted: set[str] | None, now: datetime, *, full: bool) -> None:
    """Record each channel SKU's available quantity per connection (a full run also drops
    the rows of SKUs no longer listed or reported)."""
    for connection_id, stocks in read.stocks.items():
        existing = {
            item.channel_sku: item
            for item in StockSyncItem.objects.filter(connection_id=connection_id)
        }
        new_items = []
        for sku, stock in stocks.items():
            if wanted is not None and sku not in wanted:
                continue
            error = (
                "No stock reported for " + ", ".join(stock.missing) + "." if stock.missing else ""
            )
            item = existing.get(sku)
            if item is None:
                new_items.append(
                    StockSyncItem(
                        connection_id=connection_id,
                        channel_sku=sku,
                        components=components_text(stock.components),
                        quantity_available=stock.quantity,
                        last_error=error,
                        updated_at=now,
                    )
                )
                continue
            item.components = components_text(stock.components)
            item.quantity_available = stock.quantity
            item.last_error = error
            item.updated_at = now
            item.save(
                update_fields=["components", "quantity_available", "last_error", "updated_at"]
            )
        StockSyncItem.objects.bulk_create(new_items)
        if full:
            gone = [sku for sku in existing if sku not in stocks]
            StockSyncItem.objects.filter(connection_id=connection_id, channel_sku__in=gone).delete()


def _note(publisher_id: int, skus: Iterable[str], now: datetime, **values: object) -> None:
    StockSyncItem.objects.filter(
        connection__publisher_id=publisher_id, channel_sku__in=sorted(set(skus))
    ).update(updated_at=now, **values)


def _inventory_items(
    client: ShopifyAdminClient, sync: StockSync, skus: list[str], now: datetime
) -> dict[str, str]:
    cached = dict(
        ShopifyInventoryItem.objects.filter(
            publisher_id=sync.publisher_id, shop_domain=sync.shop_domain, sku__in=skus
        ).values_list("sku", "inventory_item_id")
    )
    missing = [sku for sku in skus if sku not in cached]
    if missing:
        found = client.inventory_items_by_sku(missing)
        ShopifyInventoryItem.objects.bulk_create(
            [
                ShopifyInventoryItem(
                    publisher_id=sync.publisher_id,
                    shop_domain=sync.shop_domain,
                    sku=sku,
                    inventory_item_id=item,
                    found_at=now,
                )
                for sku, item in found.items()
            ],
            ignore_conflicts=True,
        )
        cached.update(found)
    return cached


def _send(
    client: ShopifyAdminClient, sync: StockSync, totals: dict[str, int], now: datetime
) -> dict[str, int]:
    """Set the quantities in Shopify, MAX_SET_QUANTITIES at a time; returns what was set. A
    SKU the shop has no variant for, or one a userError names, is noted on its rows."""
    skus = sorted(totals)
    items = _inventory_items(client, sync, skus, now)
    unknown = [sku for sku in skus if sku not in items]
    for sku in unknown:
        _note(
            sync.publisher_id,
            [sku],
            now,
            last_error=f"The shop has no product variant with SKU {sku}."[:MAX_ERROR_LENGTH],
        )
    known = [sku for sku in skus if sku in items]
    sent: dict[str, int] = {}
    for start in range(0, len(known), MAX_SET_QUANTITIES):
        batch = known[start : start + MAX_SET_QUANTITIES]
        # Shopify applies all of a batch or none: a quantity a userError names is taken out
        # and the rest sent again (each round takes one out at least, so it ends).
        while batch:
            errors = client.inventory_set_quantities(
                location_id=sync.location_id,
                quantities=[(items[sku], totals[sku]) for sku in batch],
            )
            if not errors:
                break
            named = {error.index for error in errors if error.index is not None}
            named = {index for index in named if 0 <= index < len(batch)}
            whole = [
                error.message
                for error in errors
                if error.index is None or error.index >= len(batch)
            ]
            if whole or not named:
                raise ShopifyRefused(
                    "Shopify refused the quantities: "
                    + "; ".join(whole or [error.message for error in errors])
                )
            for error in errors:
                if error.index in named:
                    sku = batch[error.index]
                    _note(
                        sync.publisher_id,
                        [sku],
                        now,
                        last_error=f"Shopify refused it: {error.message}"[:MAX_ERROR_LENGTH],
                    )
                    # A refused inventory item may be one the shop no longer has: looked up
                    # again next time.
                    ShopifyInventoryItem.objects.filter(
                        publisher_id=sync.publisher_id, shop_domain=sync.shop_domain, sku=sku
                    ).delete()
            batch = [sku for index, sku in enumerate(batch) if index not in named]
        # One UPDATE per distinct quantity rather than per SKU.
        by_quantity: dict[int, list[str]] = {}
        for sku in batch:
            sent[sku] = totals[sku]
            by_quantity.setdefault(totals[sku], []).append(sku)
        for quantity, skus_sent in by_quantity.items():
            _note(
                sync.publisher_id,
                skus_sent,
                now,
                quantity_sent=quantity,
                synced_at=now,
                last_error="",
            )
    return sent


def stock_sync_run(*, publisher_id: int, changed_only: bool = False, attempt: int = 1) -> RunResult:
    """One run of the publisher's stock sync (the task's body; module docstring): every
    channel SKU, or (`changed_only`) those whose levels changed since they were last taken.
    Safe to run twice and at once: see the module docstring."""
    from pressrun.carts.tasks import stock_sync

    now = _now()
    sync = _claim(publisher_id, now)
    if sync is None:
        claimed = (
            StockSync.objects.filter(publisher_id=publisher_id)
            .exclude(location_id="")
            .values_list("claimed_until", flat=True)
            .first()
        )
        if claimed is None:
            return RunResult("off")
        # The run holding the claim takes what changed before it ends. Should it never end
        # (its worker killed), a run queued for when its claim lapses does the work.
        with transaction.atomic():
            if not _queued(publisher_id, changed_only):
                stock_sync.using(run_after=claimed).enqueue(
                    publisher_id=publisher_id, changed_only=changed_only
                )
        return RunResult("busy")
    try:
        read = _read(publisher_id)
        wanted = _changed_skus(read) if changed_only else None
        _write_items(read, wanted, now, full=not changed_only)
        totals, _blocked = _totals(read, wanted)
        sent: dict[str, int] = {}
        if totals:
            client = _client(sync.publisher, sync.shop_domain)
            sent = _send(client, sync, totals, now)
    except ShopifyUnavailable as exc:
        if attempt >= settings.CART_POSTBACK_ATTEMPTS:
            _release(
                sync,
                last_run_at=now,
                next_attempt_at=None,
                last_error=f"{exc} Gave up after {attempt} attempts."[:MAX_ERROR_LENGTH],
            )
            return RunResult("gave_up")
        delay = (
            exc.retry_after
            if exc.retry_after is not None
            else backoff_seconds(attempt, base=settings.CART_POSTBACK_RETRY_BASE_SECONDS)
        )
        run_after = now + timedelta(seconds=delay)
        with transaction.atomic():
            _release(sync, last_error=str(exc)[:MAX_ERROR_LENGTH], next_attempt_at=run_after)
            stock_sync.using(run_after=run_after).enqueue(
                publisher_id=publisher_id, changed_only=changed_only, attempt=attempt + 1
            )
        logger.info("stock sync of publisher %s: %s; again in %.0f s", publisher_id, exc, delay)
        return RunResult("retrying", delay_seconds=delay)
    except ShopifyRefused as exc:
        logger.warning("stock sync of publisher %s: %s", publisher_id, exc)
        _release(
            sync, last_run_at=now, next_attempt_at=None, last_error=str(exc)[:MAX_ERROR_LENGTH]
        )
        return RunResult("gave_up")
    except BaseException:
        _release(sync)
        raise
    # Done with the levels read: a level that changed since keeps its mark.
    for level_id, changed_at in read.pending:
        warehouse_stock_synced(level_id=level_id, changed_at=changed_at)
    with transaction.atomic():
        _release(sync, last_run_at=now, next_attempt_at=None, last_error="")
        if WarehouseStockLevel.objects.filter(
            connection__publisher_id=publisher_id, connection__enabled=True, sync_pending=True
        ).exists():
            # Changed while this run ran (its report's run found the claim taken).
            stock_sync_queue(publisher_id=publisher_id, changed_only=True)
    return RunResult("synced" if totals else "nothing", sent=sent)


# --- reading -------------------------------------------------------------------------------


def stock_sync_of(*, publisher_id: int) -> StockSync | None:
    return StockSync.objects.filter(publisher_id=publisher_id).first()


def stock_items(*, connection_id: int) -> list[StockSyncItem]:
    return list(StockSyncItem.objects.filter(connection_id=connection_id).order_by("channel_sku"))
