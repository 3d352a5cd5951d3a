"""Publisher accounts: creation, passwords, and the gateway's credential check.

A full password hash costs tens of milliseconds of CPU on purpose; doing one per gateway call
would cap a publisher's order script at a few requests per second and hand any client a cheap
way to exhaust the CPU. So a verified (email, password) pair is remembered for a short time
under a keyed digest of the pair, together with the password hash it was verified against.
A cache hit still reads the publisher row and is honoured only while that row's hash is the
same, so a password change (or a deactivated account) takes effect at once in every process
without any cross-process invalidation. The gateway's order intake and status call may take
that row from the process's memory instead (`publisher_authenticate_kept`): then the order's
write, or the status call's metering, requires the row unchanged (a kept row or one just
read alike), and any other answer waits until a statement has found it so; the change still
takes effect at once, at the cost of one failed statement, and no order whose write began
after the change committed is written.
Failures are never cached; every attempt that is not a cache hit goes through the sign-in
throttle (accounts/throttle.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import caches
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from pressrun.accounts.models import (
    DEFAULT_ADDRESS_ERROR_REMINDER_DAYS,
    DEFAULT_POSTAGE_DELAY_HOURS,
    MAX_ADDRESS_ERROR_REMINDER_DAYS,
    MAX_POSTAGE_DELAY_HOURS,
    SHOPIFY_ORDER_TOPICS,
    KnownSignInAddress,
    LoginFailure,
    MailMethod,
    PasswordResetRequest,
    Publisher,
    SignInRealm,
    new_cart_token,
)
from pressrun.accounts.throttle import (
    RepeatedWrongPassword,
    known_address_remember,
    sign_in_release,
    sign_in_reserve,
    sign_in_rounds,
    sign_in_settle,
)
from pressrun.core.client_address import throttle_address
from pressrun.core.errors import DomainError
from pressrun.core.locks import lock_names
from pressrun.core.prepared import (
    PreparedRowRead,
    RowAsRead,
    RowsChanged,
    row_as_read,
    rows_unchanged_confirm,
)
from pressrun.core.row_cache import CachedRows
from pressrun.core.sealed import seal


class CredentialsMissing(DomainError):
    """Email or password was not given."""


class CredentialsInvalid(DomainError):
    """No active publisher has this email and password."""


class PublisherInvalid(DomainError):
    """Arguments for a new or changed publisher were refused."""


_URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def publisher_create(
    *,
    email: str,
    password: str,
    company: str = "",
    publisher_id: int | None = None,
    default_mail_method: str = MailMethod.STANDARD,
    cart_token: str | None = None,
    postage_delay_hours: int = DEFAULT_POSTAGE_DELAY_HOURS,
    address_error_reminder_days: int = DEFAULT_ADDRESS_ERROR_REMINDER_DAYS,
) -> Publisher:
    """Create a publisher with a hashed password. Raises PublisherInvalid on bad input.

    `cart_token` None gives a new random token; a given one (the demo data's fixed,
    documented token) must be at least 16 URL-safe characters. `postage_delay_hours` (0 to
    MAX_POSTAGE_DELAY_HOURS) is how long after an order is placed its customer may still
    correct the address; nothing is made or shipped before then.
    `address_error_reminder_days` (1 to MAX_ADDRESS_ERROR_REMINDER_DAYS) is how long an order
    may stay stopped for an address problem before the publisher is reminded of it."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise PublisherInvalid(f"'{email}' is not a valid email address.") from exc
    if len(password) < 8:
        raise PublisherInvalid("The password must have at least 8 characters.")
    if publisher_id is not None and publisher_id < 1:
        raise PublisherInvalid("The publisher ID must be a positive whole number.")
    if default_mail_method not in MailMethod.values:
        raise PublisherInvalid(f"Unknown mail method '{default_mail_method}'.")
    if cart_token is not None and not _URL_SAFE_TOKEN.fullmatch(cart_token):
        raise PublisherInvalid("A cart token is 16 to 64 letters, digits, - or _.")
    _check_postage_delay(postage_delay_hours)
    _check_reminder_days(address_error_reminder_days)
    try:
        with transaction.atomic():
            publisher = Publisher.objects.create(
                id=publisher_id,
                email=email,
                password=make_password(password),
                company=company.strip(),
                default_mail_method=default_mail_method,
                cart_token=cart_token or new_cart_token(),
                postage_delay_hours=postage_delay_hours,
                address_error_reminder_days=address_error_reminder_days,
            )
            if publisher_id is not None:
                sync_id_sequence(Publisher)
    except IntegrityError as exc:
        if Publisher.objects.filter(email=email).exists():
            raise PublisherInvalid(f"A publisher with email {email} already exists.") from exc
        raise PublisherInvalid(f"Publisher ID {publisher_id} is already taken.") from exc
    return publisher


