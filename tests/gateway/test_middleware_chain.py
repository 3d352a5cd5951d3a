"""The gateway's two endpoints run with a shorter middleware list (settings.
GATEWAY_MIDDLEWARE_SKIPPED, pressrun.wsgi): their answers stay exactly what the full list
gives, headers included, and they are counted in the request metrics as before.

Each request is sent through the WSGI application `pressrun serve` runs and through a handler
with the full `settings.MIDDLEWARE` (what every path ran before), and the two answers are
compared whole: status, every header, body.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve

from pressrun import wsgi
from pressrun.core.handlers import MiddlewareListHandler, PathRoutedApplication, gateway_middleware
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
HTTPS = {"HTTP_X_FORWARDED_PROTO": "https"}


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """A WSGI handler closes the thread's database connection around each request when it
    is not in autocommit, as inside a test's transaction; Django's test client stops that
    the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def full() -> WSGIHandler:
    return WSGIHandler()


def environ(
    path: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    query: str = "",
    content_type: str = FORM,
    host: str = "127.0.0.1:8000",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        **extra,
    }


# What differs between any two answers, whichever the middleware: a page's CSRF token (a new
# mask each time) and a cookie's expiry time.
_VARYING = re.compile(r"[A-Za-z0-9]{64}|(?<=csrftoken=)[A-Za-z0-9]+|(?<=expires=)[^;]+")


def _steady(text: str) -> str:
    return _VARYING.sub("<varies>", text)


def call(app: Any, env: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    started: list[Any] = []
    result = app(env, lambda status, headers, exc_info=None: started.append((status, headers)))
    try:
        body = b"".join(result)
    finally:
        result.close()
    status, headers = started[0]
    steady_headers = [(name, _steady(value)) for name, value in headers]
    return status, steady_headers, _steady(body.decode("utf-8")).encode("utf-8")


def answer(app: Any, **request: Any) -> tuple[Any, list[tuple[str | None, int]]]:
    """`app`'s answer, and the (route, status) it was counted under in the request metrics."""
    path = request.pop("path")
    with mock.patch("pressrun.monitoring.middleware.record_request") as record:
        answered = call(app, environ(path, **request))
    counted = [
        (getattr(req.resolver_match, "route", None), status)
        for req, status, _seconds in (c.args for c in record.call_args_list)
    ]
    return answered, counted


def both(full: WSGIHandler, **request: Any) -> tuple[Any, Any]:
    """The answer of the served application and of the full middleware list."""
    return answer(wsgi.application, **request), answer(full, **request)


def assert_same(full: WSGIHandler, **request: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    served, reference = both(full, **request)
    assert served == reference
    return served[0]


def order_body(publisher: Any, project: Any, **overrides: str) -> bytes:
    fields = {
        "source": "cdfulfill",
        "ordermethod": "url",
        "CoLoginEmail": publisher.email,
        "CoLoginPassword": PASSWORD,
        "productid": str(project.id),
        "mode": "prod",
        "name": "John H. Smith",
        "addr": "123 Some Street",
        "city": "Minneapolis",
        "st": "MN",
        "zip": "55401",
        "country": "US",
        **overrides,
    }
    return urlencode(fields).encode()


def test_the_gateway_paths_are_the_gateway_routes_and_get_the_short_list() -> None:
    assert [resolve(path).view_name for path in wsgi.GATEWAY_PATHS] == [
        "gateway:order",
        "gateway:status",
    ]
    assert isinstance(wsgi.application, PathRoutedApplication)
    for path in wsgi.GATEWAY_PATHS:
        handler = wsgi.application.routes[path]
        assert isinstance(handler, MiddlewareListHandler)
        assert handler.middleware == tuple(gateway_middleware())
    assert isinstance(wsgi.application.default, WSGIHandler)
    assert not isinstance(wsgi.application.default, MiddlewareListHandler)


def test_the_short_list_keeps_the_full_lists_order_and_leaves_out_only_page_middleware(
    settings: Any,
) -> None:
    kept = gateway_middleware()
    assert kept == [m for m in settings.MIDDLEWARE if m in kept]
    # Every skipped name is in MIDDLEWARE: a middleware renamed there is renamed here too.
    assert set(settings.MIDDLEWARE) - set(kept) == set(settings.GATEWAY_MIDDLEWARE_SKIPPED)
    assert kept[:3] == [
        "pressrun.monitoring.middleware.RequestMetricsMiddleware",
        "pressrun.core.request_hygiene.RequestHygieneMiddleware",
        "pressrun.core.https.HttpsOnlyMiddleware",
    ]


def test_an_order_is_answered_with_the_same_headers(
    full: WSGIHandler, settings: Any, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    served, served_counted = answer(
        wsgi.application, path="/gateway/order", body=order_body(publisher, project, Invoice="A-1")
    )
    reference, reference_counted = answer(
        full, path="/gateway/order", body=order_body(publisher, project, Invoice="A-2")
    )
    # Two orders: the bodies differ in the order's number and invoice, nothing else does.
    assert served[1] == reference[1]
    assert served[2].startswith(b"[SUCCESS]")
    assert reference[2].startswith(b"[SUCCESS]")
    assert served[0] == reference[0] == "200 OK"
    assert served_counted == reference_counted == [("gateway/order", 200)]
    # What a gateway answer carries today, pinned.
    assert dict(served[1]) == {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(served[2])),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": settings.CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-store, private",
    }


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"path": "/gateway/order", "body": b"productid=1"}, id="order-failure"),
        pytest.param(
            {"path": "/gateway/order", "method": "GET", "query": "productid=1"},
            id="order-failure-get",
        ),
        pytest.param(
            {"path": "/gateway/status", "body": b"function=nope&Invoice=A1"}, id="status-failure"
        ),
        pytest.param(
            {
                "path": "/gateway/order",
                "body": b"productid=1",
                "content_type": "application/x-www-form-urlencoded; charset=rot13",
            },
            id="order-refused-charset",
        ),
        pytest.param(
            {
                "path": "/gateway/status",
                "body": b"",
                "HTTP_TRANSFER_ENCODING": "chunked",
                "wsgi.input_terminated": False,
            },
            id="status-refused-length",
        ),
        pytest.param(
            {"path": "/gateway/order", "method": "GET", "query": "productid=%80"},
            id="order-bad-query",
        ),
        pytest.param({"path": "/gateway/order", "method": "PUT"}, id="order-405"),
        pytest.param({"path": "/gateway/status", "method": "DELETE"}, id="status-405"),
        pytest.param({"path": "/gateway/order", "host": "evil.example"}, id="order-bad-host"),
        pytest.param({"path": "/gateway/order/", "body": b"x=1"}, id="404-trailing-slash"),
        pytest.param({"path": "/gateway/orders", "method": "GET"}, id="404"),
        pytest.param({"path": "/gateway", "method": "GET"}, id="404-prefix"),
    ],
)
def test_failures_refusals_and_errors_are_answered_the_same(
    full: WSGIHandler, request_: dict[str, Any]
) -> None:
    assert_same(full, **dict(request_))


