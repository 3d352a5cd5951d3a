"""The cart endpoints' rate limits: every request counted in a shared, per-minute window.

Two budgets (docs/operations.md, "Cart endpoint rate limits"):

- a verified sender (the right token, a valid signature, or for 1ShoppingCart's tokenless
  URL the publisher ID) has `CART_DELIVERIES_PER_MINUTE` requests per cart and publisher:
  everything stored counts here, so a leaked token cannot fill the disk faster than that;
- a request whose sender does not check out (unknown publisher, wrong token, bad signature)
  is stored nowhere, and counts against its client address: `CART_UNVERIFIED_PER_MINUTE`.
  A forger therefore never uses up a publisher's own budget.

Over a budget the request is answered 429 with Retry-After (the seconds left in the window)
and nothing is stored. The carts retry such a delivery later, as they retry any non-2xx.

The count lives in the database (`DeliveryRateWindow`), so every web process shares it; it is
incremented under the row's lock (an UPDATE, then a read in the same transaction), so
concurrent requests each see a distinct count and exactly `limit` of them pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pressrun.carts.models import DeliveryRateWindow

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Windows are kept a little while for operators to look at, then deleted by housekeeping.
KEEP_WINDOWS = timedelta(hours=1)


@dataclass(frozen=True)
class RateLimited:
    """Over the budget: retry after this many seconds (the rest of the window)."""

    retry_after_seconds: int


def publisher_scope(cart: str, publisher_id: int) -> str:
    return f"{cart}:publisher:{publisher_id}"


def unverified_scope(client_address: str) -> str:
    return f"unverified:{client_address[:64]}"


def _window_start(now: datetime) -> datetime:
    seconds = math.floor(now.timestamp()) // WINDOW_SECONDS * WINDOW_SECONDS
    return datetime.fromtimestamp(seconds, tz=UTC)


def _count_one(scope: str, window_start: datetime) -> int:
    """Add one to the window's count; return the count including this request."""
    rows = DeliveryRateWindow.objects.filter(scope=scope, window_start=window_start)
    with transaction.atomic():
        if rows.update(count=F("count") + 1) == 0:
            try:
                with transaction.atomic():
                    DeliveryRateWindow.objects.create(
                        scope=scope, window_start=window_start, count=1
                    )
                return 1
            except IntegrityError:
                # Another request created the window first: count on it.
                rows.update(count=F("count") + 1)
        # The UPDATE holds the row's lock until commit: this read is our own count.
        return int(rows.values_list("count", flat=True).get())


def delivery_rate_take(*, scope: str, limit: int) -> RateLimited | None:
    """Count one request against `scope`'s current window. Returns None when it is within
    `limit` (0: no limit, nothing counted), else RateLimited. The first request over the
    limit in a window logs one line; the rest of the window's refusals log nothing."""
    if limit <= 0:
        return None
    now = timezone.now()
    window_start = _window_start(now)
    count = _count_one(scope, window_start)
    if count <= limit:
        return None
    if count == limit + 1:
        logger.warning(
            "cart requests throttled: %s made over %d requests this minute", scope, limit
        )
    window_end = window_start + timedelta(seconds=WINDOW_SECONDS)
    return RateLimited(max(1, math.ceil((window_end - now).total_seconds())))


def delivery_rate_windows_prune(*, now: datetime | None = None) -> int:
    """Delete windows older than KEEP_WINDOWS (housekeeping); returns how many."""
    cutoff = (now or timezone.now()) - KEEP_WINDOWS
    return DeliveryRateWindow.objects.filter(window_start__lt=cutoff).delete()[0]


def cart_deliveries_per_minute() -> int:
    return int(settings.CART_DELIVERIES_PER_MINUTE)


def cart_unverified_per_minute() -> int:
    return int(settings.CART_UNVERIFIED_PER_MINUTE)
