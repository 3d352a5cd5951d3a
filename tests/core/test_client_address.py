"""The client address behind proxies: only the entries our own proxies appended are trusted,
counted from the right; anything else falls back to the socket's peer address."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from pressrun.accounts.models import LoginFailure
from pressrun.core.client_address import client_address, throttle_address

PEER = "10.0.0.2"  # the proxy's own address, as the socket shows it


def address(settings: Any, value: str | None, *, header: str = "X-Forwarded-For", **kw: Any) -> str:
    settings.CLIENT_ADDRESS_HEADER = header
    settings.TRUSTED_PROXY_COUNT = kw.pop("trusted", 1)
    meta = {"REMOTE_ADDR": kw.pop("peer", PEER)}
    if value is not None:
        meta["HTTP_" + header.upper().replace("-", "_")] = value
    return client_address(RequestFactory().get("/", **meta))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        # The client wrote the left part; the proxy appended what it saw.
        ("1.2.3.4, 203.0.113.7", "203.0.113.7"),
        ("1.2.3.4,5.6.7.8 , 203.0.113.7", "203.0.113.7"),
        ("not an address, 203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        # Unusable: the peer address, never anything the client wrote.
        ("", PEER),
        ("203.0.113.7, garbage", PEER),
        ("1.2.3.4, ", PEER),
        ("unknown", PEER),
    ],
)
def test_one_trusted_proxy(settings: Any, value: str, expected: str) -> None:
    assert address(settings, value) == expected


def test_missing_header_is_the_peer_address(settings: Any) -> None:
    assert address(settings, None) == PEER


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # client → proxy A (appends the client) → proxy B (appends A) → pressrun
        ("198.51.100.9, 10.0.0.1", "198.51.100.9"),
        ("6.6.6.6, 198.51.100.9, 10.0.0.1", "198.51.100.9"),
        # Only one hop: the request did not pass both proxies. Not trusted.
        ("198.51.100.9", PEER),
    ],
)
def test_two_trusted_proxies(settings: Any, value: str, expected: str) -> None:
    assert address(settings, value, trusted=2) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("for=203.0.113.7", "203.0.113.7"),
        ('for="_spoof";proto=https, for=203.0.113.7;proto=https', "203.0.113.7"),
        ('for=1.2.3.4, for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("for=1.2.3.4, proto=https", PEER),  # the hop without `for` is not skipped
    ],
)
def test_forwarded_header(settings: Any, value: str, expected: str) -> None:
    assert address(settings, value, header="Forwarded") == expected


def test_without_a_configured_header_forwarding_headers_are_ignored(settings: Any) -> None:
    settings.CLIENT_ADDRESS_HEADER = ""
    request = RequestFactory().get("/", REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(request) == PEER


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_throttle_address(value: str, expected: str) -> None:
    assert throttle_address(value) == expected


@pytest.mark.django_db
def test_spoofed_leftmost_entries_do_not_escape_the_address_limit(settings: Any) -> None:
    """The probe's finding: behind an appending proxy, a client that writes a new leftmost
    X-Forwarded-For entry each time was never throttled (40 of 40). The proxy's entry, on
    the right, is the one that counts."""
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.LOGIN_FAILURES_PER_ADDRESS = 30
    client = Client(REMOTE_ADDR=PEER)
    statuses = []
    for n in range(40):
        response = client.post(
            "/sign-in",
            {"email": f"someone{n}@example.com", "password": "guess guess"},
            HTTP_X_FORWARDED_FOR=f"100.64.{n}.{n}, 198.51.100.9",
        )
        statuses.append(response.status_code)
    assert statuses == [200] * 30 + [429] * 10
    assert set(LoginFailure.objects.values_list("client_address", flat=True)) == {"198.51.100.9"}
