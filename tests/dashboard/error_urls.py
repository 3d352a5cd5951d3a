"""A URL configuration for the error-page tests: the site's own, plus views that fail."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path

from pressrun.urls import handler400, handler403, handler404, handler500, urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug with a secret-looking detail: SECRET-DETAIL")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("operators only")


urlpatterns = [path("test-boom", boom), path("test-forbidden", forbidden), *urlpatterns]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
