"""Reads of the email log: for the publisher's dashboard, and which emails a worker may
claim or the sweep must queue again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.core.selectors import claim_abandoned_q
from pressrun.core.tasks import ids_without_pending_run
from pressrun.notifications.models import EmailStatus, OutgoingEmail

# A claim made outside `pressrun worker` (a process with no heartbeat: tasks run inline) can
# only be judged by its age. Far longer than any send can take (each step of an SMTP
# conversation gives up after PRESSRUN_EMAIL_TIMEOUT), so a slow send is never taken over.
UNOWNED_CLAIM_TIMEOUT = timedelta(minutes=15)


def emails_for_order(*, publisher: Publisher, order_id: int) -> QuerySet[OutgoingEmail]:
    """The emails sent (or queued) about one of `publisher`'s orders, newest first."""
    return OutgoingEmail.objects.filter(publisher=publisher, order_id=order_id).order_by(
        "-created_at", "-id"
    )


def emails_claimable(*, now: datetime | None = None) -> QuerySet[OutgoingEmail]:
    """The emails a run of `email_send` may claim (and so send) now.

    - QUEUED: waiting to be sent (first time, or after a refused attempt).
    - SENDING under a claim nobody holds any more: claimed by a `pressrun worker` that is
      not alive (its heartbeat is older than PRESSRUN_WORKER_DEAD_AFTER_SECONDS, or gone:
      killed, its machine lost, stopped mid-send), or claimed outside any worker longer than
      UNOWNED_CLAIM_TIMEOUT ago.

    A SENDING row whose worker is alive is never here, however long its send takes: a slow
    but living worker keeps its claim. SENT and FAILED rows are final.
    """
    now = now or timezone.now()
    abandoned = Q(status=EmailStatus.SENDING) & claim_abandoned_q(
        now=now, unowned_timeout=UNOWNED_CLAIM_TIMEOUT
    )
    return OutgoingEmail.objects.filter(Q(status=EmailStatus.QUEUED) | abandoned)


def stranded_email_ids(*, email_ids: Iterable[int] | None = None) -> list[int]:
    """Claimable emails (`emails_claimable`) with no `email_send` run queued (a scheduled
    retry included) or running: nothing will send them unless they are queued again. Oldest
    first; only among `email_ids` when given.

    The emails are read before the tasks: a row and its send task are written in one
    transaction, and a run hands over to its retry before it ends, so a claimable row whose
    task is not seen afterwards has really lost it (or has just been sent, which a queued
    run finds and leaves alone).
    """
    from pressrun.notifications.tasks import email_send

    claimable = emails_claimable()
    if email_ids is not None:
        claimable = claimable.filter(id__in=list(email_ids))
    candidates = list(claimable.order_by("created_at", "id").values_list("id", flat=True))
    return ids_without_pending_run(email_send, "email_id", candidates, few=email_ids is not None)
