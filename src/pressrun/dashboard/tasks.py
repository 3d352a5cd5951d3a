"""Background work for the dashboard: the password-reset email."""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks import task

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import normalize_email
from pressrun.core.selectors import public_base_url
from pressrun.core.tasks import enqueue_retry
from pressrun.dashboard.tokens import encode_publisher_id, password_reset_token

logger = logging.getLogger(__name__)

RESET_EMAIL_ATTEMPTS = 5


def password_reset_link(publisher: Publisher) -> str:
    """A fresh reset link for `publisher`, on the installation's public address."""
    path = reverse(
        "dashboard:password_reset_confirm",
        kwargs={
            "encoded_id": encode_publisher_id(publisher),
            "token": password_reset_token(publisher),
        },
    )
    return public_base_url() + path


@task()
def password_reset_email_send(
    *, email: str = "", publisher_id: int | None = None, attempt: int = 1
) -> bool:
    """Email a password-reset link to the active publisher with this login `email` (or, for
    tasks queued by earlier versions, this `publisher_id`). Returns whether an email went out.

    The reset form queues this task for every accepted request, whether or not the email has
    an account, so that the request does the same work either way; the lookup happens here,
    and an email without an account gets nothing. The token is made here, not by the request,
    so it is never stored in the task queue. Running twice sends a second, equally valid link
    (harmless); an unreachable mail server is retried with backoff.
    """
    active = Publisher.objects.filter(is_active=True)
    if publisher_id is not None:
        publisher = active.filter(id=publisher_id).first()
    else:
        publisher = active.filter(email=normalize_email(email)).first() if email else None
    if publisher is None:
        return False
    context = {
        "publisher": publisher,
        "link": password_reset_link(publisher),
        "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
    }
    try:
        send_mail(
            subject="Reset your pressrun password",
            message=render_to_string("dashboard/email/password_reset.txt", context),
            from_email=None,
            recipient_list=[publisher.email],
        )
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("password reset email for publisher %s failed: %s", publisher.id, exc)
        retried = enqueue_retry(
            password_reset_email_send,
            attempt=attempt,
            max_attempts=RESET_EMAIL_ATTEMPTS,
            kwargs={"publisher_id": publisher.id},
        )
        if not retried:
            raise
        return False
    return True
