"""A lean closed-loop HTTP/1.1 load generator: asyncio streams, keep-alive, one thread.

Each of `connections` clients keeps one TCP connection open and sends its next request as
soon as the previous reply is complete (closed loop: the offered load is whatever the server
sustains at that concurrency). A request counts when it *started* inside the measured window;
requests still in flight when the window closes are awaited and counted too, so the tail is
not cut off. Requests are prebuilt bytes, replies are read with one `readuntil` for the head
and one `readexactly` for the body: the client's own CPU cost per request is a few tens of
microseconds, and it is measured (`client_cpu_*`) so a reader can tell whether the client, not
the server, was the limit.

`python bench/loadgen.py null-server --port P` serves a fixed reply to every request; the
benchmark uses it to measure the client's ceiling on this machine. `python bench/loadgen.py
canary` times a fixed loop in CPU time while a phase runs (see `canary`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUEST_TIMEOUT_SECONDS = 30.0
FAILURE_SAMPLES = 5

# build(connection_index, sequence_number) -> the whole request (head and body) as bytes
Builder = Callable[[int, int], bytes]
# classify(http_status, body) -> None when the reply counts as a success, else a category
Classifier = Callable[[int, bytes], str | None]
# probe() -> a snapshot (e.g. CPU counters) taken when the window opens and when it closes
Probe = Callable[[], dict[str, Any]]


class ProtocolError(Exception):
    pass


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(latencies_s: list[float]) -> dict[str, float]:
    values = sorted(latencies_s)
    if not values:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "mean_ms": 0.0}
    return {
        "p50_ms": round(percentile(values, 0.50) * 1000, 3),
        "p90_ms": round(percentile(values, 0.90) * 1000, 3),
        "p99_ms": round(percentile(values, 0.99) * 1000, 3),
        "max_ms": round(values[-1] * 1000, 3),
        "mean_ms": round(sum(values) / len(values) * 1000, 3),
    }


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one HTTP/1.1 reply."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP reply: {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = b"\r\nconnection: close" not in lower
    position = lower.find(b"\r\ncontent-length:")
    if position >= 0:
        end = lower.index(b"\r\n", position + 2)
        body = await reader.readexactly(int(head[position + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are expected
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = await reader.read()
        keep_alive = False
    return status, body, keep_alive


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    started: int = 0

    def fail(self, category: str, sample: str) -> None:
        self.failures[category] = self.failures.get(category, 0) + 1
        if len(self.samples) < FAILURE_SAMPLES:
            self.samples.append(f"{category}: {sample[:300]}")


@dataclass
class _Window:
    opens: float
    closes: float
    max_requests: int | None
    tally: _Tally

    def admits(self, started_at: float) -> bool:
        return self.opens <= started_at < self.closes

    def exhausted(self) -> bool:
        return self.max_requests is not None and self.tally.started >= self.max_requests


async def _client(
    *,
    index: int,
    host: str,
    port: int,
    build: Builder,
    classify: Classifier,
    window: _Window,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    sequence = 0
    clock = time.perf_counter
    try:
        while True:
            if clock() >= window.closes or window.exhausted():
                return
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    if window.admits(clock()):
                        window.tally.fail("connect", repr(exc))
                    await asyncio.sleep(0.05)
                    continue
            request = build(index, sequence)
            sequence += 1
            started = clock()
            counted = window.admits(started) and not window.exhausted()
            if counted:
                window.tally.started += 1
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    writer.write(request)
                    status, body, keep_alive = await read_response(reader)
            except (
                OSError,
                TimeoutError,
                ValueError,
                ProtocolError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
            ) as exc:
                if counted:
                    window.tally.fail(f"transport:{type(exc).__name__}", repr(exc))
                writer.close()
                reader = writer = None
                continue
            finished = clock()
            if counted:
                window.tally.latencies.append(finished - started)
                verdict = classify(status, body)
                if verdict is None:
                    window.tally.ok += 1
                else:
                    window.tally.fail(verdict, body.decode("utf-8", "replace"))
            if not keep_alive:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(
    *,
    host: str,
    port: int,
    build: Builder,
    classify: Classifier,
    connections: int,
    warmup_s: float,
    duration_s: float,
    max_requests: int | None,
    probe: Probe | None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    window = _Window(
        opens=start + warmup_s,
        closes=start + warmup_s + duration_s,
        max_requests=max_requests,
        tally=_Tally(),
    )
    marks: dict[str, Any] = {}

    def mark(name: str) -> None:
        marks[name] = {
            "wall": time.perf_counter(),
            "client_cpu": _cpu_seconds(),
            "probe": probe() if probe else {},
        }

    loop.call_at(loop.time() + warmup_s, mark, "open")
    tasks = [
        asyncio.create_task(
            _client(index=i, host=host, port=port, build=build, classify=classify, window=window)
        )
        for i in range(connections)
    ]
    await asyncio.gather(*tasks)
    mark("close")
    if "open" not in marks:  # finished before the warm-up ended: nothing was measured
        marks["open"] = marks["close"]
    tally = window.tally
    elapsed = marks["close"]["wall"] - marks["open"]["wall"]
    # With max_requests the window ends when the last counted reply arrives, not at `closes`.
    measured_s = elapsed if max_requests is not None else duration_s
    client_cpu = marks["close"]["client_cpu"] - marks["open"]["client_cpu"]
    completed = len(tally.latencies)
    errors = sum(tally.failures.values())
    return {
        "connections": connections,
        "warmup_s": warmup_s,
        "duration_s": round(measured_s, 3),
        "requests": tally.started,
        "completed": completed,
        "ok": tally.ok,
        "errors": errors,
        "failures": tally.failures,
        "failure_samples": tally.samples,
        "ok_per_s": round(tally.ok / measured_s, 1) if measured_s > 0 else 0.0,
        "requests_per_s": round(completed / measured_s, 1) if measured_s > 0 else 0.0,
        "latency": latency_summary(tally.latencies),
        "client_cpu_s": round(client_cpu, 3),
        "client_cpu_pct_of_one_core": round(100 * client_cpu / elapsed, 1) if elapsed else 0.0,
        "client_cpu_us_per_request": round(1e6 * client_cpu / completed, 1) if completed else 0.0,
        "probe_open": marks["open"]["probe"],
        "probe_close": marks["close"]["probe"],
        "window_wall_s": round(elapsed, 3),
    }


def run_load(
    *,
    host: str,
    port: int,
    build: Builder,
    classify: Classifier,
    connections: int,
    warmup_s: float,
    duration_s: float,
    max_requests: int | None = None,
    probe: Probe | None = None,
) -> dict[str, Any]:
    """Drive the server at `connections` concurrent keep-alive clients; return the numbers.

    Requests started in the `warmup_s` seconds after the start are not counted; then requests
    are counted for `duration_s` seconds, or until `max_requests` were started (sequential
    runs use one connection and a request count instead of a duration).
    """
    return asyncio.run(
        _run(
            host=host,
            port=port,
            build=build,
            classify=classify,
            connections=connections,
            warmup_s=warmup_s,
            duration_s=duration_s,
            max_requests=max_requests,
            probe=probe,
        )
    )


# --- a fixed-reply server, to measure the client's own ceiling ------------------------------
NULL_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n[SUCCESS]\n"


async def _null_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            position = lower.find(b"\r\ncontent-length:")
            if position >= 0:
                end = lower.index(b"\r\n", position + 2)
                await reader.readexactly(int(head[position + 17 : end]))
            writer.write(NULL_REPLY)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _null_server(host: str, port: int) -> None:
    server = await asyncio.start_server(_null_connection, host, port, backlog=2048)
    print(f"null server on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


# --- a CPU-speed canary ---------------------------------------------------------------------
CANARY_LOOPS = 100_000


def canary(interval_s: float) -> None:
    """Print, every `interval_s`, the CPU time (ms) a fixed pure-Python loop took.

    CPU time, not wall time: waiting for a core does not count, so the number shows how fast a
    core runs *while* the benchmark loads the machine (a virtual machine's cores slow down when
    the host is busy, which a measurement taken before the phase cannot see). It costs about
    2% of one core.
    """
    while True:
        started = time.process_time()
        total = 0
        for i in range(CANARY_LOOPS):
            total += i * i
        print(f"{(time.process_time() - started) * 1000:.3f}", flush=True)
        time.sleep(interval_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    null = sub.add_parser("null-server", help="reply [SUCCESS] to every request")
    null.add_argument("--host", default="127.0.0.1")
    null.add_argument("--port", type=int, required=True)
    speed = sub.add_parser("canary", help="print a fixed loop's CPU time, repeatedly")
    speed.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        if args.command == "canary":
            canary(args.interval)
        else:
            asyncio.run(_null_server(args.host, args.port))


if __name__ == "__main__":
    main()
