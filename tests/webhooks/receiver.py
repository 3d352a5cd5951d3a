"""A publisher's webhook endpoint, played by a small local HTTP server: it keeps every
request (headers, raw body), checks the Pressrun-Signature with the publisher's secret the
way docs/webhooks.md tells receivers to, and answers what the test asks for (a status, a
body, a delay). Runs in a thread of the test process; the end-to-end tests' worker process
reaches it over loopback like any other endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pressrun.webhooks.signing import signature_verify


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str
    status: int = 200
    reply: bytes = b"ok"
    delay_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    server: ThreadingHTTPServer | None = None
    on_receive: Any = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            valid = signature_verify(
                secret=receiver.secret,
                header=headers.get("pressrun-signature", ""),
                body=body,
                now=time.time(),
                # Tests may sign at a simulated time; the signature itself must still match.
                tolerance_seconds=10**9,
            )
            entry = Received(self.path, headers, body, valid, time.time())
            receiver.received.append(entry)
            if receiver.on_receive is not None:
                receiver.on_receive(entry)
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            try:
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def running(secret: str = "", **options: Any) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret, **options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.server = server
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
