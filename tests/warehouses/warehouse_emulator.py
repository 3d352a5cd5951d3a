"""A warehouse management system with an API, played by a small local HTTP server speaking
the push protocol (docs/warehouses.md, "A WMS with an API, step by step") as a real one
would:

- it takes pressrun's order pushes (`POST /orders`), checks the signature with the
  connection's secret the way the page tells integrators to, and keeps each order once by
  its idempotency key: a retry of an order it has is answered 200 again, as the first time,
  and makes no second order (`orders`), while every request is kept (`requests`);
- it misbehaves on demand: answers a script of statuses (500 then 200, a 422 refusal),
  is slow (`delay_seconds`: longer than pressrun waits, or long enough to kill the worker
  mid-push), or is down (`down()`: the port refuses connections until `up()`);
- it sends what a WMS sends back: `post()` signs a shipment confirmation or stock report
  with the secret and posts it to pressrun, over real HTTP (or through a Django test
  client), in any order and as many times as a test wants.

Runs in a thread of the test process; an end-to-end test's worker reaches it over loopback.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pressrun.warehouses.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureInvalid,
    signature,
    signature_verify,
)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str:
        return self.headers.get("idempotency-key", "")


@dataclass
class Warehouse:
    secret: str = ""
    # Statuses to answer, in turn; then `status`.
    script: list[int] = field(default_factory=list)
    status: int = 200
    refusal: bytes = b'{"error": "SKU ACME-MUG is not stocked here"}'
    delay_seconds: float = 0.0
    # Only the first this many requests are delayed (a slow moment, not a slow warehouse).
    delayed_requests: int = 1_000_000
    requests: list[Request] = field(default_factory=list)
    # The orders it made, by idempotency key: what it would ship.
    orders: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    port: int = 0
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what pressrun sends --------------------------------------------------------------

    def answer(self, request: Request) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(request)
            delayed = len(self.requests) <= self.delayed_requests
            status = self.script.pop(0) if self.script else self.status
        if delayed and self.delay_seconds:
            time.sleep(self.delay_seconds)
        if not request.signature_valid:
            return 401, b'{"error": "bad signature"}'
        if 400 <= status < 500:
            return status, self.refusal
        if status >= 500:
            return status, b"<html>502 Bad Gateway</html>" if status == 502 else b"oops"
        with self.lock:
            duplicate = request.idempotency_key in self.orders
            if not duplicate:
                self.orders[request.idempotency_key] = request.json()
            number = list(self.orders).index(request.idempotency_key) + 1
        return status, json.dumps(
            {"warehouse_order": f"ACME-{number}", "duplicate": duplicate}
        ).encode()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)

    # --- down and up ---------------------------------------------------------------------

    def down(self) -> None:
        """Stop listening: every connection is refused until `up()`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def up(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.server = server
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/orders"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    # --- what the warehouse sends --------------------------------------------------------

    def signed_headers(self, body: bytes, *, at: float | None = None) -> dict[str, str]:
        timestamp = int(time.time() if at is None else at)
        return {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret=self.secret, timestamp=timestamp, body=body),
            "Content-Type": "application/json",
        }

    def post(self, base_url: str, path: str, message: Any) -> tuple[int, Any]:
        """POST `message` (JSON), signed, to pressrun at `base_url` + `path`; returns the
        status and the JSON answer."""
        body = json.dumps(message).encode()
        request = urllib.request.Request(
            base_url + path, data=body, headers=self.signed_headers(body), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def _handler(warehouse: Warehouse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                signature_verify(
                    secret=warehouse.secret,
                    timestamp=headers.get(TIMESTAMP_HEADER.lower(), ""),
                    signed=headers.get(SIGNATURE_HEADER.lower(), ""),
                    body=body,
                    now=time.time(),
                    # Tests sign at simulated times; the signature itself must still match.
                    tolerance_seconds=10**9,
                )
                valid = True
            except SignatureInvalid:
                valid = False
            status, reply = warehouse.answer(Request(self.path, headers, body, valid, time.time()))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # pressrun gave up waiting (or its worker was killed)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def running(secret: str = "", **options: Any) -> Iterator[Warehouse]:
    warehouse = Warehouse(secret=secret, **options)
    warehouse.up()
    try:
        yield warehouse
    finally:
        warehouse.down()
