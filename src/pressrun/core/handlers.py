"""Django's WSGI handler with a middleware list of its own, and the WSGI application that
picks a handler by the request's path (`pressrun.wsgi`).

Why: the gateway's two endpoints are called by publishers' scripts at high rates, and carry
no cookies, session, signed-in user or HTML. Every middleware in `settings.MIDDLEWARE` costs
its call (and Django's wrapper around it) on every request, about 55 µs of the gateway's
per-request CPU in-process for the ones that only pages need. A second handler, built once
per process with `gateway_middleware()` (MIDDLEWARE less `settings.
GATEWAY_MIDDLEWARE_SKIPPED`), runs those paths; every other path runs the full list.
Both resolve URLs, render errors and send signals the same way: only the middleware differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class MiddlewareListHandler(WSGIHandler):
    """A WSGIHandler that runs `middleware` (dotted paths, outermost first) instead of
    `settings.MIDDLEWARE`.

    Django's `BaseHandler.load_middleware` reads the setting itself; this is its synchronous
    part for another list (WSGI is synchronous, and every pressrun middleware can run so):
    the same wrapping of each middleware in `convert_exception_to_response`, the same
    process_view / process_template_response / process_exception hooks, in the same order.
    """

    def __init__(self, middleware: Sequence[str]) -> None:
        self.middleware = tuple(middleware)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("MiddlewareListHandler serves WSGI only.")
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        for middleware_path in reversed(self.middleware):
            middleware = import_string(middleware_path)
            if not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"Middleware {middleware_path} cannot run under WSGI.")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {middleware_path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class PathRoutedApplication:
    """The WSGI application: requests for exactly one of `routes`' paths (`PATH_INFO`, below
    any script name) go to that path's handler, every other request to `default`.

    An exact match, so a path that only resembles a route (`/gateway/order/`, a misspelling)
    gets the full middleware and the site's 404 as before.
    """

    def __init__(self, default: WSGIApp, routes: Mapping[str, WSGIApp]) -> None:
        self.default = default
        self.routes = dict(routes)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", ""), self.default)
        return handler(environ, start_response)


def gateway_middleware() -> list[str]:
    """`settings.MIDDLEWARE` without `settings.GATEWAY_MIDDLEWARE_SKIPPED`, in its order.

    A name in the skipped list that MIDDLEWARE lacks (a settings variant without it) is
    ignored; a middleware missing from the skipped list runs on the gateway too, which costs
    its call and changes nothing."""
    skipped = frozenset(settings.GATEWAY_MIDDLEWARE_SKIPPED)
    return [path for path in settings.MIDDLEWARE if path not in skipped]
