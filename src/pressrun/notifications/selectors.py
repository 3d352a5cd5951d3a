"""Reads of the email log, for the publisher's dashboard."""

from __future__ import annotations

from django.db.models import QuerySet

from pressrun.accounts.models import Publisher
from pressrun.notifications.models import OutgoingEmail


def emails_for_order(*, publisher: Publisher, order_id: int) -> QuerySet[OutgoingEmail]:
    """The emails sent (or queued) about one of `publisher`'s orders, newest first."""
    return OutgoingEmail.objects.filter(publisher=publisher, order_id=order_id).order_by(
        "-created_at", "-id"
    )
