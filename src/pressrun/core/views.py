"""Pages shared by the whole site."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form (missing or stale CSRF token, or sent from another site), in plain words.

    Django's own page carries an inline style, which the site's Content Security Policy
    blocks, and speaks to developers; this one tells the person what to do.
    """
    return render(request, "core/csrf_failure.html", status=403)
