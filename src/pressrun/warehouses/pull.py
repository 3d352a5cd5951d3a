"""A publisher's warehouse pulling its orders over ShipStation's Custom Store protocol: the
export (`GET /warehouses/shipstation?action=export` with the connection's credentials).

The export hands the warehouse its orders, so it is also the move open → routed. Every open
order of the requested window is moved first, all with one timestamp, and only then is the
page read: a move stamps the order's LastModified (`updated_at`), and moving the orders of
page 1 after reading it would re-sort the window under ShipStation's feet, so that page 2
skipped orders. Moved first, the pages of one window are stable: the next page's request
finds nothing open to move. A moved order's LastModified is the export's time; when the
window ended before it (a re-import of old dates), the order leaves that window and comes
with the next poll, whose window covers the present.

The move goes through `states.warehouse_order_move` under the order's row lock; moving an
order that is already routed writes nothing, so two exports at once move each order once
and both show it with the one LastModified it got.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from pressrun.warehouses.models import WarehouseConnection, WarehouseOrderState
from pressrun.warehouses.selectors import (
    WarehouseExportPage,
    warehouse_export_page,
    warehouse_export_window,
)
from pressrun.warehouses.states import MoveRefused, warehouse_order_move

S = WarehouseOrderState


def warehouse_export(
    connection: WarehouseConnection,
    *,
    modified_from: datetime,
    modified_before: datetime,
    page: int,
    page_size: int,
    now: datetime | None = None,
) -> WarehouseExportPage:
    """Move the window's open orders to routed, then read the page (see the module
    docstring). Returns nothing for pressrun's own station."""
    now = now or timezone.now()
    opened = list(
        warehouse_export_window(
            connection, modified_from=modified_from, modified_before=modified_before
        )
        .filter(state=S.OPEN)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for order_id in opened:
        try:
            warehouse_order_move(order_id=order_id, to=S.ROUTED, at=now)
        except MoveRefused:
            # It left open meanwhile (an error, a shipment that came first): not ours to move.
            continue
    return warehouse_export_page(
        connection,
        modified_from=modified_from,
        modified_before=modified_before,
        page=page,
        page_size=page_size,
    )


__all__ = ["warehouse_export"]
