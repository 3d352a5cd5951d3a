"""Writes of the installation's own settings (`core.models.Installation`, one row)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.core.models import INSTALLATION_ID, Installation

MAX_PUBLIC_BASE_URL_LENGTH = 200


class PublicBaseUrlInvalid(DomainError):
    """The public base URL given is not one carts and customers could reach."""


def clean_public_base_url(text: str) -> str:
    """`text` as it is saved: trimmed, without a trailing slash; "" stays "" (nothing saved).

    Raises PublicBaseUrlInvalid unless it is an absolute http:// or https:// URL with a host,
    and no user name, query or fragment (every URL pressrun prints is built on it).
    """
    value = text.strip()
    if not value:
        return ""
    if len(value) > MAX_PUBLIC_BASE_URL_LENGTH:
        raise PublicBaseUrlInvalid(
            f"The public base URL must have at most {MAX_PUBLIC_BASE_URL_LENGTH} characters."
        )
    example = "e.g. https://orders.example.com or http://127.0.0.1:8101"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise PublicBaseUrlInvalid(f"'{value[:80]}' is not a URL ({example}).") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PublicBaseUrlInvalid(
            f"The public base URL must start with http:// or https:// and name a host ({example})."
        )
    if (
        parts.username is not None
        or parts.query
        or parts.fragment
        or any(char.isspace() for char in value)
    ):
        raise PublicBaseUrlInvalid(
            "The public base URL must be just scheme, host, port and path: no spaces, user "
            f"name, '?' or '#' ({example})."
        )
    if port == 0:
        raise PublicBaseUrlInvalid("The port of the public base URL must be from 1 to 65535.")
    return value.rstrip("/")


def installation_set_public_base_url(*, url: str, actor: str) -> Installation:
    """Save the public base URL ("" clears it: the address `pressrun serve` last started on
    applies again). Raises PublicBaseUrlInvalid (nothing saved). Every URL pressrun prints or
    sends uses it from the next call on, in every process, unless the environment variable
    PRESSRUN_PUBLIC_BASE_URL overrides it."""
    cleaned = clean_public_base_url(url)
    with transaction.atomic():
        installation, _ = Installation.objects.select_for_update().get_or_create(id=INSTALLATION_ID)
        installation.public_base_url = cleaned
        installation.public_base_url_changed_at = timezone.now()
        installation.public_base_url_changed_by = actor[:150]
        installation.save(
            update_fields=[
                "public_base_url",
                "public_base_url_changed_at",
                "public_base_url_changed_by",
            ]
        )
    return installation


def served_address(*, host: str, port: int) -> str:
    """The http:// address a server bound to `host`:`port` answers on locally. A wildcard
    bind (0.0.0.0, ::) is reached at the loopback address; an IPv6 host is bracketed."""
    name = host.strip().strip("[]") or "127.0.0.1"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return f"http://{name}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}"


def installation_record_served_address(*, host: str, port: int) -> str:
    """Record where `pressrun serve` starts (called by it before it binds); returns the
    address. Used as the public base URL while no operator saved one."""
    address = served_address(host=host, port=port)
    with transaction.atomic():
        installation, _ = Installation.objects.select_for_update().get_or_create(id=INSTALLATION_ID)
        installation.served_address = address
        installation.served_at = timezone.now()
        installation.save(update_fields=["served_address", "served_at"])
    return address
