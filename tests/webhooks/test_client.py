"""The endpoint URL rules and the address checks against server-side request forgery, the
signature format, and fuzzing of both parsers (hypothesis)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.webhooks import client
from pressrun.webhooks.client import DeliveryFailed, UrlRefused, endpoint_url_check
from pressrun.webhooks.signing import (
    secret_generate,
    signature,
    signature_header,
    signature_verify,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/pressrun",
        "https://hooks.example.com:8443/in?key=1",
        "https://93.184.215.14/hooks",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hooks",
    ],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert endpoint_url_check(url, allow_loopback=False).geturl() == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "Enter the URL pressrun should send webhooks to."),
        ("http://hooks.example.com/x", "The URL must start with https://"),
        ("ftp://hooks.example.com/x", "Enter a full URL starting with https://"),
        ("hooks.example.com/x", "Enter a full URL starting with https://"),
        ("https://user:pw@hooks.example.com/", "Leave the user name and password out"),
        ("https://localhost/x", "pressrun does not send webhooks to its own machine"),
        ("https://app.localhost/x", "pressrun does not send webhooks to its own machine"),
        ("https://127.0.0.1/x", "pressrun does not send webhooks to its own machine"),
        ("https://[::1]/x", "pressrun does not send webhooks to its own machine"),
        ("https://[::ffff:127.0.0.1]/x", "pressrun does not send webhooks to its own machine"),
        ("https://10.1.2.3/x", "10.1.2.3 is a private or reserved address"),
        ("https://192.168.1.20/x", "192.168.1.20 is a private or reserved address"),
        ("https://172.16.0.5/x", "172.16.0.5 is a private or reserved address"),
        ("https://169.254.169.254/latest", "169.254.169.254 is a private or reserved address"),
        ("https://100.64.0.1/x", "100.64.0.1 is a private or reserved address"),
        ("https://0.0.0.0/x", "0.0.0.0 is a private or reserved address"),
        ("https://[fe80::1]/x", "fe80::1 is a private or reserved address"),
        ("https://[fd00::1]/x", "fd00::1 is a private or reserved address"),
        ("https://224.0.0.1/x", "224.0.0.1 is a private or reserved address"),
        ("https://intranet/x", "intranet is not a public host name"),
        ("https://hooks.example.com:99999/x", "This is not a valid URL"),
        ("https://hooks.example.com/a b", "The URL may not contain spaces"),
        ("https://hooks.example.com/\x00", "The URL may not contain spaces"),
        ("https://" + "a" * 500 + ".com/", "The URL is too long"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        endpoint_url_check(url, allow_loopback=False)
    assert refused.value.message.startswith(reason), refused.value.message


def test_loopback_only_with_the_setting() -> None:
    for url in ("http://127.0.0.1:8000/x", "http://localhost:9/x", "https://[::1]/x"):
        assert endpoint_url_check(url, allow_loopback=True).geturl() == url
    # The setting allows loopback, never the private network, nor plain http elsewhere.
    with pytest.raises(UrlRefused):
        endpoint_url_check("https://10.0.0.1/x", allow_loopback=True)
    with pytest.raises(UrlRefused):
        endpoint_url_check("http://hooks.example.com/x", allow_loopback=True)


def test_a_name_resolving_to_a_private_address_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    connected: list[Any] = []

    def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(client.socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(client.socket, "create_connection", lambda *a, **k: connected.append(a))
    with pytest.raises(DeliveryFailed) as failed:
        client.post("https://rebind.example.com/x", body=b"{}", headers={}, timeout=1)
    assert failed.value.message == (
        "rebind.example.com resolves to 10.0.0.7, a private or reserved address: not sent."
    )
    assert connected == []


def test_a_name_resolving_to_public_and_private_addresses_is_refused(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False

    def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]

    monkeypatch.setattr(client.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(DeliveryFailed, match="resolves to ::1"):
        client.post("https://mixed.example.com/x", body=b"{}", headers={}, timeout=1)


def test_unresolvable_name_is_a_failed_attempt(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(DeliveryFailed, match=r"^Could not resolve no-such-host\.invalid"):
        client.post("https://no-such-host.invalid/x", body=b"{}", headers={}, timeout=1)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_url_check_never_fails_otherwise(url: str) -> None:
    message = ""
    try:
        parts = endpoint_url_check(url, allow_loopback=False)
    except UrlRefused as refused:
        message = refused.message
    else:
        assert parts.scheme == "https"
        assert parts.hostname
        return
    assert message


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["https://", "http://", ""]), st.text(max_size=60))
def test_url_check_fuzzed_after_a_scheme(scheme: str, rest: str) -> None:
    message = "accepted"
    try:
        endpoint_url_check(scheme + rest, allow_loopback=True)
    except UrlRefused as refused:
        message = refused.message
    assert message


def test_signature_format() -> None:
    secret = "whsec_test"
    body = b'{"id":"evt_1"}'
    import hashlib
    import hmac

    expected = hmac.new(secret.encode(), b"1733335200." + body, hashlib.sha256).hexdigest()
    assert signature(secret=secret, timestamp=1733335200, body=body) == expected
    assert signature_header(secret=secret, timestamp=1733335200, body=body) == (
        f"t=1733335200,v1={expected}"
    )


def test_signature_verification() -> None:
    secret = secret_generate()
    assert secret.startswith("whsec_")
    assert len(secret) == 6 + 43
    body = b'{"a":1}'
    header = signature_header(secret=secret, timestamp=1000, body=body)
    assert signature_verify(secret=secret, header=header, body=body, now=1100)
    assert not signature_verify(secret=secret, header=header, body=body + b" ", now=1100)
    assert not signature_verify(secret=secret + "x", header=header, body=body, now=1100)
    assert not signature_verify(secret=secret, header=header, body=body, now=1000 + 301)
    assert not signature_verify(secret=secret, header="", body=body, now=1000)
    # Another v1 next to the right one (a receiver during a secret change) still verifies.
    assert signature_verify(secret=secret, header=header + ",v1=00", body=body, now=1000)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.binary(max_size=50))
def test_signature_verification_fuzzed(header: str, body: bytes) -> None:
    assert signature_verify(secret="whsec_x", header=header, body=body, now=1000) in (True, False)
