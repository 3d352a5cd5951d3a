"""Publisher sessions for the dashboard.

A publisher is not a Django auth user (operators are), so the dashboard keeps its own two
session keys: the publisher's id, and an HMAC of the publisher's password hash at sign-in.
Every request compares that HMAC with the current hash, so changing the password (here, by a
reset link, or by an operator) signs out every other session at once; the session that
changed it is given the new value. The session key is rotated at sign-in (no fixation) and
at sign-out.

Views get the signed-in publisher as `request.publisher` from `publisher_required`; every
query a view makes for the publisher's objects must be filtered by it (see `owned_or_404`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from pressrun.accounts.models import Publisher
from pressrun.core.errors import PageNotFound

SESSION_PUBLISHER_ID = "dashboard_publisher_id"
SESSION_PASSWORD_DIGEST = "dashboard_password_digest"  # noqa: S105 - a session key name
_DIGEST_SALT = "pressrun.dashboard.auth.session"

P = ParamSpec("P")
M = TypeVar("M", bound=Model)


class PublisherRequest(HttpRequest):
    """A request from a signed-in publisher (what `publisher_required` hands a view)."""

    publisher: Publisher


def password_digest(publisher: Publisher) -> str:
    """What the session keeps of the password hash: an HMAC, so the hash never leaves the
    database, even into the session store."""
    return salted_hmac(_DIGEST_SALT, publisher.password, algorithm="sha256").hexdigest()


def sign_in(request: HttpRequest, publisher: Publisher) -> None:
    """Start a dashboard session for `publisher` under a new session key and CSRF token."""
    request.session.cycle_key()
    request.session[SESSION_PUBLISHER_ID] = publisher.id
    request.session[SESSION_PASSWORD_DIGEST] = password_digest(publisher)
    rotate_token(request)


def refresh_after_password_change(request: HttpRequest, publisher: Publisher) -> None:
    """Keep this session signed in after its publisher changed the password (the others end)."""
    request.session.cycle_key()
    request.session[SESSION_PASSWORD_DIGEST] = password_digest(publisher)


def sign_out(request: HttpRequest) -> None:
    """End the dashboard session (an operator's admin session in the same browser is kept)."""
    request.session.pop(SESSION_PUBLISHER_ID, None)
    request.session.pop(SESSION_PASSWORD_DIGEST, None)
    request.session.cycle_key()
    rotate_token(request)


def signed_in_publisher(request: HttpRequest) -> Publisher | None:
    """The active publisher this session belongs to, or None (and the session is cleared
    when the account was deactivated or its password changed since sign-in)."""
    publisher_id = request.session.get(SESSION_PUBLISHER_ID)
    if not isinstance(publisher_id, int):
        return None
    publisher = Publisher.objects.filter(id=publisher_id, is_active=True).first()
    stored = request.session.get(SESSION_PASSWORD_DIGEST)
    if (
        publisher is None
        or not isinstance(stored, str)
        or not constant_time_compare(stored, password_digest(publisher))
    ):
        request.session.pop(SESSION_PUBLISHER_ID, None)
        request.session.pop(SESSION_PASSWORD_DIGEST, None)
        return None
    return publisher


def sign_in_url(next_path: str = "") -> str:
    url = reverse("dashboard:sign_in")
    return f"{url}?{urlencode({'next': next_path})}" if next_path else url


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """`candidate` when it is a path on this site, else the home page."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("dashboard:home")


def publisher_required(
    view: Callable[Concatenate[PublisherRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Run `view` only for a signed-in publisher, with `request.publisher` set; otherwise
    redirect to the sign-in page, which returns here afterwards (GET only: a form posted
    from an expired session is not replayed)."""

    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        publisher = signed_in_publisher(request)
        if publisher is None:
            next_path = request.get_full_path() if request.method == "GET" else ""
            if getattr(request, "htmx", False):
                # An htmx request would swap the sign-in page into a fragment: reload instead.
                response = HttpResponse(status=204)
                response["HX-Redirect"] = sign_in_url()
                return response
            return HttpResponseRedirect(sign_in_url(next_path))
        request.publisher = publisher  # type: ignore[attr-defined]
        response = view(request, *args, **kwargs)  # type: ignore[arg-type]
        # Pages show account data: never keep them in a shared or back-button cache.
        response.setdefault("Cache-Control", "no-store, private")
        return response

    functools.update_wrapper(wrapper, view)
    return wrapper


def owned_or_404(queryset: QuerySet[M], publisher: Publisher, **lookup: Any) -> M:
    """The object matching `lookup` among `publisher`'s, else 404 — another publisher's
    object is indistinguishable from one that does not exist. The not-found page says
    "There is no <kind> <id> in your account." either way."""
    found = queryset.filter(publisher=publisher).filter(**lookup).first()
    if found is None:
        kind = queryset.model._meta.verbose_name
        named = " ".join(str(value) for value in lookup.values())
        raise PageNotFound(f"There is no {kind} {named} in your account.")
    return found
