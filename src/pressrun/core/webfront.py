"""The web front of `pressrun serve`: Django only ever sees complete requests.

granian (a Rust HTTP server) owns the sockets. It reads each request head with a deadline
(`PRESSRUN_WEB_HEADER_TIMEOUT_SECONDS`, which also closes idle kept-alive connections) and
calls `CompleteRequests`, an ASGI application running on one asyncio loop per process. That
reads the body on the loop, under its own deadline and size limit, spooling it to a temporary
file past `SPOOL_IN_MEMORY_BYTES`; only then does one of the process's few threads run
Django's WSGI application on it. A client that sends slowly, or nothing at all, costs a
connection and a little memory or disk, never one of the threads that serve everybody else.

The requests whose paths start with one of `loop_paths` (by default the gateway's and the
carts': short, bounded, and most of the traffic) are run by the loop's own thread, one at a
time, which saves the two hand-overs between threads (about a sixth of the server's CPU for
a small request). Everything else (the dashboard's pages and exports, the payment
provider's calls, the operator's pages) runs on the process's threads, so that a request
that takes long (a large export streamed to a slow client, a payment call waiting for its
timeout) holds one of those threads and never the loop that runs the gateway. With
`on_loop` every request runs on the loop's thread.

The answers the front gives itself, always closing the connection:

- 400 when the client closes its side of the connection before its body is complete;
- 408 when the body has not arrived within `body_timeout_seconds`;
- 413 when the body is over `max_body_bytes` (declared or counted). Such a body is still
  read, and thrown away, up to `DISCARD_LIMIT_BYTES`, so that a client that sends it whole
  before reading the reply gets the 413 instead of a connection reset.

Every request Django gets has its whole body behind `wsgi.input` and its true length in
`CONTENT_LENGTH`, whether the client sent `Content-Length` or `Transfer-Encoding: chunked`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import logging
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote_to_bytes

logger = logging.getLogger("pressrun.web")
access_logger = logging.getLogger("pressrun.web.access")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# A body up to this size stays in memory; a larger one goes to a temporary file as it
# arrives, so many clients sending large bodies at once cost disk, not memory.
SPOOL_IN_MEMORY_BYTES = 64 * 1024
# How much of a refused (over-limit) body is read and thrown away before closing.
DISCARD_LIMIT_BYTES = 16 * 1024 * 1024
# A response body up to this size is handed from the thread to the loop in one piece; a
# larger one (a CSV export) is streamed chunk by chunk, each within the write timeout.
WHOLE_RESPONSE_BYTES = 256 * 1024


# The defaults of the PRESSRUN_WEB_* settings (docs/operations.md, "Serving model").
DEFAULT_HEADER_TIMEOUT_SECONDS = 20
DEFAULT_BODY_TIMEOUT_SECONDS = 30
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
# Open connections each process holds at once (granian's "backpressure"), idle and slow
# ones included; more wait in the listen backlog until one closes. Far above the threads,
# which only run complete requests. Fewer when the open-file limit cannot hold them.
CONNECTIONS_PER_PROCESS = 4096
LISTEN_BACKLOG = 2048
# Open files a process keeps for itself (database, logs, libraries) besides connections.
RESERVED_FILES = 128
# granian's buffer for a request head (a head of about 100 KiB fits; 431 beyond). Gateway
# scripts send whole orders as GET query strings, 8190 bytes of request line and more: a URL
# may be up to 64 KB (granian answers 414 past that) and the gateway refuses a longer query
# than it takes in its own format.
MAX_REQUEST_HEAD_BYTES = 72 * 1024


# Processes `pressrun serve` starts on PostgreSQL at most when not told: each holds its own
# database connections (one per thread, the loop's included), and a machine reporting many
# cores may grant this service few of them (a container's CPU quota is not visible to the
# process).
MAX_DEFAULT_PROCESSES = 16


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_processes(*, postgresql: bool) -> int:
    """`pressrun serve`'s processes when not told (PRESSRUN_WEB_PROCESSES). SQLite: two,
    whatever the cores: every order of every process waits for its one write lock, and more
    processes only queue there (docs/performance.md, the scaling phase). PostgreSQL: two per
    usable core (at most MAX_DEFAULT_PROCESSES), so that while one process waits for the
    database another runs: on 2 cores four processes served more orders than two of four
    threads, and six or eight lost again to the switching (docs/performance.md, "eighth
    round")."""
    if not postgresql:
        return 2
    return min(2 * usable_cores(), MAX_DEFAULT_PROCESSES)


def default_threads(*, postgresql: bool) -> int:
    """`pressrun serve`'s threads per process when not told (PRESSRUN_WEB_THREADS), for the
    requests not run on the loop (`DEFAULT_LOOP_PATHS`). SQLite: one, as more would only
    queue on the write lock. PostgreSQL: two, so that one request that takes long (a large
    export streamed to a slow client, a call to the payment provider) leaves the other
    free; the waits for the database are served by more processes (`default_processes`)."""
    return 2 if postgresql else 1


# The paths whose requests the loop's own thread runs (PRESSRUN_WEB_LOOP_PATHS): the gateway
# and the carts' notifications, whose views work with the database only (no call to another
# service, no streamed response). The longest of them is a credential check that misses the
# credential cache: one password hash, once per credentials, process and cache lifetime.
DEFAULT_LOOP_PATHS = ("/gateway/", "/carts/")


@dataclass(frozen=True)
class FrontLimits:
    """How long and how much the front waits for before the application runs."""

    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # How long a streamed response waits for a client that does not read it.
    write_timeout_seconds: float = 60.0


class ClientGone(Exception):
    """The client went away (or stopped reading) while its response was being streamed."""


class BodyIncomplete(Exception):
    """The client closed its side of the connection before its body was complete."""


@dataclass
class _Body:
    stream: IO[bytes]
    size: int
    too_large: bool


@dataclass(frozen=True)
class _Channel:
    """The request's connection, for the thread that streams a response on it."""

    loop: asyncio.AbstractEventLoop
    receive: Receive
    send: Send


@dataclass
class _Unfinished:
    """A large response the thread began: the loop's thread goes on producing and sending
    it (with `on_loop`)."""

    response: _Response
    chunks: list[bytes]
    iterator: Iterator[bytes]
    iterable: Iterable[bytes]


@dataclass
class _Whole:
    """A response the thread finished: the loop sends it in one go."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class CompleteRequests:
    """ASGI application: reads every request completely, then runs `wsgi_app` on a thread.

    `threads` is the number of threads (per process) that run Django: with SQLite one, as
    they would only take turns on its one write lock; with PostgreSQL more. A request whose
    path starts with one of `loop_paths` (every request, with `on_loop`) runs on the loop's
    own thread instead, one complete request at a time: the same as one thread of its own,
    without the hand-overs.
    """

    def __init__(
        self,
        wsgi_app: WSGIApp,
        *,
        threads: int,
        limits: FrontLimits,
        access_log: bool = False,
        on_loop: bool = False,
        loop_paths: Iterable[str] = (),
    ) -> None:
        self.wsgi_app = wsgi_app
        self.limits = limits
        self.access_log = access_log
        self.on_loop = on_loop
        self.loop_paths = tuple(loop_paths)
        # On the loop's thread one request runs at a time: the next waits for its turn here
        # (while another streams its response to a slow client).
        self._turn = asyncio.Lock()
        # Its threads start with their first jobs: unused with `on_loop`.
        self.executor = ThreadPoolExecutor(
            max_workers=1 if on_loop else threads, thread_name_prefix="pressrun-web"
        )

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        status, sent = await self._serve(scope, receive, send)
        if self.access_log:
            _log_access(scope, status, sent, time.monotonic() - started)

    async def _serve(self, scope: Message, receive: Receive, send: Send) -> tuple[int, int]:
        """Answer one request; return its status and the size of the body sent."""
        declared, chunked = _framing(scope)
        try:
            if not chunked and not declared:
                # No body (most GETs): nothing to wait for.
                body = _Body(stream=io.BytesIO(), size=0, too_large=False)
            else:
                async with asyncio.timeout(self.limits.body_timeout_seconds):
                    body = await self._read_body(receive, declared)
        except TimeoutError:
            if declared is not None and declared > self.limits.max_body_bytes:
                return await _refuse(send, 413, _too_large_text(self.limits))
            return await _refuse(send, 408, "The request did not arrive in time.\n")
        except BodyIncomplete:
            # Nothing of it reaches the application. The client may still be reading (it
            # only half-closed): an answer is due, and granian would send a 500 otherwise.
            return await _refuse(send, 400, "The request body ended before its length.\n")
        if body.too_large:
            body.stream.close()
            return await _refuse(send, 413, _too_large_text(self.limits))
        environ = _environ(scope, body)
        loop = asyncio.get_running_loop()
        channel = _Channel(loop, receive, send)
        # Decided on the path Django routes by.
        if self.on_loop or (self.loop_paths and environ["PATH_INFO"].startswith(self.loop_paths)):
            answer = await self._on_loop(environ, channel)
        else:
            answer = await self._on_thread(environ, channel)
        if isinstance(answer, _Whole):
            await send(
                {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
            )
            await send({"type": "http.response.body", "body": answer.body})
            return answer.status, len(answer.body)
        return answer

    async def _read_body(self, receive: Receive, declared: int | None) -> _Body:
        limit = self.limits.max_body_bytes
        too_large = declared is not None and declared > limit
        # Closed by the caller once the application is done with it. A body declared small
        # stays so (granian frames it by its Content-Length) and needs no spooling file.
        stream: IO[bytes]
        if declared is not None and declared <= SPOOL_IN_MEMORY_BYTES:
            stream = io.BytesIO()
        else:
            stream = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        size = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise BodyIncomplete
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    too_large = True
                if not too_large:
                    stream.write(chunk)
                elif size > DISCARD_LIMIT_BYTES:
                    break
                if not message.get("more_body", False):
                    break
        except BaseException:
            stream.close()
            raise
        stream.seek(0)
        return _Body(stream=stream, size=size, too_large=too_large)

    async def _on_thread(
        self, environ: dict[str, Any], channel: _Channel
    ) -> _Whole | tuple[int, int]:
        """`_run` on one of the threads; the loop waits for it without blocking.

        What `loop.run_in_executor` does, for less CPU (about 10 of the front's 80 µs per
        request, measured in-process): the thread hands its answer to the loop itself, with
        one `call_soon_threadsafe`, instead of through a concurrent future wrapped in an
        asyncio one. As there, a request whose connection task is cancelled while it waits
        for a thread never runs.
        """
        loop = channel.loop
        answered: asyncio.Future[_Whole | tuple[int, int]] = loop.create_future()

        def hand_over(answer: Any, exception: BaseException | None) -> None:
            # RuntimeError: the loop is closed (the process is stopping), and nobody waits.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, answered, answer, exception)

        def run() -> None:
            try:
                answer = self._run(environ, channel)
            except BaseException as exc:
                hand_over(None, exc)
            else:
                hand_over(answer, None)

        job = self.executor.submit(run)
        try:
            return await answered
        except asyncio.CancelledError:
            job.cancel()
            raise

    async def _on_loop(
        self, environ: dict[str, Any], channel: _Channel
    ) -> _Whole | tuple[int, int]:
        """Run Django on the loop's thread, when its turn comes. As on a thread, a request
        whose connection task is cancelled while it waits never runs. While Django runs, the
        loop waits: other connections' bodies are read, their deadlines kept and the threads'
        answers sent once it is done (so only short requests run here: `loop_paths`)."""
        try:
            async with self._turn:
                return await self._run_on_loop(environ, channel)
        finally:
            environ["wsgi.input"].close()

    async def _run_on_loop(
        self, environ: dict[str, Any], channel: _Channel
    ) -> _Whole | tuple[int, int]:
        """`_run_application` on the loop's thread, with Django's code outside the loop (see
        `_OutsideLoop`); a large response is then sent as it is produced, chunk by chunk."""
        with _OutsideLoop():
            answer = self._run_application(environ, None)
        if not isinstance(answer, _Unfinished):
            return answer
        try:
            return await self._stream_on_loop(answer, channel)
        except ClientGone:
            return 499, 0
        except Exception:
            logger.exception("The application failed on %s %s", *_request_line(environ))
            # The head is out: all that is left is to cut the response short.
            raise
        finally:
            close = getattr(answer.iterable, "close", None)
            if close is not None:
                with _OutsideLoop():
                    close()

    async def _stream_on_loop(self, unfinished: _Unfinished, channel: _Channel) -> tuple[int, int]:
        """`_stream` on the loop's thread: the production stops when the client goes away or
        reads nothing for the write timeout."""
        response = unfinished.response

        async def watch() -> None:
            # With the body read, the next message is the client's disconnection.
            while (await channel.receive())["type"] != "http.disconnect":
                pass

        async def deliver(message: Message) -> None:
            if watcher.done():
                raise ClientGone
            try:
                async with asyncio.timeout(self.limits.write_timeout_seconds):
                    await channel.send(message)
            except TimeoutError as exc:
                raise ClientGone from exc
            # Let the watcher see a disconnection between two chunks.
            await asyncio.sleep(0)

        assert response.status is not None
        response.streaming = True
        watcher = asyncio.ensure_future(watch())
        try:
            await deliver(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response.headers,
                }
            )
            sent = 0
            produced = itertools.chain(unfinished.chunks, unfinished.iterator)
            while True:
                # Django produces the next chunk (a streamed queryset reads on).
                with _OutsideLoop():
                    chunk = next(produced, None)
                if chunk is None:
                    break
                if chunk:
                    await deliver({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
            await deliver({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
        return response.status, sent

    def _run(self, environ: dict[str, Any], channel: _Channel) -> _Whole | tuple[int, int]:
        # The body is closed on the thread that reads it, whatever becomes of the request.
        try:
            answer = self._run_application(environ, channel)
        finally:
            environ["wsgi.input"].close()
        assert not isinstance(answer, _Unfinished)
        return answer

    def _run_application(
        self, environ: dict[str, Any], channel: _Channel | None
    ) -> _Whole | tuple[int, int] | _Unfinished:
        """Run Django on this thread. A small response comes back whole; a large one is
        sent from here as it is produced (Django's database connections belong to this
        thread, so a streamed queryset must be iterated here too). Without a channel (on
        the loop's thread) a large one comes back unfinished, for the loop to send."""
        response = _Response()
        try:
            iterable = self.wsgi_app(environ, response.start)
        except Exception:
            logger.exception("The application failed on %s %s", *_request_line(environ))
            return _server_error()
        finished = True
        try:
            collected = _collect(response, iter(iterable))
            if isinstance(collected, _Whole):
                return collected
            if channel is None:
                finished = False
                return _Unfinished(response, *collected, iterable)
            return self._stream(response, *collected, channel)
        except ClientGone:
            return 499, 0
        except Exception:
            logger.exception("The application failed on %s %s", *_request_line(environ))
            if response.streaming:
                # The head is out: all that is left is to cut the response short.
                raise
            return _server_error()
        finally:
            close = getattr(iterable, "close", None)
            if finished and close is not None:
                close()

    def _stream(
        self,
        response: _Response,
        chunks: list[bytes],
        iterator: Iterator[bytes],
        channel: _Channel,
    ) -> tuple[int, int]:
        """Send the response chunk by chunk as the application produces it. The production
        stops when the client goes away or reads nothing for the write timeout."""
        gone = threading.Event()

        async def watch() -> None:
            # With the body read, the next message is the client's disconnection.
            while (await channel.receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async def forward(message: Message) -> None:
            await channel.send(message)

        def deliver(message: Message) -> None:
            if gone.is_set():
                raise ClientGone
            future = asyncio.run_coroutine_threadsafe(forward(message), channel.loop)
            try:
                future.result(timeout=self.limits.write_timeout_seconds)
            except TimeoutError as exc:
                future.cancel()
                raise ClientGone from exc

        assert response.status is not None
        response.streaming = True
        watcher = asyncio.run_coroutine_threadsafe(watch(), channel.loop)
        try:
            head = {"status": response.status, "headers": response.headers}
            deliver({"type": "http.response.start", **head})
            sent = 0
            for chunk in itertools.chain(chunks, iterator):
                if chunk:
                    deliver({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
            deliver({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
        return response.status, sent


def _collect(
    response: _Response, iterator: Iterator[bytes]
) -> _Whole | tuple[list[bytes], Iterator[bytes]]:
    """The whole response, if it is small; else what was produced so far and the rest."""
    # What the application wrote (rarely anything) comes first, then what it returns.
    chunks = response.written
    size = sum(len(chunk) for chunk in chunks)
    for chunk in iterator:
        if not chunk:
            continue
        chunks.append(chunk)
        size += len(chunk)
        if size > WHOLE_RESPONSE_BYTES:
            return chunks, iterator
    if response.status is None:
        raise RuntimeError("The application returned without calling start_response.")
    return _Whole(response.status, response.headers, b"".join(chunks))


class _OutsideLoop:
    """Run Django's synchronous code on the loop's thread as on a thread without a loop.

    Django refuses database calls where an event loop is running (they would block it), and
    asgiref's `async_to_sync` refuses to run there; here blocking the loop is the intent, so
    the thread shows no running loop while Django runs.
    """

    __slots__ = ("loop",)

    def __enter__(self) -> None:
        self.loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)

    def __exit__(self, *exc_info: object) -> None:
        asyncio.events._set_running_loop(self.loop)


def _settle(future: asyncio.Future[Any], result: Any, exception: BaseException | None) -> None:
    """Give the loop's `future` the thread's answer (on the loop), unless it was cancelled."""
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


class _Response:
    """What the application passed to start_response (and wrote, the old WSGI way)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.written: list[bytes] = []
        self.streaming = False

    def start(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.streaming:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = int(status.split(" ", 1)[0])
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        return self.written.append


def _framing(scope: Message) -> tuple[int | None, bool]:
    """The body's declared length (None if not declared), and whether it is chunked."""
    declared, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            # granian has already refused a malformed Content-Length with a 400.
            declared = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


def _too_large_text(limits: FrontLimits) -> str:
    return f"The request body is larger than {limits.max_body_bytes} bytes.\n"


async def _refuse(send: Send, status: int, text: str) -> tuple[int, int]:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status, len(body)


def _server_error() -> _Whole:
    body = b"Internal server error.\n"
    return _Whole(500, [(b"content-type", b"text/plain; charset=utf-8")], body)


def _environ(scope: Message, body: _Body) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of a complete request."""
    raw_path = scope.get("raw_path")
    if raw_path:
        # The path's bytes as sent, percent-decoded, as latin-1 text (what WSGI expects).
        path = unquote_to_bytes(raw_path.split(b"?", 1)[0]).decode("latin-1")
    else:
        path = scope["path"].encode("utf-8").decode("latin-1")
    server = scope.get("server") or ("", 0)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body.stream,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    framed = False
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if "_" in name:
            # Like gunicorn and nginx: "X_Forwarded_For" must not pass for the
            # "X-Forwarded-For" a trusted proxy sets (both would be HTTP_X_FORWARDED_FOR).
            continue
        if name in {"content-length", "transfer-encoding"}:
            # The body is complete: CONTENT_LENGTH below gives its true size, however it
            # was framed on the wire.
            framed = True
            continue
        key = "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    if framed or body.size:
        environ["CONTENT_LENGTH"] = str(body.size)
    return environ


def _request_line(environ: dict[str, Any]) -> tuple[str, str]:
    return environ["REQUEST_METHOD"], environ["PATH_INFO"]


def _log_access(scope: Message, status: int, sent: int, seconds: float) -> None:
    client = scope.get("client") or ("-", 0)
    query = scope.get("query_string", b"").decode("latin-1")
    target = scope.get("path", "") + (f"?{query}" if query else "")
    access_logger.info(
        '%s "%s %s HTTP/%s" %d %d %.1fms',
        client[0],
        scope.get("method", "-"),
        target,
        scope.get("http_version", "1.1"),
        status,
        sent,
        seconds * 1000,
    )


def serve(
    *,
    target: str,
    load_application: Callable[[], WSGIApp],
    host: str,
    port: int,
    processes: int,
    threads: int,
    loop_paths: Iterable[str] = DEFAULT_LOOP_PATHS,
    header_timeout_seconds: int = DEFAULT_HEADER_TIMEOUT_SECONDS,
    limits: FrontLimits | None = None,
    access_log: bool = False,
) -> None:
    """Serve a WSGI application until SIGINT / SIGTERM: granian with `processes` processes,
    each running `CompleteRequests` with `threads` threads, and the requests whose paths
    start with one of `loop_paths` on the loop's own thread ("/": every request).
    `load_application` runs in each process after it starts; `target` only names the
    application in granian's messages."""
    loop_paths = tuple(loop_paths)
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    def build(_target: str) -> CompleteRequests:
        return CompleteRequests(
            load_application(),
            threads=threads,
            limits=limits or FrontLimits(),
            access_log=access_log,
            on_loop="/" in loop_paths,
            loop_paths=loop_paths,
        )

    server = Server(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGINL,
        workers=processes,
        http=HTTPModes.http1,
        websockets=False,
        loop=Loops.asyncio,
        backlog=LISTEN_BACKLOG,
        backpressure=connections_per_process(),
        http1_settings=HTTP1Settings(
            # hyper's head deadline runs from the connection's start or its previous
            # answer: it closes idle kept-alive connections too.
            header_read_timeout=header_timeout_seconds * 1000,
            keep_alive=True,
            max_buffer_size=MAX_REQUEST_HEAD_BYTES,
        ),
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=20,
    )
    server.serve(target_loader=build)


def connections_per_process() -> int:
    """CONNECTIONS_PER_PROCESS, or what the open-file limit allows (each connection may take
    two files: its socket and a body spooled to disk). The soft limit is raised to the hard
    one first; the processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * CONNECTIONS_PER_PROCESS + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            logger.warning("Could not raise the open-file limit from %d to %d.", soft, raised)
    if soft == resource.RLIM_INFINITY:
        return CONNECTIONS_PER_PROCESS
    return max(1, min(CONNECTIONS_PER_PROCESS, (soft - RESERVED_FILES) // 2))