def _check_postage_delay(hours: int) -> None:
    if isinstance(hours, bool) or not 0 <= hours <= MAX_POSTAGE_DELAY_HOURS:
        raise PublisherInvalid(
            f"The postage delay must be between 0 and {MAX_POSTAGE_DELAY_HOURS} hours."
        )


def _check_reminder_days(days: int) -> None:
    if isinstance(days, bool) or not 1 <= days <= MAX_ADDRESS_ERROR_REMINDER_DAYS:
        raise PublisherInvalid(
            "The address-error reminder must come after 1 to "
            f"{MAX_ADDRESS_ERROR_REMINDER_DAYS} days."
        )


def sync_id_sequence(model: type) -> None:
    """After an insert with an explicit id, move PostgreSQL's id sequence past it.

    SQLite picks max(id) + 1 by itself; PostgreSQL's sequence does not know about ids given
    explicitly and would later hand out a taken one.
    """
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table  # type: ignore[attr-defined]
    # The table name comes from the model, never from input.
    quoted = connection.ops.quote_name(table)
    sql = f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT GREATEST(MAX(id), 1) FROM {quoted}))"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [table])


def publisher_set_password(*, publisher: Publisher, password: str) -> None:
    """Change the password. Cached gateway credentials for the old one stop working at once."""
    if len(password) < 8:
        raise PublisherInvalid("The password must have at least 8 characters.")
    publisher.password = make_password(password)
    publisher.save(update_fields=["password"])


def publisher_rotate_cart_token(*, publisher: Publisher) -> str:
    """Give the publisher a new cart token; URLs with the old one stop working at once."""
    publisher.cart_token = new_cart_token()
    publisher.save(update_fields=["cart_token"])
    return publisher.cart_token


