"""/healthz, /readyz and /metrics (docs/operations.md, "Monitoring").

None of them writes a row or takes a lock; the probes need no credentials, /metrics the
token of PRESSRUN_METRICS_TOKEN. All three are answered over plain HTTP too
(`core.https.MACHINE_PATH_PREFIXES`): probes and scrapers talk to the server directly.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from pressrun.monitoring.collector import DatabaseCollector
from pressrun.monitoring.readiness import readiness
from pressrun.monitoring.requests import register_request_metrics

BEARER = "bearer "


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and runs Django: nothing else is asked, the database included."""
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, else 503; the body names each check and what it found."""
    results = readiness(now=timezone.now())
    ready = all(result.ok for result in results)
    lines = ["ready" if ready else "not ready"]
    lines += [f"{r.name}: {'ok' if r.ok else 'FAILING'} ({r.detail})" for r in results]
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    if not ready:
        response.status_code = 503
        # Django logs every 5xx as an error; this one is the answer a probe asked for, and
        # its body says what is wrong, so a probe every few seconds does not fill the log.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return ""
    return header[len(BEARER) :].strip()


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for a request with `Authorization: Bearer <token>`."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

    expected = str(settings.METRICS_TOKEN)
    if not expected:
        return HttpResponse(
            "Metrics are off on this installation: set PRESSRUN_METRICS_TOKEN to turn "
            "/metrics on.\n",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    given = _bearer_token(request)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        refused = HttpResponse(
            'This needs the header "Authorization: Bearer <token>" with the token of '
            "PRESSRUN_METRICS_TOKEN.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        refused["WWW-Authenticate"] = 'Bearer realm="pressrun metrics"'
        return refused
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    register_request_metrics(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
