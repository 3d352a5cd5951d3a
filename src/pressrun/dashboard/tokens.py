"""Password-reset links: `<publisher id in base 36>/<timestamp>-<HMAC>`.

The HMAC covers the publisher's id, email, current password hash and the time the link was
made, keyed with the SECRET_KEY (the scheme of Django's PasswordResetTokenGenerator, for an
account that is not a Django user). So a link stops working when it is used (the password,
hence its hash, changes), when the email changes, and after PASSWORD_RESET_TIMEOUT seconds.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import base36_to_int, int_to_base36

from pressrun.accounts.models import Publisher

_SALT = "pressrun.dashboard.tokens.password_reset"


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _signature(publisher: Publisher, timestamp: int) -> str:
    value = f"{publisher.id}\x00{publisher.email}\x00{publisher.password}\x00{timestamp}"
    return salted_hmac(_SALT, value, algorithm="sha256").hexdigest()[::2]


def password_reset_token(publisher: Publisher, *, now: datetime | None = None) -> str:
    """A fresh token for `publisher` (see the module docstring for when it stops working)."""
    timestamp = _seconds(now or timezone.now())
    return f"{int_to_base36(timestamp)}-{_signature(publisher, timestamp)}"


def password_reset_token_valid(
    publisher: Publisher, token: str, *, now: datetime | None = None
) -> bool:
    """Whether `token` was made for `publisher` as it is now, within the timeout."""
    timestamp_b36, _, signature = token.partition("-")
    if not timestamp_b36 or not signature or len(timestamp_b36) > 13:
        return False
    try:
        timestamp = base36_to_int(timestamp_b36)
    except ValueError:
        return False
    if not constant_time_compare(signature, _signature(publisher, timestamp)):
        return False
    age = _seconds(now or timezone.now()) - timestamp
    return 0 <= age <= settings.PASSWORD_RESET_TIMEOUT


def encode_publisher_id(publisher: Publisher) -> str:
    return int_to_base36(publisher.id)


def publisher_for_reset(encoded_id: str) -> Publisher | None:
    """The active publisher a reset link names, or None."""
    if not encoded_id or len(encoded_id) > 13:
        return None
    try:
        publisher_id = base36_to_int(encoded_id)
    except ValueError:
        return None
    return Publisher.objects.filter(id=publisher_id, is_active=True).first()
