"""Domain events of the warehouses app (core/events.py): what happened here that the layers
above (the carts' stock sync) act on; `warehouses` knows nothing of them."""

from __future__ import annotations

from dataclasses import dataclass

from pressrun.core.events import DomainEvent


@dataclass(frozen=True)
class StockLevelsChanged(DomainEvent):
    """A stock report changed levels of a publisher's warehouse connection (published in the
    report's transaction; the changed levels are marked `sync_pending`)."""

    connection_id: int
    publisher_id: int
