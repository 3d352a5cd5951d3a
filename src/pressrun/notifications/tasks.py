"""Background work for emails: decide and render an order's emails, send stored emails, and
the sweep that queues again the emails nothing would send.

Every task takes ids and is safe to run twice: the order tasks queue emails under unique
keys, and `email_send` sends a row only after claiming it (QUEUED → SENDING, owned by the
claiming worker), so a repeated or retried run never sends the same email again. Delivery
is at least once, never at most once: see docs/emails.md ("Delivery guarantees").
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from pressrun.core.faults import fault_point
from pressrun.core.outbound import outbound_claim, outbound_still_ours
from pressrun.core.tasks import enqueue_retry, schedule_periodic
from pressrun.notifications.models import EmailStatus, OutgoingEmail
from pressrun.notifications.selectors import emails_claimable
from pressrun.notifications.services import (
    emails_requeue_stranded,
    notify_address_error,
    notify_hold_orders,
    notify_order_placed,
    notify_order_shipped,
    notify_shipment_corrected,
    sender_address,
)
from pressrun.orders.models import OrderStatus
from pressrun.orders.selectors import order_with_publisher

logger = logging.getLogger(__name__)

# How often the sweep looks for emails nothing would send. With the default heartbeat
# settings, an email claimed by a worker that died goes out at most about this long after
# the worker's heartbeat goes stale (usually within a heartbeat: the task the dead worker
# left RUNNING is queued again by the next heartbeat of any live worker).
EMAIL_SWEEP_INTERVAL = timedelta(seconds=30)


@task()
def order_placed_email(*, order_id: int) -> int:
    """Queue the notification of a newly placed order (and the publisher's HOLD reminder
    when the order waits for payment). Returns how many emails were queued."""
    order = order_with_publisher(order_id)
    if order is None:  # a test or HOLD order deleted before the worker got to it
        return 0
    queued = len(notify_order_placed(order=order))
    if order.status == OrderStatus.HOLD and notify_hold_orders(publisher=order.publisher):
        queued += 1
    return queued


@task()
def order_shipped_email(*, order_id: int) -> int:
    """Queue the tracking email of a shipped order. Returns how many emails were queued."""
    order = order_with_publisher(order_id)
    if order is None:
        return 0
    return len(notify_order_shipped(order=order))


@task()
def shipment_corrected_email(*, order_id: int, history_event_id: int) -> int:
    """Queue the corrected tracking email of a shipped order whose shipment an operator
    corrected (the correction's history entry is `history_event_id`). Returns how many
    emails were queued."""
    order = order_with_publisher(order_id)
    if order is None:
        return 0
    return len(notify_shipment_corrected(order=order, history_event_id=history_event_id))


@task()
def address_error_email(*, order_id: int, history_event_id: int) -> int:
    """Queue the customer's "please correct your address" email of an order stopped for an
    address problem (the stop's history entry is `history_event_id`). Returns how many
    emails were queued; none once the address is fixed."""
    order = order_with_publisher(order_id)
    if order is None:
        return 0
    return len(notify_address_error(order=order, history_event_id=history_event_id))


def _claim(email_id: int) -> datetime | None:
    """Claim the email for this run (→ SENDING, owned by this worker, `core.outbound`), if it
    is claimable (`emails_claimable`), counting the attempt; returns the claim's time, which
    with the owner identifies the claim, or None when the row is sent, failed for good, or
    held by a live worker."""
    now = timezone.now()
    claimed = outbound_claim(
        emails_claimable(now=now), email_id, now=now, attempts=F("attempts") + 1
    )
    return now if claimed else None


def message_id(email: OutgoingEmail) -> str:
    """The email's Message-ID: the same for every send of the row, so that the copy sent
    again after a crash (see docs/emails.md) is recognisably the same message to mail
    clients and servers that deduplicate on it. Made from the key and the creation time,
    never reused by another email (another installation's included)."""
    digest = hashlib.sha256(f"{email.key}\n{email.created_at.isoformat()}".encode()).hexdigest()
    _, at, domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")
    if not at or not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        domain = "pressrun.localhost"
    return f"<{digest[:32]}@{domain}>"


def _message(email: OutgoingEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=sender_address(email.from_name),
        to=[email.to],
        reply_to=[email.reply_to] if email.reply_to else None,
        headers={"Message-ID": message_id(email)},
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    return message


@task()
def email_send(*, email_id: int, attempt: int = 1) -> bool:
    """Send a stored email once. Returns whether this run sent it.

    The run first claims the row (`_claim`). A row already sent, failed for good, or held
    by a live worker (being sent right now) is left alone: should that worker die, its task
    is queued again by the worker recovery and the sweep, and a later run claims the row.
    A mail server that refuses or cannot be reached, or any other error while sending, puts
    the row back to QUEUED and queues the retry in one transaction, with backoff
    (EMAIL_SEND_ATTEMPTS); after the last attempt the row is marked FAILED. A run that
    lost its claim meanwhile (its worker was taken for dead) changes nothing but SENT.
    """
    claimed_at = _claim(email_id)
    if claimed_at is None:
        return False
    fault_point("email_claimed_before_send")
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
        with transaction.atomic():
            # Back to QUEUED with the retry queued together, so the row is never left
            # QUEUED with no task; and only while the claim is still this run's.
            released = OutgoingEmail.objects.filter(
                **outbound_still_ours(email_id, claimed_at)
            ).update(status=EmailStatus.QUEUED, last_error=error)
            if released and not enqueue_retry(
                email_send,
                attempt=attempt,
                max_attempts=settings.EMAIL_SEND_ATTEMPTS,
                kwargs={"email_id": email_id},
                base_seconds=settings.EMAIL_RETRY_BASE_SECONDS,
            ):
                OutgoingEmail.objects.filter(id=email_id).update(status=EmailStatus.FAILED)
        return False
    # The mail server has the message. Dying before the next line is the one way a second
    # copy can go out (the row is still SENDING when the sweep takes it over).
    fault_point("email_sent_before_marked")
    OutgoingEmail.objects.filter(id=email_id).exclude(status=EmailStatus.SENT).update(
        status=EmailStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


@task()
def requeue_stranded_emails() -> int:
    """The email sweep: queue `email_send` again for the emails nothing would send
    (`emails_requeue_stranded`), then schedule the next run; returns how many were queued.
    Started by the worker with the other periodic tasks (registered in
    `NotificationsConfig.ready()`)."""
    try:
        return emails_requeue_stranded()
    finally:
        # Even after an error, so one bad run does not end the sweeps.
        schedule_periodic(requeue_stranded_emails, interval=EMAIL_SWEEP_INTERVAL)
