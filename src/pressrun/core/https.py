"""HTTPS only, once the installation is published on an `https://` address.

pressrun itself speaks plain HTTP behind a TLS-terminating proxy, and knows a request came
over HTTPS only from the header that proxy sets (`PRESSRUN_PROXY_HTTPS_HEADER`, Django's
SECURE_PROXY_SSL_HEADER). So with an `https://` public base URL *and* that header:

- pages (dashboard, customer page, admin, static files) asked for over plain HTTP are
  redirected to the same URL on https (301), and every HTTPS response carries
  `Strict-Transport-Security` (`PRESSRUN_HSTS_SECONDS`), so browsers never try plain HTTP
  again;
- the machine endpoints are never redirected: a redirected POST loses its body (or is
  re-sent as a GET) in most HTTP clients, and the credentials in it have crossed the network
  in clear by then anyway. The gateway refuses plain HTTP in its own reply format (its
  caller is the publisher's own script, which sees why at once; see gateway/views.py), and
  so does the shipping stations' endpoint (`warehouses/`, Basic auth; its 403 says why); cart
  notifications are answered as usual, because refusing a cart's notification loses the
  customer's order (the cart is a third party that cannot be told to switch; the dashboard
  shows https URLs to copy into it); the probes `/health`, `/healthz` and `/readyz` stay
  reachable for load balancers, and `/metrics` for a Prometheus that scrapes the server
  directly (it needs its token, so a redirect would only lose the header).

Without the proxy header every request looks like plain HTTP, and redirecting would loop
forever: nothing is redirected or refused then, and `pressrun check` (run by `pressrun
serve`) warns. The public base URL is read here, in `published_on_https`, and nowhere else
for this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.http import HttpRequest, HttpResponseBase, HttpResponsePermanentRedirect

from pressrun.core.selectors import public_base_url

# Paths (without the leading slash) answered over plain HTTP too; see the module docstring.
MACHINE_PATH_PREFIXES = ("gateway/", "carts/", "warehouses/", "health", "readyz", "metrics")


def published_on_https() -> bool:
    """Whether the installation's public base URL (set in the environment or saved by an
    operator; `core.selectors.public_base_url`) is an https:// one."""
    return public_base_url().lower().startswith("https://")


def https_only() -> bool:
    """Whether plain HTTP is redirected (pages) or refused (gateway): behind a proxy that says
    which requests came over HTTPS, and published on https. The proxy setting is checked
    first, so an installation without one never reads the base URL per request."""
    return bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None)) and published_on_https()


def plain_http_refused(request: HttpRequest) -> bool:
    """Whether `request` came over plain HTTP where only HTTPS is accepted."""
    return https_only() and not request.is_secure()


class HttpsOnlyMiddleware:
    """Redirect plain-HTTP page requests to HTTPS and send HSTS (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not https_only():
            return self.get_response(request)
        if not request.is_secure():
            if request.path.lstrip("/").startswith(MACHINE_PATH_PREFIXES):
                return self.get_response(request)
            return HttpResponsePermanentRedirect(
                f"https://{request.get_host()}{request.get_full_path()}"
            )
        response = self.get_response(request)
        seconds = int(settings.PRESSRUN_HSTS_SECONDS)
        if seconds > 0 and "Strict-Transport-Security" not in response:
            response["Strict-Transport-Security"] = f"max-age={seconds}"
        return response


@register(Tags.security, deploy=False)
def check_https_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the installation is published on https but cannot tell HTTPS requests."""
    if published_on_https() and not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return [
            CheckWarning(
                "The public base URL is https://, but PRESSRUN_PROXY_HTTPS_HEADER is not "
                "set: requests cannot be told apart by how they arrived, so plain HTTP is "
                "neither redirected nor refused and no Strict-Transport-Security is sent.",
                hint="Set PRESSRUN_PROXY_HTTPS_HEADER to the header your TLS proxy always "
                "sets (e.g. X-Forwarded-Proto).",
                id="pressrun.W001",
            )
        ]
    return []
