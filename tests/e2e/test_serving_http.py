"""`pressrun serve` under slow and idle clients, and its request limits, over real sockets.

The service runs with its defaults: on SQLite 2 processes of 1 thread each. A client that
sends its request slowly, or opens a connection and sends nothing, must never hold one of
those threads: 200 of them open at once leave every normal request answered within a
second, and each is closed once its deadline passes (docs/operations.md, "Serving model").
"""

from __future__ import annotations

import html
import http.cookiejar
import itertools
import re
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

import pytest

from tests.e2e.test_gateway_http import (
    ORDER,
    STATUS,
    Reply,
    failure_code,
    http_status,
    order_fields,
    raw_request,
    sections,
    send,
    status_fields,
    success,
)
from tests.live import LiveService

pytestmark = pytest.mark.e2e

SLOW_CLIENTS = 200
ANSWER_WITHIN_SECONDS = 1.0
# A normal request that is not answered within this is a failure anyway; waiting longer
# would only make the test slower when the service stalls.
CLIENT_TIMEOUT_SECONDS = 5.0
# The deadlines of the server started for the timeout tests.
SHORT_TIMEOUT_SECONDS = 2

COUNT_DELIVERIES = """
from pressrun.carts.models import InboundDelivery
print(InboundDelivery.objects.filter(publisher_id={publisher}, reason={reason!r}).count())
"""


# --- raw clients ------------------------------------------------------------------------------
def _connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    assert address.hostname is not None
    assert address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _read_reply(sock: socket.socket) -> bytes:
    """One complete reply (head and Content-Length body) on a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    return head + b"\r\n\r\n" + body


def _still_open(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed this connection."""
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _until_closed(sock: socket.socket, limit: float = 30.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed
    (seconds from now)."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


@dataclass
class SlowClients:
    """Connections that each hold a request the server can do nothing with yet."""

    by_kind: dict[str, list[socket.socket]] = field(default_factory=dict)

    def all(self) -> list[socket.socket]:
        return [sock for socks in self.by_kind.values() for sock in socks]


SLOW_KINDS: dict[str, bytes] = {
    # Connected, nothing sent.
    "idle": b"",
    # A request head without its end.
    "partial head": b"POST /gateway/order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ",
    # A complete head announcing 100 bytes of body, then 5 of them (the probe's attack).
    "partial body": (
        b"POST /gateway/order HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nhello"
    ),
    # A chunked body whose first chunk never ends.
    "partial chunked body": (
        b"POST /carts/shopify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n400\r\nabc"
    ),
}


@contextmanager
def slow_clients(base_url: str, count: int) -> Iterator[SlowClients]:
    kinds = [*SLOW_KINDS, "kept alive"]
    clients = SlowClients({kind: [] for kind in kinds})
    with ExitStack() as stack:
        for number in range(count):
            kind = kinds[number % len(kinds)]
            sock = stack.enter_context(_connect(base_url))
            if kind == "kept alive":
                # A finished request on a keep-alive connection, then silence.
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert _read_reply(sock).startswith(b"HTTP/1.1 200 ")
            elif SLOW_KINDS[kind]:
                sock.sendall(SLOW_KINDS[kind])
            clients.by_kind[kind].append(sock)
        yield clients


# --- normal clients -----------------------------------------------------------------------------
class Browser:
    """A publisher signed in to the dashboard (cookies and the sign-in form's CSRF token)."""

    def __init__(self, service: LiveService) -> None:
        self.service = service
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/sign-in")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page[:2000]
        form = {
            "csrfmiddlewaretoken": html.unescape(token.group(1)),
            "email": service.email,
            "password": service.password,
        }
        request = urllib.request.Request(service.url("/sign-in"), data=urlencode(form).encode())
        with self.opener.open(request, timeout=CLIENT_TIMEOUT_SECONDS) as response:
            assert response.status == 200
            assert "Sign out" in response.read().decode()

    def get(self, path: str) -> str:
        with self.opener.open(self.service.url(path), timeout=CLIENT_TIMEOUT_SECONDS) as response:
            assert response.status == 200, path
            return str(response.read().decode())


@dataclass
class Timings:
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def measure(self, name: str, call: Callable[[], object]) -> None:
        started = time.monotonic()
        call()
        self.seconds.setdefault(name, []).append(time.monotonic() - started)

    def slowest(self) -> dict[str, float]:
        return {name: round(max(values), 3) for name, values in self.seconds.items()}


def _normal_requests(service: LiveService, browser: Browser, timings: Timings) -> None:
    """An order, a status call for it, and two dashboard pages, each timed."""
    account = service.account
    invoice = service.unique("SLOW")

    def order() -> None:
        fields = order_fields(account, invoice)
        reply = send(service, ORDER, fields=fields, timeout=CLIENT_TIMEOUT_SECONDS)
        assert success(reply)["Invoice"] == invoice

    def status() -> None:
        reply = send(
            service,
            STATUS,
            method="GET",
            fields=status_fields(account, invoice),
            timeout=CLIENT_TIMEOUT_SECONDS,
        )
        [section] = sections(reply)
        assert (section["ErrorNum"], section["Invoice"]) == ("0", invoice), section

    timings.measure("order", order)
    timings.measure("status call", status)
    timings.measure("dashboard orders", lambda: _assert_in(invoice, browser.get("/orders")))
    timings.measure("dashboard home", lambda: browser.get("/home"))


def _assert_in(text: str, page: str) -> None:
    assert text in page, page[:2000]


def _warm_up(service: LiveService) -> None:
    """Status calls from 16 clients at once, each on a new connection, so that every server
    process (four on PostgreSQL on 2 cores, up to 16 on larger machines) has checked the
    password once: each keeps verified credentials in its own memory, and the first check
    (a deliberately slow password hash) is not what this test measures."""
    fields = status_fields(service.account, "NO-SUCH-INVOICE")

    def call(_: int) -> None:
        [section] = sections(send(service, STATUS, fields=fields, timeout=60))
        assert section["ErrorNum"] == "300", section

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(call, range(64)))


