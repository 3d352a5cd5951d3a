"""Outbound rows: webhook deliveries and warehouse pushes, each a message pressrun POSTs to a
publisher's URL, written with its send task in the transaction of the fact it tells (an
outbox) and sent by that task in attempts on a retry schedule, each attempt logged in a row
of its own. (Cart post-backs follow each cart's API and keep their own shape; emails share
the claim.)

The apps keep what differs (what is sent, its headers, what an answer means for their
data); this module keeps what must be the same for every one of them:

- **the claim** (emails' rows too): a run sends only a row it moved to `sending` under its
  own worker's id (`outbound_claim`), and records its attempt only while that claim is
  still on the row (`outbound_still_ours`): a run whose worker was declared dead meanwhile,
  and whose row another run took over, records nothing;
- **the attempt's record**: the attempt's row written, and the outbound row's figures (the
  series' count, the last answer, the claim released, the next attempt's time) given back
  for the caller to save with its status in the same transaction
  (`outbound_attempt_record`), and the next attempt's time from the schedule
  (`outbound_next_attempt_at`);
- **"Send again"** (`outbound_row_restart`) and the sweep that queues rows whose task was
  lost (`stranded_rows_requeue`).

The rows' models take these columns from `core.models.OutboundRow` and their attempts' from
`OutboundAttempt`; each adds its own `status` ("pending", "sending" and its own finished
states) and, for an attempt, the foreign key to its row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django_tasks.base import Task

from pressrun.core.models import OUTBOUND_TEXT_LENGTH, OutboundAttempt, OutboundRow
from pressrun.core.tasks import current_worker_id

logger = logging.getLogger(__name__)

# Every outbound row's status choices have these two values (tests/core/test_outbound.py).
PENDING = "pending"
SENDING = "sending"


@dataclass(frozen=True)
class PostResult:
    """What one attempt's request came to: the HTTP status (None when there was no answer),
    the start of the answer's body, the error ("" for a 2xx) and how long it took."""

    code: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def accepted(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def outbound_claim(
    claimable: models.QuerySet[Any], row_id: int, *, now: datetime, **also: Any
) -> bool:
    """Claim the row for this run: `sending`, owned by this worker since `now` (and the
    columns in `also` set, in the same statement), if it is among `claimable` (due, or
    under a claim nobody holds any more). False when it is not: finished, not due, or held
    by a live worker."""
    claimed = claimable.filter(id=row_id).update(
        status=SENDING, claimed_by=current_worker_id(), claimed_at=now, **also
    )
    return claimed == 1


def outbound_still_ours(row_id: int, claimed_at: datetime) -> dict[str, object]:
    """Filter for the row while this run's claim (made at `claimed_at`) is still on it."""
    return {
        "id": row_id,
        "status": SENDING,
        "claimed_by": current_worker_id(),
        "claimed_at": claimed_at,
    }


def outbound_next_attempt_at(
    *, series: int, schedule: Sequence[int], attempts_allowed: int, now: datetime
) -> datetime | None:
    """When the attempt after the `series`-th failed one of a series is due (`schedule`:
    minutes after each failed attempt), or None when that was the last allowed."""
    if series >= attempts_allowed:
        return None
    return now + timedelta(minutes=schedule[series - 1])


def outbound_attempt_record(
    *,
    row_model: type[OutboundRow],
    attempt_model: type[OutboundAttempt],
    row_field: str,
    row_id: int,
    claimed_at: datetime,
    number: int,
    url: str,
    result: PostResult,
    series: int,
    next_at: datetime | None,
    what: str,
) -> dict[str, object] | None:
    """Inside the caller's transaction: lock the row while this run's claim is on it, write
    the attempt's row (`row_field` its foreign key to the row) and return the row's columns
    every attempt sets (its status and what follows from it are the caller's to add and
    save, in the same transaction). None, with nothing written, when the claim was lost
    (logged with `what` naming the row)."""
    still_ours = row_model._default_manager.select_for_update().filter(
        **outbound_still_ours(row_id, claimed_at)
    )
    if not still_ours.exists():
        logger.warning("%s: claim lost during the attempt", what)
        return None
    attempt_model._default_manager.create(
        **{f"{row_field}_id": row_id},
        number=number,
        started_at=claimed_at,
        url=url[:OUTBOUND_TEXT_LENGTH],
        response_code=result.code,
        duration_ms=result.duration_ms,
        error=result.error[:OUTBOUND_TEXT_LENGTH],
        response_excerpt=result.excerpt[:OUTBOUND_TEXT_LENGTH],
        next_retry_at=next_at,
    )
    return {
        "series_attempts": series,
        "last_response_code": result.code,
        "last_error": result.error[:OUTBOUND_TEXT_LENGTH],
        "claimed_by": "",
        "claimed_at": None,
        "next_attempt_at": next_at,
    }


def outbound_row_restart(row: OutboundRow, *, now: datetime) -> None:
    """Start an outbound row over, for its "Send again": pending, due now, a new series of
    attempts, no claim and no give-up. Call it under the row's lock and queue its task in
    the same transaction."""
    row.status = PENDING  # type: ignore[attr-defined]  # each model's own column
    row.series_attempts = 0
    row.next_attempt_at = now
    row.gave_up_at = None
    row.claimed_by = ""
    row.claimed_at = None
    row.save()


def stranded_rows_requeue(
    *,
    model: type[models.Model],
    ids: list[int],
    task_to_queue: Task[Any, Any],
    argument: str,
    now: datetime,
    label: str,
) -> int:
    """Queue `task_to_queue(<argument>=id)` again for each of `ids`: outbound rows found
    waiting with no task (`core.tasks.ids_without_pending_run`). Each is re-checked under
    its row lock first and skipped unless still `pending` or `sending`; a pending row due
    later is queued for its due time (`next_attempt_at`). Should a second task exist after
    all, the row's claim lets only one of them send. Returns how many were queued; `label`
    names the rows in the warning logged for each."""
    queued = 0
    for row_id in ids:
        with transaction.atomic():
            row = (
                model._default_manager.select_for_update()
                .filter(id=row_id, status__in=[PENDING, SENDING])
                .first()
            )
            if row is None:
                continue
            due = getattr(row, "next_attempt_at", None)
            if getattr(row, "status", None) == PENDING and due is not None and due > now:
                task_to_queue.using(run_after=due).enqueue(**{argument: row_id})
            else:
                task_to_queue.enqueue(**{argument: row_id})
            queued += 1
            logger.warning("%s %s: waiting with no task; queued again", label, row_id)
    return queued
