"""Rate limits for the endpoints outsiders call: every request counted in a shared, per-minute
window in the database.

An endpoint names what a request counts against (its *scope*) and that scope's budget;
`rate_limit_take` counts the request and says whether it is within the budget. The endpoints
using it give each sender two budgets:

- a verified sender (the right token, a valid signature, the right credentials) has a budget
  of its own: everything it makes pressrun store counts here, so a leaked secret cannot fill
  the disk faster than that;
- a request whose sender does not check out is stored nowhere and counts against its client
  address (`core.client_address.throttle_address`), so a forger never uses up a real
  sender's budget.

Over a budget the endpoint answers 429 with Retry-After (the seconds left in the window) in
its own format and stores nothing. The cart webhooks (carts/rate_limit.py) and the warehouse
endpoints (warehouses/rate_limit.py) use it; docs/operations.md has their budgets.

The count lives in the database (`RateWindow`), so every web process shares it; it is
incremented under the row's lock (an UPDATE, then a read in the same transaction), so
concurrent requests each see a distinct count and exactly `limit` of them pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pressrun.core.models import RateWindow

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Windows are kept a little while for operators to look at, then deleted by housekeeping.
KEEP_WINDOWS = timedelta(hours=1)
# A scope is stored in RateWindow.scope (120 characters); a client address is at most 64.
MAX_SCOPE_LENGTH = 120


@dataclass(frozen=True)
class RateLimited:
    """Over the budget: retry after this many seconds (the rest of the window)."""

    retry_after_seconds: int

    @property
    def message(self) -> str:
        """What every throttled endpoint tells the client, in its own format."""
        return f"Too many requests; retry after {self.retry_after_seconds} seconds."


def _window_start(now: datetime) -> datetime:
    seconds = math.floor(now.timestamp()) // WINDOW_SECONDS * WINDOW_SECONDS
    return datetime.fromtimestamp(seconds, tz=UTC)


def _count_one(scope: str, window_start: datetime) -> int:
    """Add one to the window's count; return the count including this request."""
    rows = RateWindow.objects.filter(scope=scope, window_start=window_start)
    with transaction.atomic():
        if rows.update(count=F("count") + 1) == 0:
            try:
                with transaction.atomic():
                    RateWindow.objects.create(scope=scope, window_start=window_start, count=1)
                return 1
            except IntegrityError:
                # Another request created the window first: count on it.
                rows.update(count=F("count") + 1)
        # The UPDATE holds the row's lock until commit: this read is our own count.
        return int(rows.values_list("count", flat=True).get())


def rate_limit_take(*, scope: str, limit: int, label: str) -> RateLimited | None:
    """Count one request against `scope`'s current window. Returns None when it is within
    `limit` (0: no limit, nothing counted), else RateLimited. The first request over the
    limit in a window logs one line (`<label> requests throttled: <scope> …`); the rest of
    the window's refusals log nothing, so a flood cannot flood the log either."""
    if limit <= 0:
        return None
    if len(scope) > MAX_SCOPE_LENGTH:
        raise ValueError(f"A rate-limit scope is at most {MAX_SCOPE_LENGTH} characters: {scope!r}")
    now = timezone.now()
    window_start = _window_start(now)
    count = _count_one(scope, window_start)
    if count <= limit:
        return None
    if count == limit + 1:
        logger.warning(
            "%s requests throttled: %s made over %d requests this minute", label, scope, limit
        )
    window_end = window_start + timedelta(seconds=WINDOW_SECONDS)
    return RateLimited(max(1, math.ceil((window_end - now).total_seconds())))


def rate_windows_prune(*, now: datetime | None = None) -> int:
    """Delete windows older than KEEP_WINDOWS (housekeeping); returns how many."""
    cutoff = (now or timezone.now()) - KEEP_WINDOWS
    return RateWindow.objects.filter(window_start__lt=cutoff).delete()[0]