def test_a_status_call_is_answered_the_same(
    full: WSGIHandler, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    call(full, environ("/gateway/order", body=order_body(publisher, project, Invoice="S-1")))
    body = urlencode(
        {
            "function": "getOrderStatusByInvoice",
            "CoLoginEmail": publisher.email,
            "CoLoginPassword": PASSWORD,
            "Invoice": "S-1[*|*]S-2",
        }
    ).encode()
    status, _, content = assert_same(full, path="/gateway/status", body=body)
    assert status == "200 OK"
    assert b"<Invoice>S-1</Invoice>" in content


@pytest.mark.parametrize("secure", [False, True], ids=["plain-http", "https"])
@pytest.mark.parametrize("path", ["/gateway/order", "/gateway/status"])
def test_https_only_answers_the_same(
    full: WSGIHandler, settings: Any, path: str, secure: bool
) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://orders.example.com"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    status, headers, _ = assert_same(full, path=path, body=b"x=1", **(HTTPS if secure else {}))
    if secure:
        assert ("Strict-Transport-Security", "max-age=31536000") in headers
    else:
        assert status == "403 Forbidden"


def test_a_fault_in_the_view_gets_the_same_500(full: WSGIHandler) -> None:
    with mock.patch("pressrun.gateway.views.read_fields", side_effect=RuntimeError("boom")):
        status, _, _ = assert_same(full, path="/gateway/status", body=b"x=1")
    assert status == "500 Internal Server Error"


def test_other_paths_run_the_full_list(full: WSGIHandler) -> None:
    status, _, _ = assert_same(full, path="/healthz", method="GET")
    assert status == "200 OK"
    # A page still gets its session and CSRF cookie from the full list.
    status, headers, _ = assert_same(full, path="/sign-in", method="GET")
    assert status == "200 OK"
    assert any(name == "Set-Cookie" and "csrftoken" in value for name, value in headers), headers
    assert ("Vary", "Cookie") in headers
