"""Reads of the webhook settings and log: for the dashboard, and which deliveries a worker
may claim or the sweep must queue again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.core.prepared import PreparedRowRead
from pressrun.core.selectors import claim_abandoned_q
from pressrun.core.tasks import ids_without_pending_run
from pressrun.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

# A claim made outside `pressrun worker` (tasks run inline) is judged by its age alone: far
# longer than an attempt can take (each step gives up after PRESSRUN_WEBHOOK_TIMEOUT_SECONDS).
UNOWNED_CLAIM_TIMEOUT = timedelta(minutes=15)
LOG_LENGTH = 50


def webhook_endpoint_of(publisher: Publisher) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(publisher=publisher).first()


def webhook_log(*, publisher: Publisher, limit: int = LOG_LENGTH) -> list[WebhookDelivery]:
    """The publisher's latest deliveries, newest first (the dashboard's log)."""
    return list(
        WebhookDelivery.objects.filter(publisher=publisher)
        .select_related("order")
        .order_by("-created_at", "-id")[:limit]
    )


def deliveries_claimable(*, now: datetime | None = None) -> QuerySet[WebhookDelivery]:
    """The deliveries a run of `webhook_deliver` may claim (and so send) now: PENDING and
    due, or SENDING under a claim nobody holds any more (a worker that is not alive, or a
    claim made outside any worker longer than UNOWNED_CLAIM_TIMEOUT ago). A SENDING row whose
    worker is alive is never here."""
    now = now or timezone.now()
    abandoned = Q(status=DeliveryStatus.SENDING) & claim_abandoned_q(
        now=now, unowned_timeout=UNOWNED_CLAIM_TIMEOUT
    )
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    return WebhookDelivery.objects.filter(due | abandoned)


def _waiting(*, now: datetime) -> QuerySet[WebhookDelivery]:
    """PENDING (due or not) or abandoned SENDING: a run of `webhook_deliver` must exist."""
    later = Q(status=DeliveryStatus.PENDING, next_attempt_at__gt=now)
    return WebhookDelivery.objects.filter(
        Q(id__in=deliveries_claimable(now=now).values("id")) | later
    )


def stranded_delivery_ids(
    *, delivery_ids: Iterable[int] | None = None, now: datetime | None = None
) -> list[int]:
    """Deliveries waiting to be sent (PENDING, or claimed by a worker that died) with no
    `webhook_deliver` run queued (a scheduled retry included) or running: nothing would send
    them unless they are queued again. Oldest first; only among `delivery_ids` when given.
    Rows are read before tasks (a row and its task are written in one transaction)."""
    from pressrun.webhooks.tasks import webhook_deliver

    waiting = _waiting(now=now or timezone.now())
    if delivery_ids is not None:
        waiting = waiting.filter(id__in=list(delivery_ids))
    candidates = list(waiting.order_by("created_at", "id").values_list("id", flat=True))
    return ids_without_pending_run(
        webhook_deliver, "delivery_id", candidates, few=delivery_ids is not None
    )


# Read whenever an event about an order may be sent (in the transaction that made it):
# compiled once per process (core/prepared.py), the same query as
# WebhookEndpoint.objects.filter(publisher_id=..., enabled=True).first().
_enabled_endpoint = PreparedRowRead(
    WebhookEndpoint, keys=("publisher_id",), order_by=("pk",), enabled=True
)


def enabled_endpoint(publisher_id: int) -> WebhookEndpoint | None:
    """The publisher's endpoint when webhooks are on, else None."""
    return _enabled_endpoint.get(publisher_id)
