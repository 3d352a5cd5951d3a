"""The site's error pages (404, 403, 400, 500): styled, with a sentence saying what happened
and where to go, never Django's bare "Not Found" or a traceback.

A signed-in publisher gets the dashboard's look with its navigation; anyone else the plain
branded page with the sign-in link. The 500 page is rendered without the database or the
session (either may be what failed).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string

from pressrun.core.errors import PageNotFound
from pressrun.dashboard.auth import signed_in_publisher

logger = logging.getLogger(__name__)

NOT_FOUND = (
    "There is no page at this address. It may have been mistyped, or what it showed no "
    "longer exists."
)


def _page(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    try:
        publisher = signed_in_publisher(request) if hasattr(request, "session") else None
    except Exception:  # the database may be what is wrong: show the plain page
        logger.exception("error page: could not read the session's publisher")
        publisher = None
    if publisher is not None:
        request.publisher = publisher  # type: ignore[attr-defined]
    response = render(
        request,
        "dashboard/error.html",
        {"title": title, "message": message, "status": status, "section": ""},
        status=status,
    )
    # An error page must not be kept and shown again for a later, working request.
    response["Cache-Control"] = "no-store, private"
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = exception.message if isinstance(exception, PageNotFound) else NOT_FOUND
    return _page(request, status=404, title="Page not found", message=message)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request,
        status=403,
        title="Not allowed",
        message="This page or action is not open to you. Nothing was changed.",
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request,
        status=400,
        title="Bad request",
        message="The request could not be understood, so nothing was changed. Go back and "
        "try again; if it keeps happening, check the address.",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """No database, session or context processors: only the template and static files."""
    response = HttpResponseServerError(render_to_string("dashboard/error_500.html"))
    response["Cache-Control"] = "no-store, private"
    return response
