"""The Content Security Policy header.

Every page the service renders for publishers and customers gets the policy in
`settings.CONTENT_SECURITY_POLICY`: scripts, styles and images only from this site, no inline
script or style, no framing, forms posting only here. So even text that slipped past escaping
could not run. The Django admin is left out: a few of its widgets still use inline styles, and
it is reached only by operators.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.policy: str = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        self._admin_prefix: str | None = None

    def _is_admin(self, path: str) -> bool:
        if self._admin_prefix is None:
            self._admin_prefix = reverse("admin:index")
        return path.startswith(self._admin_prefix)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.policy and HEADER not in response and not self._is_admin(request.path):
            response[HEADER] = self.policy
        return response


def policy_with_form_redirects_to(origin: str) -> str:
    """The policy with `origin` added to form-action: for a page whose form is answered with
    a redirect to another site (Billing's "Add credit" → Stripe's payment page)."""
    directives = [part.strip() for part in settings.CONTENT_SECURITY_POLICY.split(";")]
    return "; ".join(
        f"{directive} {origin}" if directive.split(" ", 1)[0] == "form-action" else directive
        for directive in directives
        if directive
    )


class NoStoreFormResponsesMiddleware:
    """A page sent in answer to a POST (a form shown again with its errors) is marked
    `Cache-Control: no-store, private`: the browser keeps no copy of it, so Back never
    offers an old copy of a refused form to resubmit. Successes redirect (POST/redirect/GET)
    and are left alone; a response that set its own Cache-Control keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            request.method == "POST"
            and not 300 <= response.status_code < 400
            and "Cache-Control" not in response
        ):
            response["Cache-Control"] = "no-store, private"
        return response
