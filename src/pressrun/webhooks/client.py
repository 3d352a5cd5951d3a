"""The only code that sends a webhook over the network: one POST, with timeouts, to an
address checked against server-side request forgery.

A publisher chooses the URL, so pressrun must not become a way to reach what only it can
reach: its own machine, the private network around it, a cloud's metadata address. So:

- the URL must be https (http only to a loopback address, and only with
  PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK, for tests and local development), with a host name or a
  public IP address, no user name or password;
- the host name is resolved here, every address it resolves to must be public (not private,
  loopback, link-local, shared, reserved, multicast or unspecified; loopback is allowed
  with the setting above), and the connection goes to the checked address, never to a
  second resolution (DNS rebinding), while TLS still verifies the certificate for the name;
- redirects are not followed (a 3xx is a failed attempt), so a public URL cannot bounce
  the request inward;
- connecting and each read give up after PRESSRUN_WEBHOOK_TIMEOUT_SECONDS, the whole
  attempt after three times that, and at most a few KiB of the answer are read, of which a
  short excerpt is kept.

Warehouse pushes (warehouses/push.py) are sent by the same code, under the same rules: their
URL is the publisher's choice too. `attempt` is one attempt of either, as recorded
(`core.outbound`).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from pressrun.core.errors import DomainError
from pressrun.core.outbound import PostResult

logger = logging.getLogger(__name__)

USER_AGENT = "pressrun-webhooks/1"
RESPONSE_READ_LIMIT = 4096
EXCERPT_LENGTH = 300
# The whole attempt (connect, send, answer) gives up after this many times the timeout.
WHOLE_ATTEMPT_TIMEOUTS = 3
# An attempt's error when the row's signing secret was sealed under another installation key.
SIGNING_KEY_LOST = "The signing secret cannot be read (the installation's key changed): rotate it."
# Characters RFC 3986 does not allow in a URL unencoded.
_NOT_IN_URLS = '<>"{}|\\^`'
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(DomainError):
    """The endpoint URL may not be used; the message says why, for the publisher."""


class DeliveryFailed(DomainError):
    """The request could not be made or got no HTTP answer (refused address, DNS, connection,
    TLS, timeout); the message says which."""


@dataclass(frozen=True)
class Response:
    status: int
    excerpt: str


def loopback_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_LOOPBACK", False))


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_allowed(address: IPAddress, *, allow_loopback: bool) -> bool:
    """Whether pressrun may connect to `address`: a public unicast address, or loopback when
    allowed."""
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def endpoint_url_check(url: str, *, allow_loopback: bool | None = None) -> SplitResult:
    """The parsed `url` if it may be a webhook endpoint (see the module docstring; the host
    name's addresses are checked when sending). Raises UrlRefused with the reason."""
    allow = loopback_allowed() if allow_loopback is None else allow_loopback
    url = url.strip()
    if not url:
        raise UrlRefused("Enter the URL pressrun should send webhooks to.")
    if len(url) > 500:
        raise UrlRefused("The URL is too long (500 characters at most).")
    if any(ord(c) < 33 or ord(c) == 127 or c in _NOT_IN_URLS for c in url):
        raise UrlRefused(
            "The URL may not contain spaces, control characters or any of " + _NOT_IN_URLS
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"This is not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise UrlRefused("Enter a full URL starting with https://, e.g. https://example.com/hooks.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(
            "Leave the user name and password out of the URL: check the signature instead."
        )
    if port == 0:
        raise UrlRefused("The URL's port must be between 1 and 65535.")
    address = _ip(host)
    loopback = _is_loopback_name(host) or (address is not None and address.is_loopback)
    if loopback and not allow:
        raise UrlRefused("pressrun does not send webhooks to its own machine (localhost).")
    if address is not None and not address_allowed(address, allow_loopback=allow):
        raise UrlRefused(
            f"{host} is a private or reserved address: pressrun sends webhooks to public "
            "addresses only."
        )
    if scheme != "https" and not loopback:
        raise UrlRefused("The URL must start with https:// (webhooks are sent encrypted only).")
    if address is None and not _is_loopback_name(host) and "." not in host:
        raise UrlRefused(f"{host} is not a public host name (it has no domain).")
    return parts


def _resolve(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """The addresses to connect to for `host`, in order, after checking all of them."""
    literal = _ip(host)
    if literal is not None:
        candidates = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise DeliveryFailed(f"Could not resolve {host}: {exc}") from None
        candidates = [a for a in (_ip(str(info[4][0])) for info in infos) if a is not None]
    if not candidates:
        raise DeliveryFailed(f"Could not resolve {host}: no address.")
    for address in candidates:
        if not address_allowed(address, allow_loopback=allow_loopback):
            raise DeliveryFailed(
                f"{host} resolves to {address}, a private or reserved address: not sent."
            )
    return list(dict.fromkeys(str(address) for address in candidates))


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST `body` to `url` once; the HTTP answer (any status) or DeliveryFailed.
    Raises UrlRefused when the URL itself may not be used."""
    allow = loopback_allowed()
    parts = endpoint_url_check(url, allow_loopback=allow)
    host = parts.hostname or ""
    secure = parts.scheme.lower() == "https"
    port = parts.port or (443 if secure else 80)
    addresses = _resolve(host, port, allow_loopback=allow)
    connection: http.client.HTTPConnection
    if secure:
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def connect_to_checked_address(
        _address: tuple[str, int], connect_timeout: float | None, source: object = None
    ) -> socket.socket:
        error: OSError | None = None
        for address in addresses:  # each in turn, as socket.create_connection does
            try:
                return socket.create_connection((address, port), connect_timeout)
            except OSError as exc:
                error = exc
        assert error is not None  # _resolve returns at least one address
        raise error

    # http.client connects through this hook; TLS still checks the certificate for `host`.
    connection._create_connection = connect_to_checked_address  # type: ignore[attr-defined]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    request_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(body)),
        **headers,
    }
    # Socket timeouts bound each step; this bounds the whole attempt, so an endpoint that
    # drips its answer a byte at a time cannot hold a worker for long either.
    total = timeout * WHOLE_ATTEMPT_TIMEOUTS
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown (not TLS's), safe while another thread reads.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    watchdog = threading.Timer(total, abort)
    watchdog.daemon = True
    started = time.monotonic()
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers=request_headers)
        response = connection.getresponse()
        data = b""
        while len(data) < RESPONSE_READ_LIMIT and time.monotonic() - started < timeout:
            chunk = response.read1(RESPONSE_READ_LIMIT - len(data))
            if not chunk:
                break
            data += chunk
        if expired.is_set():  # cut off: what was read ended only because the socket was shut
            raise DeliveryFailed(f"No complete answer within {total:g} s: timed out.")
        return Response(status=response.status, excerpt=excerpt(data))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            raise DeliveryFailed(f"No complete answer within {total:g} s: timed out.") from None
        reason = "timed out" if isinstance(exc, TimeoutError | socket.timeout) else str(exc)
        raise DeliveryFailed(f"{type(exc).__name__}: {reason}"[:400]) from None
    finally:
        watchdog.cancel()
        connection.close()


def excerpt(data: bytes) -> str:
    """The start of a response body as printable text, at most EXCERPT_LENGTH characters."""
    text = data.decode("utf-8", errors="replace")
    printable = "".join(c if c.isprintable() or c in "\n\t" else " " for c in text)
    return printable[:EXCERPT_LENGTH]


def attempt(
    url: str, *, body: bytes, headers: dict[str, str], timeout: float, what: str
) -> PostResult:
    """One attempt of an outbound row (a webhook delivery, a warehouse push): `post`, timed,
    with every way it can go wrong made the result's error (a status other than 2xx, no
    answer, a refused address, and anything unexpected, logged with `what` naming the row),
    so that the caller always records the attempt and never leaves its row `sending`."""
    started = time.monotonic()
    code: int | None = None
    answer = ""
    error = ""
    try:
        response = post(url, body=body, headers=headers, timeout=timeout)
    except (DeliveryFailed, UrlRefused) as exc:
        error = exc.message
    except Exception as exc:  # a failed attempt all the same
        logger.exception("%s: unexpected error while sending", what)
        error = f"{type(exc).__name__}: {exc}"[:400]
    else:
        code, answer = response.status, response.excerpt
        if not 200 <= code < 300:
            redirect = " (redirects are not followed)" if 300 <= code < 400 else ""
            error = f"HTTP {code}{redirect}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return PostResult(code=code, excerpt=answer, error=error, duration_ms=duration_ms)
