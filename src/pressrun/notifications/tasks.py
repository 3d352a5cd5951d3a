"""Background work for emails: decide and render an order's emails, and send stored emails.

Every task takes ids and is safe to run twice: the order tasks queue emails under unique
keys, and `email_send` sends a row only after claiming it (QUEUED → SENDING), so a repeated
or retried run never sends the same email again.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.utils import timezone
from django_tasks import task

from pressrun.core.tasks import enqueue_retry
from pressrun.notifications.models import EmailStatus, OutgoingEmail
from pressrun.notifications.services import (
    notify_hold_orders,
    notify_order_placed,
    notify_order_shipped,
    sender_address,
)
from pressrun.orders.models import Order, OrderStatus

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died while sending; the row may be sent
# again (the one case of a possible second copy, preferred over never sending it).
STALE_CLAIM = timedelta(minutes=15)


@task()
def order_placed_email(*, order_id: int) -> int:
    """Queue the notification of a newly placed order (and the publisher's HOLD reminder
    when the order waits for payment). Returns how many emails were queued."""
    order = Order.objects.select_related("publisher").filter(id=order_id).first()
    if order is None:  # a test or HOLD order deleted before the worker got to it
        return 0
    queued = len(notify_order_placed(order=order))
    if order.status == OrderStatus.HOLD and notify_hold_orders(publisher=order.publisher):
        queued += 1
    return queued


@task()
def order_shipped_email(*, order_id: int) -> int:
    """Queue the tracking email of a shipped order. Returns how many emails were queued."""
    order = Order.objects.select_related("publisher").filter(id=order_id).first()
    if order is None:
        return 0
    return len(notify_order_shipped(order=order))


def _claim(email_id: int) -> bool:
    now = timezone.now()
    claimable = Q(status=EmailStatus.QUEUED) | Q(
        status=EmailStatus.SENDING, claimed_at__lt=now - STALE_CLAIM
    )
    return (
        OutgoingEmail.objects.filter(claimable, id=email_id).update(
            status=EmailStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        == 1
    )


def _check_again_when_claim_is_stale(email_id: int, *, attempt: int) -> None:
    """A row still SENDING under a recent claim is either being sent by another worker right
    now or was claimed by a worker that died mid-send (its task is requeued by the worker
    recovery and lands here). Look again once that claim is stale: the row is then SENT and
    nothing happens, or it is still SENDING and this task claims and sends it. Without this
    the email of a crashed worker would never go out."""
    claimed_at = (
        OutgoingEmail.objects.filter(id=email_id, status=EmailStatus.SENDING)
        .values_list("claimed_at", flat=True)
        .first()
    )
    if claimed_at is None:
        return
    email_send.using(run_after=claimed_at + STALE_CLAIM + timedelta(seconds=1)).enqueue(
        email_id=email_id, attempt=attempt
    )


def _message(email: OutgoingEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=sender_address(email.from_name),
        to=[email.to],
        reply_to=[email.reply_to] if email.reply_to else None,
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    return message


@task()
def email_send(*, email_id: int, attempt: int = 1) -> bool:
    """Send a stored email once. Returns whether this run sent it.

    A row already sent, being sent by another worker, or failed for good is left alone. A
    mail server that refuses or cannot be reached, or any other error while sending, is
    retried with backoff (EMAIL_SEND_ATTEMPTS); after the last attempt the row is marked
    FAILED. The row never stays claimed by a run that has ended.
    """
    if not _claim(email_id):
        _check_again_when_claim_is_stale(email_id, attempt=attempt)
        return False
    email = OutgoingEmail.objects.get(id=email_id)
    try:
        _message(email).send()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        if isinstance(exc, OSError | smtplib.SMTPException):
            logger.warning(
                "email %s to %s failed (attempt %d): %s", email_id, email.to, attempt, error
            )
        else:
            logger.exception(
                "email %s to %s: unexpected error (attempt %d)", email_id, email.to, attempt
            )
        # Back to QUEUED before the retry is enqueued, so that the retry can claim it.
        OutgoingEmail.objects.filter(id=email_id).update(
            status=EmailStatus.QUEUED, last_error=error
        )
        retried = enqueue_retry(
            email_send,
            attempt=attempt,
            max_attempts=settings.EMAIL_SEND_ATTEMPTS,
            kwargs={"email_id": email_id},
            base_seconds=settings.EMAIL_RETRY_BASE_SECONDS,
        )
        if not retried:
            OutgoingEmail.objects.filter(id=email_id).update(status=EmailStatus.FAILED)
        return False
    OutgoingEmail.objects.filter(id=email_id).update(
        status=EmailStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return True