# --- 200 slow clients -----------------------------------------------------------------------
def test_200_slow_and_idle_clients_do_not_delay_anybody_else(live_service: LiveService) -> None:
    service = live_service
    browser = Browser(service)
    _warm_up(service)
    timings = Timings()
    with slow_clients(service.base_url, SLOW_CLIENTS) as clients:
        for _ in range(8):
            _normal_requests(service, browser, timings)
        # The slow clients were all still there, unanswered, the whole time.
        still_open = {
            kind: sum(_still_open(sock) for sock in socks)
            for kind, socks in clients.by_kind.items()
        }
    assert still_open == dict.fromkeys(still_open, SLOW_CLIENTS // 5), still_open
    slowest = timings.slowest()
    assert {name: len(values) for name, values in timings.seconds.items()} == dict.fromkeys(
        slowest, 8
    )
    assert all(seconds <= ANSWER_WITHIN_SECONDS for seconds in slowest.values()), slowest


# --- read deadlines ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_deadlines(live_service: LiveService) -> Iterator[str]:
    """Another server on the same data whose head and body deadlines are 2 seconds."""
    with live_service.another_server(
        PRESSRUN_WEB_HEADER_TIMEOUT_SECONDS=str(SHORT_TIMEOUT_SECONDS),
        PRESSRUN_WEB_BODY_TIMEOUT_SECONDS=str(SHORT_TIMEOUT_SECONDS),
    ) as base_url:
        yield base_url


def _closes_on_time(seconds: float) -> bool:
    # The deadline counts from when the connection opened (or the head arrived), a little
    # before the measurement starts; a loaded machine may close a little late.
    return SHORT_TIMEOUT_SECONDS - 0.5 <= seconds <= SHORT_TIMEOUT_SECONDS + 2.5


@pytest.mark.parametrize("kind", ["idle", "partial head"])
def test_a_connection_without_a_complete_head_is_closed_at_the_head_deadline(
    short_deadlines: str, kind: str
) -> None:
    with _connect(short_deadlines) as sock:
        sock.sendall(SLOW_KINDS[kind])
        received, seconds = _until_closed(sock)
    assert received == b"", received
    assert _closes_on_time(seconds), seconds


def test_a_kept_alive_connection_left_idle_is_closed_at_the_head_deadline(
    short_deadlines: str,
) -> None:
    with _connect(short_deadlines) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_reply(sock).endswith(b"\r\n\r\nok\n")
        received, seconds = _until_closed(sock)
    assert received == b"", received
    assert _closes_on_time(seconds), seconds


@pytest.mark.parametrize("kind", ["partial body", "partial chunked body"])
def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(
    short_deadlines: str, kind: str
) -> None:
    with _connect(short_deadlines) as sock:
        sock.sendall(SLOW_KINDS[kind])
        received, seconds = _until_closed(sock)
    assert http_status(received) == 408, received
    assert received.endswith(b"\r\n\r\nThe request did not arrive in time.\n"), received
    assert b"\r\nconnection: close\r\n" in received.lower()
    assert _closes_on_time(seconds), seconds


@pytest.mark.parametrize("part", ["head", "body"])
def test_sending_a_byte_now_and_then_does_not_extend_the_deadline(
    short_deadlines: str, part: str
) -> None:
    """The deadlines are for the whole head and the whole body, not between two reads."""
    head = (
        b"POST /gateway/order HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n"
    )
    with _connect(short_deadlines) as sock:
        sock.sendall(head + b"\r\n" if part == "body" else head)
        started = time.monotonic()
        sent = 0
        try:
            while time.monotonic() - started < SHORT_TIMEOUT_SECONDS + 4:
                sock.sendall(b"X-Slow: 1\r\n" if part == "head" else b"a")
                sent += 1
                time.sleep(0.25)
        except OSError:
            pass  # closed by the server while still sending: what is expected
        received, _ = _until_closed(sock)
        seconds = time.monotonic() - started
    assert _closes_on_time(seconds), (seconds, sent)
    if part == "body":
        assert http_status(received) == 408, received


def test_normal_requests_are_unaffected_by_the_short_deadlines(short_deadlines: str) -> None:
    with urllib.request.urlopen(short_deadlines + "/health", timeout=5) as response:
        assert response.read() == b"ok\n"


# --- sizes and framing ----------------------------------------------------------------------
def _shopify_url(service: LiveService) -> str:
    output = service.setup("carturls", "--publisher", str(service.publisher_id))
    printed = output.splitlines()[0].split(": ", 1)[1]
    parts = urlsplit(printed)
    assert parts.path == "/carts/shopify"
    return f"{parts.path}?{parts.query}"


def _deliveries_with_reason(service: LiveService, reason: str) -> int:
    code = COUNT_DELIVERIES.format(publisher=service.publisher_id, reason=reason)
    return int(service.shell(code))


def _raw_post(path: str, body: bytes, *, headers: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def _chunked(path: str, body: bytes, content_type: str, pieces: int = 3) -> bytes:
    size = -(-len(body) // pieces)
    chunks = [body[at : at + size] for at in range(0, len(body), size)]
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + encoded
        + b"0\r\n\r\n"
    )


def _body_of(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


def test_a_cart_body_over_1_mb_gets_the_documented_413_and_is_recorded(
    live_service: LiveService,
) -> None:
    """Sent whole before the reply is read, as carts do: a 413 every time, never a reset."""
    service = live_service
    reason = "The body is larger than 1 MB."
    before = _deliveries_with_reason(service, reason)
    body = b'{"id": 1, "note": "' + b"a" * 1_000_000 + b'"}'
    for _ in range(3):
        response = raw_request(service, _raw_post(_shopify_url(service), body))
        assert http_status(response) == 413, response[:300]
        assert _body_of(response) == reason.encode() + b"\n"
    assert _deliveries_with_reason(service, reason) == before + 3


def test_a_body_over_the_server_limit_gets_413_from_the_server(live_service: LiveService) -> None:
    service = live_service
    before = _deliveries_with_reason(service, "The body is larger than 1 MB.")
    body = b"a" * (3 * 1024 * 1024)
    for request in (
        _raw_post(_shopify_url(service), body),
        _chunked(_shopify_url(service), body, "application/json"),
        _raw_post(ORDER, body),
    ):
        response = raw_request(service, request)
        assert http_status(response) == 413, response[:300]
        assert _body_of(response) == b"The request body is larger than 2097152 bytes.\n"
    # The server refused them: the application never saw them.
    assert _deliveries_with_reason(service, "The body is larger than 1 MB.") == before


def test_a_gateway_request_line_of_8190_bytes_places_the_order(live_service: LiveService) -> None:
    """Scripts send whole orders as GET query strings (accented names, a long SpecialText
    fully percent-encoded); 8190 bytes is the longest request line the service has always
    accepted."""
    service, account = live_service, live_service.account
    invoice = service.unique("LONG")
    fields = order_fields(account, invoice, name="Zoë Ångström", SpecialText="é" * 500)
    query = "&".join(f"{quote(name)}={quote(value)}" for name, value in fields.items())
    # Filled up to 8190 bytes with fields the gateway ignores (each under its 2,000-character
    # limit per field).
    for number in itertools.count(1):
        missing = 8190 - len(f"GET {ORDER}?{query}&pad{number}= HTTP/1.1")
        if missing <= 1500:
            query += f"&pad{number}=" + "x" * missing
            break
        query += f"&pad{number}=" + "x" * 1500
    request_line = f"GET {ORDER}?{query} HTTP/1.1"
    assert len(request_line) == 8190
    response = raw_request(
        service, f"{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    )
    assert http_status(response) == 200, response[:300]
    assert success(Reply(200, _body_of(response), "text/plain"))["Invoice"] == invoice


def test_chunked_bodies_are_read_whole(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("CHUNK")
    body = urlencode(order_fields(account, invoice)).encode()
    response = raw_request(
        service, _chunked(ORDER, body, "application/x-www-form-urlencoded", pieces=7)
    )
    assert http_status(response) == 200, response[:300]
    assert success(Reply(200, _body_of(response), "text/plain"))["Invoice"] == invoice
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert (section["ErrorNum"], section["Invoice"]) == ("0", invoice)


def test_a_chunked_gateway_body_over_64_kb_is_refused_in_the_gateways_format(
    live_service: LiveService,
) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("CHUNKBIG")
    body = urlencode(order_fields(account, invoice)).encode() + b"&pad=" + b"a" * 70_000
    response = raw_request(service, _chunked(ORDER, body, "application/x-www-form-urlencoded"))
    assert http_status(response) == 200, response[:300]
    assert failure_code(Reply(200, _body_of(response), "text/plain; charset=utf-8")) == "000046"
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert section["ErrorNum"] == "300", section
