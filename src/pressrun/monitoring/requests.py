"""The per-request numbers of /metrics: requests by route, method and status, and how long
Django took to answer them.

These are counted in the process that served the request. Under `pressrun serve` there are
several such processes, so prometheus-client runs in its multiprocess mode: each process
adds to memory-mapped files in PROMETHEUS_MULTIPROC_DIR, which `serve` sets to a directory
of its own before it starts them (`core.metrics_dir`), and /metrics, in whichever process
answers, adds up the files of all of them. Without that variable (tests, one process under
another server) the numbers are this process's own.

prometheus-client chooses between the two when it is first imported, so nothing imports it
before the first request or scrape: not at import time, not in `ready()` (`serve` runs
Django's checks, which load the URLs, before it sets the variable). Only counters and
histograms are used, which in multiprocess mode keep a stopped process's counts, so a
process granian replaces needs no clean-up (`mark_process_dead` concerns gauges only).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.urls import Resolver404, resolve

from pressrun.core.metrics_dir import MULTIPROCESS_DIR_VARIABLE

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

# Seconds; from a static page to a slow report or a status call for 100 invoices.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A path that matches no URL pattern: one label for them all, so that scanners asking for
# random paths cannot grow the number of series.
UNMATCHED = "unmatched"


@dataclass(frozen=True)
class _RequestMetrics:
    requests: Counter
    latency: Histogram


_metrics: _RequestMetrics | None = None
_metrics_lock = threading.Lock()


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))


def _request_metrics() -> _RequestMetrics:
    global _metrics  # noqa: PLW0603 - one set of metrics per process, made on first use
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                from prometheus_client import Counter, Histogram

                # Registered nowhere: /metrics reads them itself (`register_request_metrics`).
                _metrics = _RequestMetrics(
                    requests=Counter(
                        "pressrun_http_requests",
                        "Requests answered, by URL route, method and status code.",
                        ["endpoint", "method", "status"],
                        registry=None,
                    ),
                    latency=Histogram(
                        "pressrun_http_request_duration_seconds",
                        "Time from the request reaching Django to its response, by URL route.",
                        ["endpoint"],
                        buckets=LATENCY_BUCKETS,
                        registry=None,
                    ),
                )
    return _metrics


def endpoint_of(request: HttpRequest) -> str:
    """The URL pattern that answered `request` (e.g. `/orders/<int:order_id>`), never the path
    itself, so the number of series stays that of the URL patterns. A request refused before
    its URL was resolved (request hygiene) is matched here."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    return "/" + str(match.route)


def record_request(request: HttpRequest, status: int, seconds: float) -> None:
    metrics = _request_metrics()
    endpoint = endpoint_of(request)
    method = request.method if request.method in METHODS else "other"
    metrics.requests.labels(endpoint, method, str(status)).inc()
    metrics.latency.labels(endpoint).observe(seconds)


def register_request_metrics(registry: CollectorRegistry) -> None:
    """Add the request metrics of every server process (multiprocess mode) or of this one."""
    if multiprocess_mode():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return
    metrics = _request_metrics()
    registry.register(metrics.requests)
    registry.register(metrics.latency)
