"""Reads of the installation's own settings: above all, the one public base URL every URL
pressrun prints or sends (cart URLs, email links, command output) starts with. And which
workers are alive (their heartbeats), and which claims of rows dead workers left behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from pressrun.core.models import INSTALLATION_ID, Installation, WorkerHeartbeat
from pressrun.core.prepared import PreparedRowRead

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


class BaseUrlOrigin:
    """Where the public base URL in use comes from, in the order they are tried."""

    ENVIRONMENT = "environment"
    SAVED = "saved"
    SERVED = "served"
    DEFAULT = "default"


ORIGIN_LABELS = {
    BaseUrlOrigin.ENVIRONMENT: "the environment variable PRESSRUN_PUBLIC_BASE_URL",
    BaseUrlOrigin.SAVED: "saved by an operator",
    BaseUrlOrigin.SERVED: "the address pressrun serve last started on",
    BaseUrlOrigin.DEFAULT: "the default (nothing saved, the server never started)",
}


@dataclass(frozen=True)
class PublicBaseUrl:
    url: str  # without a trailing slash
    origin: str  # a BaseUrlOrigin value

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS[self.origin]


# Compiled once per process (core.prepared): every email with a link asks for the URL, and
# building the queryset cost more than reading the row.
_installation = PreparedRowRead(Installation, keys=(), id=INSTALLATION_ID)


def public_base_url_reading() -> PublicBaseUrl:
    """The public base URL and where it comes from. The first that is set wins:

    1. PRESSRUN_PUBLIC_BASE_URL in the environment (deployments and the test harness pin it);
    2. the URL an operator saved (`Installation.public_base_url`);
    3. the address `pressrun serve` last started on (`Installation.served_address`), so a
       fresh `make run PORT=8101` prints 8101 everywhere;
    4. http://127.0.0.1:8000.

    One small read per call, never cached: a change applies at once in every process. A
    database that cannot be read yet (before `pressrun migrate`) counts as nothing saved.
    """
    from_environment = str(settings.PRESSRUN_PUBLIC_BASE_URL).strip()
    if from_environment:
        return PublicBaseUrl(from_environment.rstrip("/"), BaseUrlOrigin.ENVIRONMENT)
    try:
        row: Installation | None = _installation.get()
    except DatabaseError:
        row = None
    saved, served = (row.public_base_url, row.served_address) if row is not None else ("", "")
    if saved:
        return PublicBaseUrl(saved.rstrip("/"), BaseUrlOrigin.SAVED)
    if served:
        return PublicBaseUrl(served.rstrip("/"), BaseUrlOrigin.SERVED)
    return PublicBaseUrl(DEFAULT_PUBLIC_BASE_URL, BaseUrlOrigin.DEFAULT)


def public_base_url() -> str:
    """Where carts, customers and publishers reach this installation, without a trailing
    slash: the start of every URL pressrun prints or sends (see `public_base_url_reading`)."""
    return public_base_url_reading().url


def live_workers(*, now: datetime | None = None) -> QuerySet[WorkerHeartbeat]:
    """The `pressrun worker` processes that are alive: those that wrote a heartbeat within
    PRESSRUN_WORKER_DEAD_AFTER_SECONDS. A worker not in here (its heartbeat stale, or gone
    because it stopped) holds nothing: its RUNNING tasks are queued again and its claims
    (an email being sent) may be taken over."""
    dead_before = (now or timezone.now()) - timedelta(seconds=settings.WORKER_DEAD_AFTER_SECONDS)
    return WorkerHeartbeat.objects.filter(last_seen__gte=dead_before)


def claim_abandoned_q(*, now: datetime, unowned_timeout: timedelta) -> Q:
    """Rows (with `claimed_by` and `claimed_at`) whose claim nobody holds any more: claimed by
    a `pressrun worker` that is not alive (`live_workers`), or claimed outside any worker
    (`claimed_by` blank: tasks run inline) longer than `unowned_timeout` ago. Combine it with
    the row's own "being worked on" status; a claim of a living worker is never in it."""
    holder_alive = Exists(live_workers(now=now).filter(worker_id=OuterRef("claimed_by")))
    return (~Q(claimed_by="") & ~holder_alive) | Q(
        claimed_by="", claimed_at__lt=now - unowned_timeout
    )
