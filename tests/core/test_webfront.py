"""The web front (`pressrun.core.webfront`): a WSGI application runs only on complete
requests, within the deadlines and limits, and its answers reach the client.

The front is driven here as granian drives it, through the ASGI calls, with a small WSGI
application that records what it was given; tests/e2e/test_serving_http.py checks the same
over real sockets against `pressrun serve`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pressrun.core import webfront
from pressrun.core.webfront import (
    WHOLE_RESPONSE_BYTES,
    CompleteRequests,
    FrontLimits,
    Message,
)

LIMITS = FrontLimits(body_timeout_seconds=0.5, max_body_bytes=1000, write_timeout_seconds=0.5)


def scope(
    method: str = "POST",
    headers: Iterable[tuple[bytes, bytes]] = (),
    raw_path: bytes = b"/gateway/order",
    query: bytes = b"",
) -> Message:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode(),
        "raw_path": raw_path,
        "query_string": query,
        "headers": list(headers),
        "server": ("127.0.0.1", 8000),
        "client": ("203.0.113.7", 50123),
    }


@dataclass
class Client:
    """The ASGI side of one connection: body parts to hand over, and what was sent back."""

    parts: list[bytes] = field(default_factory=list)
    # False: the body never ends (the client stops sending after the parts).
    complete: bool = True
    disconnect_after_parts: bool = False
    sent: list[Message] = field(default_factory=list)
    received_parts: int = 0
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self) -> Message:
        if self.received_parts < len(self.parts):
            index = self.received_parts
            self.received_parts += 1
            last = index == len(self.parts) - 1
            more = not (last and self.complete)
            return {"type": "http.request", "body": self.parts[index], "more_body": more}
        if self.disconnect_after_parts:
            return {"type": "http.disconnect"}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        [start] = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(start["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        [start] = [m for m in self.sent if m["type"] == "http.response.start"]
        return dict(start["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


@dataclass
class App:
    """A WSGI application that records each environ and the body it read."""

    status: str = "200 OK"
    chunks: tuple[bytes, ...] = (b"done\n",)
    calls: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    closed: int = 0
    produced: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls.append(environ)
        self.bodies.append(environ["wsgi.input"].read())
        self.threads.append(threading.get_ident())
        start_response(self.status, [("Content-Type", "text/plain"), ("X-App", "yes")])
        return self._body()

    def _body(self) -> Iterator[bytes]:
        try:
            for chunk in self.chunks:
                self.threads.append(threading.get_ident())
                self.produced += 1
                yield chunk
        finally:
            self.closed += 1


@pytest.fixture(params=[False, True], ids=["on-a-thread", "on-the-loop"])
def on_loop(request: pytest.FixtureRequest) -> bool:
    """Both ways of running the application: on a thread of its own, and (a process with
    one thread) on the loop's thread."""
    return bool(request.param)


def serve(app: Any, request: Message, client: Client, *, on_loop: bool = False) -> None:
    front = CompleteRequests(app, threads=1, limits=LIMITS, on_loop=on_loop)
    asyncio.run(front(request, client.receive, client.send))


CHUNKED = (b"transfer-encoding", b"chunked")


