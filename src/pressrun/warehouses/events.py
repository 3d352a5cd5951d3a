"""What happens to warehouse orders and stock, told to the layers above (see
`pressrun.core.events`).

`warehouses` sits below `carts` and must not import it, yet every package a warehouse
ships has to reach the cart the order came from, and every stock level the Shopify shop. So
the shipment confirmations publish `WarehouseShipmentRecorded` inside the transaction that
recorded the package, and `carts` subscribes (its post-back row and task commit or roll back
with the shipment). Closing the warehouse order once the cart has every package is `carts`
calling back down (`warehouses.shipments.warehouse_order_close`). A stock report that changed
levels publishes `StockLevelsChanged`, on which the carts' stock sync queues a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from pressrun.core.events import DomainEvent
from pressrun.warehouses.models import WarehouseOrder, WarehouseShipment


@dataclass(frozen=True)
class WarehouseShipmentRecorded(DomainEvent):
    """A warehouse reported a package of one of its orders: `shipment` (tracking, carrier,
    the order lines it covers with quantities) is saved, the lines' `quantity_shipped`
    include it, and `order` is the order after the move (`shipped_at` set once every line
    has shipped)."""

    order: WarehouseOrder
    shipment: WarehouseShipment


@dataclass(frozen=True)
class StockLevelsChanged(DomainEvent):
    """A stock report changed levels of a publisher's warehouse connection (published in the
    report's transaction; the changed levels are marked `sync_pending`)."""

    connection_id: int
    publisher_id: int


__all__ = ["StockLevelsChanged", "WarehouseShipmentRecorded"]
