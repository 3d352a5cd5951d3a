"""Counts and times every request (monitoring/requests.py); answers the probes and the
scrape before the host check."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from pressrun.monitoring import views
from pressrun.monitoring.requests import record_request


class RequestMetricsMiddleware:
    """The first middleware: it sees every request, those the others refuse included, and
    times everything Django does for it. It reads the path and the resolved URL pattern only,
    never the request's data. A streamed response is timed until Django hands it over,
    before its body is produced."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        record_request(request, response.status_code, time.perf_counter() - started)
        return response


class MonitoringEndpointsMiddleware:
    """Answers /healthz, /health, /readyz and /metrics itself, before Django's host check
    (CommonMiddleware) and the session, CSRF and page middleware behind it.

    Probes and scrapers address a server by its own address (`10.0.0.5:8000`, a container's
    name), which is rarely in PRESSRUN_ALLOWED_HOSTS: Django would answer them 400. The host
    check protects URLs built from the Host header, and these answers contain none. Placed
    after request hygiene and the HTTPS middleware, which these paths pass through like any
    other machine endpoint. The URL patterns stay (monitoring/urls.py): they name the routes
    the request metrics are counted under."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.views: dict[str, Callable[[HttpRequest], HttpResponseBase]] = {
            "/healthz": views.healthz,
            "/health": views.healthz,
            "/readyz": views.readyz,
            "/metrics": views.metrics,
        }

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        view = self.views.get(request.path_info)
        if view is None or getattr(request, "request_refusal", None) is not None:
            # A request that request hygiene refused is answered by it, in the site's way,
            # as on every other path (core/request_hygiene.py).
            return self.get_response(request)
        return view(request)
