"""The operator pages' frame: who may see them and the navigation they share.

Operators are Django staff users (they sign in on the operator console's login page, which is
throttled: accounts/admin_site.py). The floor, shipping and warehouse pages are plain views in
their own apps, with the dashboard's look: they extend `operator/base.html`, are wrapped in
`operator_required`, and register their entry in the bar from their app's `ready()` with
`register_operator_page` — core imports no app, so the apps come to it. Each app mounts its
URLs below `/operator/` (pressrun/urls.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from pressrun.core.errors import PageNotFound

P = ParamSpec("P")


@dataclass(frozen=True)
class OperatorPage:
    label: str
    url_name: str
    section: str
    order: int


_PAGES: dict[str, OperatorPage] = {}


def register_operator_page(*, label: str, url_name: str, section: str, order: int) -> None:
    """Add a page to the operator bar (lowest `order` first). Registering the same section
    again replaces it, so an app's `ready()` may run twice (tests) without doubling it."""
    _PAGES[section] = OperatorPage(label=label, url_name=url_name, section=section, order=order)


def operator_pages() -> list[OperatorPage]:
    return sorted(_PAGES.values(), key=lambda page: (page.order, page.label))


def operator_required(
    view: Callable[Concatenate[HttpRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Only active staff users: anyone else signed out is sent to the operator sign-in and
    back; a signed-in user who is not staff gets a 404, as for any page they may not see
    (nothing tells them the page exists)."""

    def wrapped(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (user.is_active and user.is_staff):
            raise PageNotFound("This page is for pressrun's operators.")
        response = view(request, *args, **kwargs)
        # Pages show customers' addresses: never keep them in a shared or back-button cache.
        response.setdefault("Cache-Control", "no-store, private")
        return response

    functools.update_wrapper(wrapped, view)
    return wrapped


def operator_actor(user: AbstractBaseUser | AnonymousUser) -> str:
    """How an order's history names an operator acting in these pages: "operator:<username>"
    (the `actor` every service called from an operator page is given)."""
    return f"operator:{user.get_username()}"


def operator_nav_items(section: str | None) -> list[dict[str, Any]]:
    return [
        {"label": page.label, "url": reverse(page.url_name), "current": page.section == section}
        for page in operator_pages()
    ]


@operator_required
def operator_home(request: HttpRequest) -> HttpResponse:
    """`/operator/`: the first page of the bar (the floor's queue, in a full installation)."""
    pages = operator_pages()
    if not pages:
        raise PageNotFound("No operator pages are installed.")
    return HttpResponseRedirect(reverse(pages[0].url_name))
