"""The carts' housekeeping step, run by `core.tasks.housekeeping` every hour."""

from __future__ import annotations

from datetime import datetime

from pressrun.carts.rate_limit import delivery_rate_windows_prune
from pressrun.carts.services import delivery_bodies_expire


def cart_housekeeping(*, now: datetime) -> dict[str, int]:
    """Remove the raw bodies past retention of deliveries that made no order, and the rate
    limit's old windows. Returns what was done, by name, for the housekeeping result."""
    return {
        "cart_bodies_emptied": delivery_bodies_expire(now=now),
        "cart_rate_windows": delivery_rate_windows_prune(now=now),
    }