def publisher_update_settings(
    *,
    publisher: Publisher,
    company: str,
    default_mail_method: str,
    customer_email_notifications: bool,
    customer_address_changes: bool,
    postage_delay_hours: int,
    error_email: str,
    shopify_topics: list[str],
    customer_contact_email: str = "",
    address_error_reminder_days: int | None = None,
) -> Publisher:
    """Save the publisher's own account settings. Raises PublisherInvalid (nothing saved)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    company = " ".join(company.split())
    error_email = normalize_email(error_email)
    customer_contact_email = normalize_email(customer_contact_email)
    if len(company) > 200:
        raise PublisherInvalid("The company name must have at most 200 characters.")
    if default_mail_method not in MailMethod.values:
        raise PublisherInvalid(f"Unknown mail method '{default_mail_method[:30]}'.")
    _check_postage_delay(postage_delay_hours)
    if address_error_reminder_days is None:
        address_error_reminder_days = publisher.address_error_reminder_days
    _check_reminder_days(address_error_reminder_days)
    for address in (error_email, customer_contact_email):
        if address:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise PublisherInvalid(f"'{address[:60]}' is not a valid email address.") from exc
    topics = [topic.strip().lower() for topic in shopify_topics if topic.strip()]
    unknown = [topic for topic in topics if topic not in SHOPIFY_ORDER_TOPICS]
    if unknown:
        raise PublisherInvalid(f"Unknown Shopify topic '{unknown[0][:40]}'.")
    if not topics:
        raise PublisherInvalid("Choose at least one Shopify event that creates orders.")
    publisher.company = company
    publisher.default_mail_method = default_mail_method
    publisher.customer_email_notifications = customer_email_notifications
    publisher.customer_address_changes = customer_address_changes
    publisher.postage_delay_hours = postage_delay_hours
    publisher.address_error_reminder_days = address_error_reminder_days
    publisher.error_email = error_email
    publisher.customer_contact_email = customer_contact_email
    # Kept in the canonical order, so the stored value does not depend on the form's.
    publisher.shopify_topics = ",".join(t for t in SHOPIFY_ORDER_TOPICS if t in topics)
    publisher.save(
        update_fields=[
            "company",
            "default_mail_method",
            "customer_email_notifications",
            "customer_address_changes",
            "postage_delay_hours",
            "address_error_reminder_days",
            "error_email",
            "customer_contact_email",
            "shopify_topics",
        ]
    )
    return publisher


def publisher_webhook_events_set(*, publisher: Publisher, event_types: list[str]) -> None:
    """Record which events the publisher's webhook endpoint takes now (`webhooks` calls it
    whenever the endpoint is saved, in the same transaction), in the row and on `publisher`
    alike."""
    stored = sorted(event_types)
    Publisher.objects.filter(id=publisher.id).update(webhook_events=stored)
    publisher.webhook_events = stored


def publisher_set_cart_credentials(
    *,
    publisher: Publisher,
    oneshoppingcart_merchant_id: str | None = None,
    oneshoppingcart_api_key: str | None = None,
    shopify_webhook_key: str | None = None,
    shopify_admin_token: str | None = None,
    shopify_notify_customer: bool | None = None,
) -> Publisher:
    """Save the carts' credentials; None leaves a value as it is, "" clears it.

    `shopify_notify_customer` (a choice, not a secret) says whether Shopify should send its
    own shipping confirmation when pressrun posts tracking back (None leaves it).

    The 1ShoppingCart API key, the Shopify webhook signing key and the Shopify Admin API
    access token are stored sealed
    (`core.sealed`) and are never shown back in full. Raises PublisherInvalid (nothing saved).
    """
    # Every value is checked before any is set, so a refusal leaves the instance as it was.
    changes: dict[str, str] = {}
    if oneshoppingcart_merchant_id is not None:
        merchant_id = oneshoppingcart_merchant_id.strip()
        if len(merchant_id) > 40 or not all(c.isalnum() or c in "-_" for c in merchant_id):
            raise PublisherInvalid(
                "The 1ShoppingCart merchant ID is at most 40 letters, digits, - or _."
            )
        changes["oneshoppingcart_merchant_id"] = merchant_id
    if oneshoppingcart_api_key is not None:
        api_key = oneshoppingcart_api_key.strip()
        if len(api_key) > 200 or any(c.isspace() for c in api_key):
            raise PublisherInvalid(
                "The 1ShoppingCart API key is at most 200 characters, without spaces."
            )
        changes["oneshoppingcart_api_key_sealed"] = seal(api_key)
    if shopify_webhook_key is not None:
        webhook_key = shopify_webhook_key.strip()
        if len(webhook_key) > 200 or any(c.isspace() for c in webhook_key):
            raise PublisherInvalid(
                "The Shopify webhook key is at most 200 characters, without spaces."
            )
        changes["shopify_webhook_key_sealed"] = seal(webhook_key)
    if shopify_admin_token is not None:
        admin_token = shopify_admin_token.strip()
        if len(admin_token) > 200 or any(c.isspace() for c in admin_token):
            raise PublisherInvalid(
                "The Shopify Admin API access token is at most 200 characters, without spaces."
            )
        changes["shopify_admin_token_sealed"] = seal(admin_token)
    for field, value in changes.items():
        setattr(publisher, field, value)
    fields = list(changes)
    if shopify_notify_customer is not None:
        publisher.shopify_notify_customer = shopify_notify_customer
        fields.append("shopify_notify_customer")
    if fields:
        publisher.save(update_fields=fields)
    return publisher


@dataclass(frozen=True)
class _CachedCredential:
    publisher_id: int
    password_hash: str
    # Throttle addresses already recorded as known for this login (accounts/throttle.py), so
    # a hit from one of them writes nothing; and when the entry expires (to keep what is left
    # of its lifetime when an address is added). Defaults: entries cached by older versions.
    addresses: frozenset[str] = frozenset()
    expires_at: float = 0.0


def _credential_cache_key(email: str, password: str) -> str:
    # Keyed with SECRET_KEY so a leaked cache (e.g. a shared Redis) reveals no password digest
    # that could be attacked offline.
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        email.encode() + b"\x00" + password.encode("utf-8", "surrogatepass"),
        hashlib.sha256,
    ).hexdigest()
    return f"cred:{digest}"


def publisher_authenticate(*, email: str, password: str, client_address: str) -> Publisher:
    """The active publisher with this email and password.

    Raises CredentialsMissing, SignInThrottled or CredentialsInvalid (the message never says
    which of email and password was wrong). Credentials verified recently are accepted from
    the cache without hashing or throttling (see the module docstring); anything else is one
    throttled attempt (accounts/throttle.py). Each success marks the client address as known
    for the account, writing only the first time (and once a day after).
    """
    publisher, _ = _authenticate(
        email=email,
        password=password,
        client_address=client_address,
        kept=False,
        as_read_wanted=False,
    )
    return publisher


def publisher_authenticate_kept(
    *, email: str, password: str, client_address: str, from_memory: bool = True
) -> tuple[Publisher, RowAsRead]:
    """`publisher_authenticate`, with the publisher's row as the credentials were checked
    against it (every column but the balance), which the caller's write must require
    unchanged (`rows_unchanged_require`, or the write's own statement) before anything it
    answers rests on the credentials; on `RowsChanged` the caller authenticates again, with
    `from_memory=False`. The credentials hold only as long as that row does: another process
    may change the password between the check (a password hash takes tens of milliseconds)
    and the write.

    With `from_memory`, a hit of the credential cache may take the row from this process's
    memory (core/row_cache.py) instead of reading it. The publisher's balance may then be
    stale: good for a guess that the write checks, nothing else. A row is read for the call
    when it is not kept, when the credentials are not cached, and from a client address not
    yet recorded for them."""
    publisher, as_read = _authenticate(
        email=email,
        password=password,
        client_address=client_address,
        kept=from_memory,
        as_read_wanted=True,
    )
    assert as_read is not None
    return publisher, as_read


def publisher_kept_confirm(row: RowAsRead) -> None:
    """Return once the publisher's `row` (kept or read, from `publisher_authenticate_kept`)
    is found unchanged; else forget it if kept and raise `RowsChanged` (the credentials are
    then to be checked again)."""
    try:
        rows_unchanged_confirm([row])
    except RowsChanged:
        publisher_kept_forget(row)
        raise


def publisher_kept_forget(row: RowAsRead) -> None:
    """Drop the publisher's `row` (from `publisher_authenticate_kept`) from this process's
    memory, if kept: a statement found it changed."""
    _publishers_kept.forget([row])


def _authenticate(
    *, email: str, password: str, client_address: str, kept: bool, as_read_wanted: bool
) -> tuple[Publisher, RowAsRead | None]:
    email = normalize_email(email)
    if not email or not password:
        raise CredentialsMissing("Email and password are required.")
    cache = caches["credentials"]
    key = _credential_cache_key(email, password)
    address = throttle_address(client_address)
    attempt = None
    for join_identical in sign_in_rounds():
        cached = _cached_publisher(
            key=key, email=email, address=address, kept=kept, as_read_wanted=as_read_wanted
        )
        if cached is not None:
            return cached
        publisher = Publisher.objects.filter(email=email, is_active=True).first()
        try:
            attempt = sign_in_reserve(
                realm=SignInRealm.PUBLISHER,
                login=email,
                client_address=client_address,
                password=password,
                password_hash=publisher.password if publisher is not None else "",
                join_identical=join_identical,
            )
        except RepeatedWrongPassword as exc:
            raise CredentialsInvalid("The email and password do not match an account.") from exc
        if attempt is not None:
            break
    assert attempt is not None  # the last round never waits: it reserves or raises
    try:
        # Hash even for an unknown email so timing does not reveal which accounts exist.
        encoded = publisher.password if publisher is not None else _dummy_hash()
        verified = check_password(password, encoded) and publisher is not None
    except BaseException:
        sign_in_release(attempt=attempt)
        raise
    sign_in_settle(attempt=attempt, succeeded=verified)
    if publisher is None or not verified:
        raise CredentialsInvalid("The email and password do not match an account.")
    as_read = publisher_as_read(publisher) if as_read_wanted else None
    timeout = settings.CREDENTIAL_CACHE_SECONDS
    cache.set(
        key,
        _CachedCredential(
            publisher_id=publisher.id,
            password_hash=publisher.password,
            addresses=frozenset({address}),
            expires_at=time.time() + timeout,
        ),
        timeout=timeout,
    )
    return publisher, as_read


# The active publisher's row by id, the read behind every cache hit, compiled once
# (core/prepared.py): with the queryset built for each call it was most of a hit's cost.
_active_publisher = PreparedRowRead(Publisher, is_active=True)
# The same rows kept in this process for `publisher_authenticate_kept`. The balance is left
# out of what the write requires unchanged: every paid order changes it.
_PUBLISHER_IGNORED = ("balance",)
_publishers_kept = CachedRows(_active_publisher, size=1024, ignored=_PUBLISHER_IGNORED)


def publisher_as_read(publisher: Publisher) -> RowAsRead:
    """A publisher row just read from the database, as the write is to require it unchanged
    (like a kept one): credentials checked against it hold only as long as it does."""
    return row_as_read(publisher, ignored=_PUBLISHER_IGNORED)


def _cached_publisher(
    *, key: str, email: str, address: str, kept: bool, as_read_wanted: bool
) -> tuple[Publisher, RowAsRead | None] | None:
    """The publisher whose credentials under `key` were verified recently and still hold
    (same password hash, still active), else None (and a stale entry is dropped). A hit from
    an address not yet recorded for these credentials marks it known; from one already
    recorded it writes nothing: one indexed read is the whole cost, none for a row `kept`
    in this process. With `as_read_wanted`, the row comes as kept or read (see
    `publisher_authenticate_kept`)."""
    cache = caches["credentials"]
    cached = cache.get(key)
    if not isinstance(cached, _CachedCredential):
        return None
    if address not in cached.addresses:
        # The address is recorded as known below, which loosens the throttle for it: only on
        # credentials checked against the row as it is, never against a kept one.
        kept = False

    def verified(publisher: Publisher | None) -> bool:
        return publisher is not None and hmac.compare_digest(
            publisher.password.encode(), cached.password_hash.encode()
        )

    publisher: Publisher | None
    seen: RowAsRead | None = None
    if kept:
        found = _publishers_kept.get(cached.publisher_id)
        if found is not None and not verified(found[0]):
            # The kept row may be the stale one (the entry verified after a change of
            # password in another process): it is read again before the entry is dropped.
            _publishers_kept.forget([found[1]])
            found = _publishers_kept.get(cached.publisher_id)
        publisher, seen = found if found is not None else (None, None)
    else:
        publisher = _active_publisher.get(cached.publisher_id)
    if not verified(publisher):
        cache.delete(key)
        return None
    assert publisher is not None
    if as_read_wanted and seen is None:
        seen = publisher_as_read(publisher)
    if address not in cached.addresses:
        known_address_remember(realm=SignInRealm.PUBLISHER, login=email, address=address)
        remaining = cached.expires_at - time.time()
        if remaining > 1:
            addresses = cached.addresses | {address}
            cache.set(key, replace(cached, addresses=addresses), timeout=remaining)
    return publisher, seen


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password("pressrun-no-such-account"))
    return _DUMMY_HASH[0]


def operator_authenticate(
    *, request: HttpRequest | None, username: str, password: str, client_address: str
) -> AbstractBaseUser | None:
    """The operator (Django user) with this user name and password, or None when they do not
    match an active user.

    The same throttle as the publishers' sign-in, in its own realm: raises SignInThrottled
    before checking anything when a rule refuses the attempt. The user name is throttled in
    lower case, so changing its case gains no fresh attempts.
    """
    user_model = get_user_model()
    login = username.strip().lower()
    attempt = None
    for join_identical in sign_in_rounds():
        password_hash = (
            user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
            .values_list("password", flat=True)
            .first()
        )
        try:
            attempt = sign_in_reserve(
                realm=SignInRealm.OPERATOR,
                login=login,
                client_address=client_address,
                password=password,
                password_hash=password_hash or "",
                join_identical=join_identical,
            )
        except RepeatedWrongPassword:
            return None
        if attempt is not None:
            break
    assert attempt is not None  # the last round never waits: it reserves or raises
    try:
        # Django's backend hashes the password for an unknown user name too (equal timing).
        user = authenticate(request, username=username, password=password)
    except BaseException:
        sign_in_release(attempt=attempt)
        raise
    sign_in_settle(attempt=attempt, succeeded=user is not None)
    return user


# Reset links sent at most this often per email and per client address, over an hour.
RESET_REQUESTS_PER_HOUR = 5
RESET_REQUEST_WINDOW = timedelta(hours=1)


def password_reset_request_create(*, email: str, client_address: str) -> bool:
    """Record a request for a reset link to `email`; False (nothing recorded) when `email` or
    `client_address` already had RESET_REQUESTS_PER_HOUR in the last hour.

    Deliberately the same work whether or not `email` has an account — it is not even looked
    up here (the email task does that), so neither the answer nor its timing can tell. The
    count is in the database, shared by every web process and kept across restarts, and
    checked and written under a lock on both names, so concurrent requests never exceed it.
    """
    email = normalize_email(email)[:254]
    address = throttle_address(client_address)
    with transaction.atomic():
        lock_names(f"password-reset:{email}", f"password-reset-address:{address}")
        now = timezone.now()
        recent = PasswordResetRequest.objects.filter(at__gte=now - RESET_REQUEST_WINDOW)
        for requests in (recent.filter(email=email), recent.filter(client_address=address)):
            if requests.count() >= RESET_REQUESTS_PER_HOUR:
                return False
        PasswordResetRequest.objects.create(email=email, client_address=address, at=now)
        PasswordResetRequest.objects.filter(at__lt=now - RESET_REQUEST_WINDOW).delete()
    return True


def login_failures_delete_expired(*, now: datetime) -> int:
    """Delete the sign-in failures older than the throttling window (they no longer count);
    returns how many. Run by the hourly housekeeping (registered in `AccountsConfig`)."""
    cutoff = now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    return LoginFailure.objects.filter(at__lt=cutoff).delete()[0]


def known_sign_in_addresses_delete_expired(*, now: datetime) -> int:
    """Forget the sign-in addresses not used for PRESSRUN_KNOWN_ADDRESS_DAYS; returns how
    many. Run by the hourly housekeeping (registered in `AccountsConfig`)."""
    cutoff = now - timedelta(days=settings.KNOWN_ADDRESS_DAYS)
    return KnownSignInAddress.objects.filter(last_seen__lt=cutoff).delete()[0]


def password_reset_requests_delete_expired(*, now: datetime) -> int:
    """Delete the reset requests older than the hour they are counted in; returns how many.
    Run by the hourly housekeeping (registered in `AccountsConfig`)."""
    return PasswordResetRequest.objects.filter(at__lt=now - RESET_REQUEST_WINDOW).delete()[0]