def test_a_body_in_parts_reaches_the_application_whole_with_its_true_length(on_loop: bool) -> None:
    app, client = App(), Client(parts=[b"name=Ann", b"&city=", b"Austin"])
    serve(
        app,
        scope(headers=[CHUNKED, (b"content-type", b"application/x-www-form-urlencoded")]),
        client,
    )
    assert app.bodies == [b"name=Ann&city=Austin"]
    [environ] = app.calls
    assert environ["CONTENT_LENGTH"] == "20"
    assert environ["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert "HTTP_TRANSFER_ENCODING" not in environ
    assert (client.status, client.body) == (200, b"done\n")


def test_a_body_over_the_memory_threshold_is_read_back_intact(on_loop: bool) -> None:
    app = App()
    big = FrontLimits(body_timeout_seconds=5, max_body_bytes=2_000_000)
    parts = [bytes([n % 251]) * 100_000 for n in range(12)]
    client = Client(parts=parts)
    front = CompleteRequests(app, threads=1, limits=big, on_loop=on_loop)
    asyncio.run(front(scope(headers=[CHUNKED]), client.receive, client.send))
    assert app.bodies == [b"".join(parts)]
    assert app.calls[0]["CONTENT_LENGTH"] == "1200000"


def test_the_application_is_not_called_while_the_body_is_arriving(on_loop: bool) -> None:
    """One thread: a request whose body never completes does not hold it, and the next
    complete request is answered at once; the stalled one gets 408 at its deadline."""
    app = App()
    front = CompleteRequests(app, threads=1, limits=LIMITS, on_loop=on_loop)
    stalled = Client(parts=[b"hello"], complete=False)
    normal = Client(parts=[b"a=1"])

    async def both() -> float:
        slow = asyncio.create_task(
            front(scope(headers=[(b"content-length", b"100")]), stalled.receive, stalled.send)
        )
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        await front(scope(headers=[(b"content-length", b"3")]), normal.receive, normal.send)
        answered = asyncio.get_running_loop().time() - started
        await slow
        return answered

    answered_in = asyncio.run(both())
    assert answered_in < 0.2
    assert app.bodies == [b"a=1"]
    assert (normal.status, normal.body) == (200, b"done\n")
    assert stalled.status == 408
    assert stalled.body == b"The request did not arrive in time.\n"
    assert stalled.headers[b"connection"] == b"close"


@pytest.mark.parametrize(
    ("headers", "parts"),
    [
        # Declared too large: read to its end (and dropped), so the client sees the answer.
        ([(b"content-length", b"1500")], [b"x" * 500, b"x" * 500, b"x" * 500]),
        # Chunked, found too large while counting.
        ([CHUNKED], [b"x" * 600, b"x" * 600]),
    ],
)
def test_a_body_over_the_limit_gets_413_and_never_reaches_the_application(
    on_loop: bool, headers: list[tuple[bytes, bytes]], parts: list[bytes]
) -> None:
    app, client = App(), Client(parts=parts)
    serve(app, scope(headers=headers), client, on_loop=on_loop)
    assert app.calls == []
    assert client.received_parts == len(parts)
    assert client.status == 413
    assert client.body == b"The request body is larger than 1000 bytes.\n"
    assert client.headers[b"connection"] == b"close"


def test_a_declared_oversize_body_that_stalls_gets_413_at_the_deadline(on_loop: bool) -> None:
    app, client = App(), Client(parts=[b"x" * 10], complete=False)
    serve(app, scope(headers=[(b"content-length", b"5000")]), client, on_loop=on_loop)
    assert app.calls == []
    assert client.status == 413


def test_a_body_cut_off_by_the_client_gets_400_and_runs_nothing(on_loop: bool) -> None:
    """The client closed its side before sending the whole body (it may still read)."""
    app = App()
    client = Client(parts=[b"half"], complete=False, disconnect_after_parts=True)
    serve(app, scope(headers=[(b"content-length", b"100")]), client, on_loop=on_loop)
    assert app.calls == []
    assert client.status == 400
    assert client.body == b"The request body ended before its length.\n"
    assert client.headers[b"connection"] == b"close"


def test_the_environ_follows_wsgi_and_drops_header_names_with_underscores(on_loop: bool) -> None:
    app, client = App(), Client(parts=[b""])
    headers = [
        (b"host", b"orders.example.com"),
        (b"x-forwarded-for", b"198.51.100.1"),
        # Would also become HTTP_X_FORWARDED_FOR: a client must not pass for the proxy.
        (b"x_forwarded_for", b"6.6.6.6"),
        (b"accept", b"text/plain"),
        (b"accept", b"text/html"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]
    request = scope(
        method="GET", headers=headers, raw_path=b"/caf%C3%A9/x%2Fy", query=b"q=%C3%A9&r=1"
    )
    serve(app, request, client, on_loop=on_loop)
    [environ] = app.calls
    assert environ["HTTP_X_FORWARDED_FOR"] == "198.51.100.1"
    assert environ["HTTP_ACCEPT"] == "text/plain,text/html"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_HOST"] == "orders.example.com"
    # PEP 3333: the path's bytes, percent-decoded, as latin-1 text.
    assert environ["PATH_INFO"] == "/café/x/y".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=%C3%A9&r=1"
    assert "CONTENT_LENGTH" not in environ
    expected = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "203.0.113.7",
        "REMOTE_PORT": "50123",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    assert {key: environ[key] for key in expected} == expected


def test_a_request_without_a_body_runs_at_once(on_loop: bool) -> None:
    """No Content-Length and no chunked body: the front waits for nothing (a receive here
    would wait for the client to leave)."""
    app, client = App(), Client(parts=[])
    front = CompleteRequests(app, threads=1, limits=LIMITS, on_loop=on_loop)

    async def run() -> None:
        await asyncio.wait_for(front(scope(method="GET"), client.receive, client.send), 5)

    asyncio.run(run())
    assert app.bodies == [b""]
    assert client.received_parts == 0
    assert (client.status, client.body) == (200, b"done\n")


def test_a_request_cancelled_while_it_waits_for_a_thread_never_runs() -> None:
    """granian cancels a connection's task when the connection goes away; a request still
    waiting for the (only) thread then never reaches the application, and the one running
    is answered as usual."""
    release = threading.Event()
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done\n"]

    first, second = Client(parts=[]), Client(parts=[])
    front = CompleteRequests(app, threads=1, limits=LIMITS)

    async def run() -> None:
        running = asyncio.create_task(
            front(scope(method="GET", raw_path=b"/first"), first.receive, first.send)
        )
        while not calls:
            await asyncio.sleep(0.01)
        waiting = asyncio.create_task(
            front(scope(method="GET", raw_path=b"/second"), second.receive, second.send)
        )
        await asyncio.sleep(0.05)
        waiting.cancel()
        # The cancelled task ends (its job withdrawn from the queue) before the thread is
        # free: the thread must then find nothing to run.
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await asyncio.wait_for(running, 5)

    asyncio.run(run())
    front.executor.shutdown(wait=True)
    assert calls == ["/first"]
    assert (first.status, first.body) == (200, b"done\n")
    assert second.sent == []


def test_on_the_loop_a_request_cancelled_while_it_waits_for_its_turn_never_runs() -> None:
    """On the loop's thread, one request runs at a time: while one streams its response to
    a client that reads slowly, the next waits, and if its connection goes away meanwhile
    it never reaches the application."""
    calls: list[str] = []
    reading = asyncio.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"z" * (WHOLE_RESPONSE_BYTES + 1)]

    first, second = Client(parts=[]), Client(parts=[])

    async def slow_send(message: Message) -> None:
        await reading.wait()
        first.sent.append(message)

    front = CompleteRequests(app, threads=1, limits=FrontLimits(), on_loop=True)

    async def run() -> None:
        running = asyncio.create_task(
            front(scope(method="GET", raw_path=b"/first"), first.receive, slow_send)
        )
        while not calls:
            await asyncio.sleep(0.01)
        waiting = asyncio.create_task(
            front(scope(method="GET", raw_path=b"/second"), second.receive, second.send)
        )
        await asyncio.sleep(0.05)
        assert calls == ["/first"]
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        reading.set()
        await asyncio.wait_for(running, 5)

    asyncio.run(run())
    assert calls == ["/first"]
    assert (first.status, first.body) == (200, b"z" * (WHOLE_RESPONSE_BYTES + 1))
    assert second.sent == []


def test_on_the_loop_requests_take_turns_while_one_streams() -> None:
    """The second request runs once the first has sent its last chunk, not between two."""
    events: list[str] = []
    chunk = b"z" * 65536
    count = WHOLE_RESPONSE_BYTES // len(chunk) + 2

    def body(name: str) -> Iterator[bytes]:
        for index in range(count):
            events.append(f"{name} {index}")
            yield chunk

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body(environ["PATH_INFO"])

    first, second = Client(parts=[]), Client(parts=[])
    front = CompleteRequests(app, threads=1, limits=LIMITS, on_loop=True)

    async def run() -> None:
        await asyncio.gather(
            front(scope(method="GET", raw_path=b"/a"), first.receive, first.send),
            front(scope(method="GET", raw_path=b"/b"), second.receive, second.send),
        )

    asyncio.run(run())
    assert events == [f"/a {i}" for i in range(count)] + [f"/b {i}" for i in range(count)]
    assert first.body == second.body == chunk * count


def test_serve_runs_the_loop_paths_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pressrun serve` runs the gateway's and the carts' requests on the loop's thread and
    the others on its threads; with "/" among the loop paths, every request on the loop."""
    import granian.server

    built: list[CompleteRequests] = []

    class FakeServer:
        def __init__(self, target: str, **options: Any) -> None:
            pass

        def serve(self, target_loader: Any) -> None:
            built.append(target_loader("pressrun.wsgi:application"))

    monkeypatch.setattr(granian.server, "Server", FakeServer)
    for threads, loop_paths in ((1, None), (4, None), (1, ("/",))):
        webfront.serve(
            target="pressrun.wsgi:application",
            load_application=App,
            host="127.0.0.1",
            port=8000,
            processes=1,
            threads=threads,
            **({} if loop_paths is None else {"loop_paths": loop_paths}),
        )
    assert [front.loop_paths for front in built] == [("/gateway/", "/carts/")] * 2 + [("/",)]
    assert [front.on_loop for front in built] == [False, False, True]
    assert [front.executor._max_workers for front in built] == [1, 4, 1]


def test_the_loop_paths_run_on_the_loop_and_the_others_on_a_thread() -> None:
    app = App()
    front = CompleteRequests(app, threads=2, limits=LIMITS, loop_paths=("/gateway/", "/carts/"))
    # Decided on the path Django routes by (percent-decoded), not on the raw one.
    paths = [b"/gateway/order", b"/carts/shopify", b"/orders/export", b"/gateway", b"/"]
    paths += [b"/%67ateway/status"]

    async def run() -> list[int]:
        for path in paths:
            client = Client(parts=[])
            await front(scope(method="GET", raw_path=path), client.receive, client.send)
            assert (client.status, client.body) == (200, b"done\n")
        return [threading.get_ident()] * len(paths)

    here = asyncio.run(run())
    # Each call records its thread twice: when called and when producing the body.
    ran_on = app.threads[::2]
    assert [thread == loop for thread, loop in zip(ran_on, here, strict=True)] == [
        True,
        True,
        False,
        False,
        False,
        True,
    ]


def test_a_long_request_off_the_loop_holds_no_loop_path_request() -> None:
    """A dashboard request that waits (a payment provider's call, a slow export) holds one of
    the process's threads: the gateway's requests, run on the loop, go on being answered."""
    release = threading.Event()
    answered: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/billing/credit":
            # Set by the test once the gateway's orders were answered meanwhile; the timeout
            # only keeps a broken front from hanging the suite.
            release.wait(timeout=10)
        answered.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    front = CompleteRequests(app, threads=2, limits=LIMITS, loop_paths=("/gateway/",))

    async def run() -> None:
        waiting_client = Client(parts=[])
        waiting = asyncio.create_task(
            front(
                scope(method="GET", raw_path=b"/billing/credit"),
                waiting_client.receive,
                waiting_client.send,
            )
        )
        await asyncio.sleep(0.05)
        for _ in range(3):
            client = Client(parts=[])
            await asyncio.wait_for(
                front(scope(method="GET"), client.receive, client.send), timeout=2
            )
            assert client.status == 200
        assert answered == ["/gateway/order"] * 3
        release.set()
        await asyncio.wait_for(waiting, 5)
        assert waiting_client.status == 200

    asyncio.run(run())
    assert answered == ["/gateway/order"] * 3 + ["/billing/credit"]


def test_an_application_that_raises_past_the_front_reaches_the_loop(on_loop: bool) -> None:
    """What the front does not answer itself (an exception that is no Exception) is raised
    where the request is awaited, as before."""

    class Stop(BaseException):
        pass

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise Stop

    client = Client(parts=[])
    with pytest.raises(Stop):
        serve(app, scope(method="GET"), client, on_loop=on_loop)
    assert client.sent == []


def test_a_small_response_is_sent_whole(on_loop: bool) -> None:
    app, client = App(chunks=(b"a", b"", b"b")), Client(parts=[b""])
    serve(app, scope(method="GET"), client, on_loop=on_loop)
    assert client.sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"x-app", b"yes")],
        },
        {"type": "http.response.body", "body": b"ab"},
    ]
    assert app.closed == 1


def test_a_large_response_is_streamed_from_the_thread_that_runs_the_application(
    on_loop: bool,
) -> None:
    chunk = b"z" * 65536
    count = WHOLE_RESPONSE_BYTES // len(chunk) + 4
    app, client = App(chunks=(chunk,) * count), Client(parts=[b""])
    serve(app, scope(method="GET"), client, on_loop=on_loop)
    bodies = [m for m in client.sent if m["type"] == "http.response.body"]
    assert len(bodies) == count + 1
    assert all(m["more_body"] for m in bodies[:-1])
    assert bodies[-1] == {"type": "http.response.body", "body": b""}
    assert client.body == chunk * count
    # Django's database connections belong to a thread: a streamed queryset must be
    # iterated on the thread that started it.
    assert len(set(app.threads)) == 1
    # On the loop: the thread that runs the loop (here, this one).
    assert (app.threads[0] == threading.get_ident()) is on_loop
    assert app.closed == 1


def test_the_application_runs_where_no_event_loop_runs(on_loop: bool) -> None:
    """Django refuses database calls, and asgiref's async_to_sync refuses to run, where an
    event loop is running: on the loop's thread, none shows while the application runs or
    produces its response (the streamed part included)."""
    seen: list[object] = []
    chunk = b"z" * 65536
    count = WHOLE_RESPONSE_BYTES // len(chunk) + 2

    def body() -> Iterator[bytes]:
        for _ in range(count):
            seen.append(asyncio.events._get_running_loop())
            yield chunk

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(asyncio.events._get_running_loop())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()

    client = Client(parts=[])
    serve(app, scope(method="GET"), client, on_loop=on_loop)
    assert seen == [None] * (count + 1)
    assert client.body == chunk * count


def test_a_streamed_response_stops_when_the_client_goes_away(on_loop: bool) -> None:
    produced_before_leaving = 8
    app = App(chunks=(b"z" * 65536,) * 1000)
    client = Client(parts=[b""])
    original_send = client.send

    async def send(message: Message) -> None:
        await original_send(message)
        if len(client.sent) == produced_before_leaving:
            client.gone.set()

    front = CompleteRequests(app, threads=1, limits=LIMITS, on_loop=on_loop)
    asyncio.run(front(scope(method="GET"), client.receive, send))
    assert app.produced < produced_before_leaving + 3
    assert app.closed == 1


def test_a_streamed_response_stops_when_the_client_reads_nothing(on_loop: bool) -> None:
    app = App(chunks=(b"z" * 65536,) * 100)
    client = Client(parts=[b""])

    async def send(message: Message) -> None:
        client.sent.append(message)
        if len(client.sent) > 6:
            await asyncio.sleep(3600)  # the client's window is full and stays so

    front = CompleteRequests(app, threads=1, limits=LIMITS, on_loop=on_loop)

    async def run() -> None:
        await asyncio.wait_for(front(scope(method="GET"), client.receive, send), timeout=10)

    asyncio.run(run())
    assert app.produced < 10
    assert app.closed == 1


def test_an_application_error_is_logged_and_answered_500(
    on_loop: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise ValueError("broken")

    client = Client(parts=[b""])
    with caplog.at_level(logging.ERROR, logger="pressrun.web"):
        serve(broken, scope(method="GET", raw_path=b"/x"), client, on_loop=on_loop)
    assert (client.status, client.body) == (500, b"Internal server error.\n")
    [record] = caplog.records
    assert record.getMessage() == "The application failed on GET /x"
    assert record.exc_info is not None


def test_an_application_error_in_a_streamed_response_cuts_it_short(
    on_loop: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the head there is no 500 to give: the error is logged, the body closed, and the
    error raised where the request is awaited (granian then drops the connection)."""
    chunk = b"z" * 65536
    produced = WHOLE_RESPONSE_BYTES // len(chunk) + 2
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            for _ in range(produced):
                yield chunk
            raise ValueError("broken")

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    client = Client(parts=[])
    with (
        caplog.at_level(logging.ERROR, logger="pressrun.web"),
        pytest.raises(ValueError, match="broken"),
    ):
        serve(app, scope(method="GET", raw_path=b"/x"), client, on_loop=on_loop)
    assert [record.getMessage() for record in caplog.records] == [
        "The application failed on GET /x"
    ]
    assert closed == [True]
    assert client.status == 200
    assert client.body == chunk * produced


def test_the_access_log_has_one_line_per_request(
    caplog: pytest.LogCaptureFixture, on_loop: bool
) -> None:
    front = CompleteRequests(App(), threads=1, limits=LIMITS, access_log=True, on_loop=on_loop)
    client = Client(parts=[b""])
    with caplog.at_level(logging.INFO, logger="pressrun.web.access"):
        asyncio.run(front(scope(method="GET", query=b"a=1"), client.receive, client.send))
    [record] = caplog.records
    assert record.getMessage().startswith('203.0.113.7 "GET /gateway/order?a=1 HTTP/1.1" 200 5 ')


LIMIT_PROBE = """
import resource, sys
from pressrun.core.webfront import connections_per_process
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
print(connections_per_process(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


@pytest.mark.parametrize(
    ("soft", "hard", "expected"),
    [
        # The soft limit is raised as far as needed: 4096 connections of up to 2 files each.
        (600, 20_000, "4096 8320"),
        # It cannot be: the connections are what the limit allows.
        (600, 600, "236 600"),
    ],
)
def test_connections_per_process_follow_the_open_file_limit(
    soft: int, hard: int, expected: str
) -> None:
    hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard_now != resource.RLIM_INFINITY and hard_now < hard:
        pytest.skip(f"the hard open-file limit here is {hard_now}")
    output = subprocess.run(
        [sys.executable, "-c", LIMIT_PROBE, str(soft), str(hard)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert output.split() == expected.split()
