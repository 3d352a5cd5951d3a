"""Stock levels a publisher's warehouse reports (`POST /warehouses/<connection>/inventory`,
the push protocol): one `WarehouseStockLevel` per (connection, warehouse SKU).

Reports may arrive out of order (a retry overtaken by a later count): each level keeps the
time it was counted (`reported_at`: the report's `as_of`, else when it was received), and a
report older than that leaves it as it is. A level whose quantity changes is marked
`sync_pending` and `StockLevelsChanged` is published (warehouses/events.py): the carts' stock
sync (which sits above this app) subscribes, reads those levels with `stock_levels_changed`
and clears the mark with `warehouse_stock_synced`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from pressrun.core.events import publish
from pressrun.warehouses.events import StockLevelsChanged
from pressrun.warehouses.inbound import StockReport
from pressrun.warehouses.models import WarehouseConnection, WarehouseStockLevel


@dataclass(frozen=True)
class StockResult:
    changed: int
    unchanged: int
    older: int


def warehouse_stock_report(
    *, connection: WarehouseConnection, report: StockReport, now: datetime | None = None
) -> StockResult:
    """Store the report's levels (see the module docstring). Reports of one connection are
    serialised by its row lock, so two at once apply in turn and the newer count wins
    whatever the order. Idempotent: the same report again changes nothing but the
    received time."""
    now = now or timezone.now()
    as_of = report.as_of or now
    changed = unchanged = older = 0
    with transaction.atomic():
        WarehouseConnection.objects.select_for_update().filter(id=connection.id).first()
        stored = {
            level.sku: level
            for level in WarehouseStockLevel.objects.filter(
                connection=connection, sku__in=[item.sku for item in report.items]
            )
        }
        created: list[WarehouseStockLevel] = []
        for item in report.items:
            level = stored.get(item.sku)
            if level is None:
                created.append(
                    WarehouseStockLevel(
                        connection=connection,
                        sku=item.sku,
                        quantity=item.quantity,
                        reported_at=as_of,
                        received_at=now,
                        changed_at=now,
                        sync_pending=True,
                    )
                )
                changed += 1
                continue
            if as_of < level.reported_at:
                older += 1
                continue
            level.reported_at = as_of
            level.received_at = now
            fields = ["reported_at", "received_at"]
            if level.quantity != item.quantity:
                level.quantity = item.quantity
                level.changed_at = now
                level.sync_pending = True
                fields += ["quantity", "changed_at", "sync_pending"]
                changed += 1
            else:
                unchanged += 1
            level.save(update_fields=fields)
        WarehouseStockLevel.objects.bulk_create(created)
        if changed and connection.publisher_id is not None:
            publish(
                StockLevelsChanged(
                    connection_id=connection.id, publisher_id=connection.publisher_id
                )
            )
    return StockResult(changed=changed, unchanged=unchanged, older=older)


def stock_levels_changed(*, connection_id: int) -> QuerySet[WarehouseStockLevel]:
    """The connection's levels changed since the stock sync last took them."""
    return WarehouseStockLevel.objects.filter(connection_id=connection_id, sync_pending=True)


def warehouse_stock_synced(*, level_id: int, changed_at: datetime) -> bool:
    """Clear the level's mark once its quantity as of `changed_at` was passed on; a level
    that changed again meanwhile keeps it. Returns whether it was cleared."""
    return bool(
        WarehouseStockLevel.objects.filter(id=level_id, changed_at=changed_at).update(
            sync_pending=False
        )
    )


__all__ = [
    "StockResult",
    "stock_levels_changed",
    "warehouse_stock_report",
    "warehouse_stock_synced",
]
