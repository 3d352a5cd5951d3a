"""Warehouse connections: creating them, switching them on and off, and checking the
credentials a shipping station sends with every call.

A connection's password is stored as a Django password hash, and a full hash check costs
tens of milliseconds on purpose; a shipping station polls every few minutes and posts one
notice per label, so a verified (username, password) pair is remembered for a short while
in the credential cache, exactly as the gateway's publisher credentials are
(accounts/services.py): keyed by HMAC(secret key, username + password), holding the
connection and the hash it was verified against, honoured only while the row still has
that hash. Anything that is not a cache hit is one throttled sign-in attempt in the
`warehouse` realm (accounts/throttle.py), so wrong passwords slow down exactly as the
gateway's do. Failures are never cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from pressrun.accounts.models import Publisher, SignInRealm
from pressrun.accounts.throttle import (
    RepeatedWrongPassword,
    sign_in_release,
    sign_in_reserve,
    sign_in_rounds,
    sign_in_settle,
)
from pressrun.core.errors import DomainError
from pressrun.core.text import one_line
from pressrun.warehouses.models import WarehouseConnection

MAX_NAME_LENGTH = 100
USERNAME_PREFIX = "station-"


class ConnectionInvalid(DomainError):
    """Arguments for a new or changed connection were refused."""


class StationCredentialsInvalid(DomainError):
    """No connection has this username and password (the message never says which)."""


class StationDisabled(DomainError):
    """The credentials are right but the connection is switched off."""

    def __init__(self, message: str, *, connection_id: int) -> None:
        super().__init__(message)
        self.connection_id = connection_id


@dataclass(frozen=True)
class NewConnection:
    """A created connection with its password in clear: shown once, never stored."""

    connection: WarehouseConnection
    password: str


def warehouse_create(
    *, name: str, after_packing: bool = False, publisher_id: int | None = None
) -> NewConnection:
    """Create a connection with a generated username and password.

    Without `publisher_id` it is pressrun's own shipping station and starts enabled; a
    publisher's warehouse (issue 11) starts disabled, as DropStream's connections do, and is
    enabled once it is set up. Raises ConnectionInvalid for an empty or too long name or an
    unknown publisher.
    """
    name = one_line(name)
    if not name:
        raise ConnectionInvalid("Give the shipping station a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise ConnectionInvalid(f"The name is longer than {MAX_NAME_LENGTH} characters.")
    if publisher_id is not None and not Publisher.objects.filter(id=publisher_id).exists():
        raise ConnectionInvalid(f"There is no publisher {publisher_id}.")
    password = secrets.token_urlsafe(24)
    with transaction.atomic():
        connection = WarehouseConnection.objects.create(
            name=name,
            publisher_id=publisher_id,
            enabled=publisher_id is None,
            after_packing=after_packing,
            username=USERNAME_PREFIX + secrets.token_hex(6),
            password=make_password(password),
            created_at=timezone.now(),
        )
    return NewConnection(connection=connection, password=password)


def warehouse_set_enabled(*, connection_id: int, enabled: bool) -> WarehouseConnection:
    """Switch a connection on or off (a disabled one's calls are answered 403)."""
    connection = WarehouseConnection.objects.get(id=connection_id)
    if connection.enabled != enabled:
        connection.enabled = enabled
        connection.save(update_fields=["enabled"])
    return connection


def warehouse_set_receives_unknown_skus(*, connection_id: int, on: bool) -> WarehouseConnection:
    """Make a publisher's connection the one that receives the cart lines whose SKU is
    unknown to pressrun (no project, no listing at any of the publisher's warehouses), or
    stop it; switching one on switches the publisher's other one off, in one transaction
    under the publisher's connections' row locks (a constraint allows one per publisher).
    Raises ConnectionInvalid for pressrun's own station."""
    with transaction.atomic():
        connection = WarehouseConnection.objects.select_for_update().get(id=connection_id)
        if connection.publisher_id is None:
            raise ConnectionInvalid("pressrun's own shipping station receives no cart lines.")
        if on:
            list(
                WarehouseConnection.objects.select_for_update()
                .filter(publisher_id=connection.publisher_id)
                .values_list("id", flat=True)
            )
            WarehouseConnection.objects.filter(
                publisher_id=connection.publisher_id, receives_unknown_skus=True
            ).exclude(id=connection.id).update(receives_unknown_skus=False)
        if connection.receives_unknown_skus != on:
            connection.receives_unknown_skus = on
            connection.save(update_fields=["receives_unknown_skus"])
    return connection


def warehouse_reset_password(*, connection_id: int) -> NewConnection:
    """Give a connection a new password (the old one stops working at once, in every
    process: cached credentials are honoured only while the stored hash is unchanged)."""
    password = secrets.token_urlsafe(24)
    connection = WarehouseConnection.objects.get(id=connection_id)
    connection.password = make_password(password)
    connection.save(update_fields=["password"])
    return NewConnection(connection=connection, password=password)


@dataclass(frozen=True)
class _CachedStation:
    connection_id: int
    password_hash: str


def _cache_key(username: str, password: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        b"warehouse\x00"
        + username.encode("utf-8", "surrogatepass")
        + b"\x00"
        + password.encode("utf-8", "surrogatepass"),
        hashlib.sha256,
    ).hexdigest()
    return f"station:{digest}"


def _cached_connection(key: str) -> WarehouseConnection | None:
    cache = caches["credentials"]
    cached = cache.get(key)
    if not isinstance(cached, _CachedStation):
        return None
    connection = (
        WarehouseConnection.objects.select_related("publisher")
        .filter(id=cached.connection_id)
        .first()
    )
    if connection is None or not hmac.compare_digest(
        connection.password.encode(), cached.password_hash.encode()
    ):
        cache.delete(key)
        return None
    return connection


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password("pressrun-no-such-station"))
    return _DUMMY_HASH[0]


