"""Cookies follow the installation's public base URL even when it is saved, not set in the
environment: settings cannot read the database, so the secure flag is added here as the
session and CSRF cookies are set."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from pressrun.core.selectors import public_base_url


class SecureCookiesMiddleware:
    """Mark the session and CSRF cookies secure when the public base URL in use is https://.

    Does nothing when the cookies are secure already or PRESSRUN_SECURE_COOKIES decides
    explicitly; reads the base URL only for a response that sets one of these cookies.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.SESSION_COOKIE_SECURE or settings.PRESSRUN_SECURE_COOKIES_EXPLICIT:
            return response
        names = [
            name
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
            if name in response.cookies
        ]
        if names and public_base_url().lower().startswith("https://"):
            for name in names:
                response.cookies[name]["secure"] = True
        return response