def warehouse_authenticate(
    *, username: str, password: str, client_address: str
) -> WarehouseConnection:
    """The connection with this username and password.

    Raises StationCredentialsInvalid (also for missing credentials), SignInThrottled (too
    many recent failures; accounts/throttle.py) or StationDisabled (right credentials, but
    the connection is switched off). Recently verified credentials are accepted from the
    cache without hashing or throttling (see the module docstring).
    """
    username = username.strip()[:254]
    if not username or not password:
        raise StationCredentialsInvalid("A username and password are required.")
    key = _cache_key(username, password)
    attempt = None
    connection: WarehouseConnection | None = None
    for join_identical in sign_in_rounds():
        cached = _cached_connection(key)
        if cached is not None:
            return _check_enabled(cached)
        connection = (
            WarehouseConnection.objects.select_related("publisher")
            .filter(username=username)
            .first()
        )
        try:
            attempt = sign_in_reserve(
                realm=SignInRealm.WAREHOUSE,
                login=username,
                client_address=client_address,
                password=password,
                password_hash=connection.password if connection is not None else "",
                join_identical=join_identical,
            )
        except RepeatedWrongPassword as exc:
            raise StationCredentialsInvalid("The username and password do not match.") from exc
        if attempt is not None:
            break
    assert attempt is not None  # the last round never waits: it reserves or raises
    try:
        # Hash for an unknown username too, so timing does not tell which exist.
        encoded = connection.password if connection is not None else _dummy_hash()
        verified = check_password(password, encoded) and connection is not None
    except BaseException:
        sign_in_release(attempt=attempt)
        raise
    sign_in_settle(attempt=attempt, succeeded=verified)
    if connection is None or not verified:
        raise StationCredentialsInvalid("The username and password do not match.")
    caches["credentials"].set(
        key,
        _CachedStation(connection_id=connection.id, password_hash=connection.password),
        timeout=settings.CREDENTIAL_CACHE_SECONDS,
    )
    return _check_enabled(connection)


def _check_enabled(connection: WarehouseConnection) -> WarehouseConnection:
    if not connection.enabled:
        raise StationDisabled(
            f"The connection {connection.name!r} is disabled; an operator can enable it.",
            connection_id=connection.id,
        )
    return connection


__all__ = [
    "ConnectionInvalid",
    "NewConnection",
    "StationCredentialsInvalid",
    "StationDisabled",
    "warehouse_authenticate",
    "warehouse_create",
    "warehouse_reset_password",
    "warehouse_set_enabled",
]
