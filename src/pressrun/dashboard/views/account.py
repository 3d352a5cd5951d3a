"""Signing in and out, and passwords: change while signed in, reset by an emailed link."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pressrun.accounts.services import (
    CredentialsInvalid,
    CredentialsMissing,
    PublisherInvalid,
    normalize_email,
    password_reset_request_create,
    publisher_authenticate,
    publisher_set_password,
)
from pressrun.accounts.throttle import SignInThrottled
from pressrun.core.client_address import client_address
from pressrun.dashboard import auth
from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.forms import (
    NewPasswordForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    SignInForm,
)
from pressrun.dashboard.tasks import password_reset_email_send
from pressrun.dashboard.tokens import password_reset_token_valid, publisher_for_reset

WRONG_CREDENTIALS = "The email and password do not match an account."
RESET_SENT = (
    "If an account uses that email, a link to choose a new password is on its way. "
    "It works once, for {minutes} minutes."
)


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    """`/`: the home page when signed in, else the sign-in page."""
    if auth.signed_in_publisher(request) is not None:
        return HttpResponseRedirect(reverse("dashboard:home"))
    return HttpResponseRedirect(reverse("dashboard:sign_in"))


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Never keep the page in a browser's or a proxy's cache: it holds a sign-in or reset
    form (and the reset page's URL is the secret link itself)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store, private"
        return response

    return wrapper


@no_store
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_path = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "GET" and auth.signed_in_publisher(request) is not None:
        return HttpResponseRedirect(auth.safe_next(request, next_path))
    form = SignInForm(request.POST if request.method == "POST" else None)
    status = 200
    retry_after = 0
    if request.method == "POST" and form.is_valid():
        try:
            publisher = publisher_authenticate(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                client_address=client_address(request),
            )
        except SignInThrottled as exc:
            form.add_error(None, exc.message)
            status = 429
            retry_after = exc.retry_after_seconds
        except (CredentialsInvalid, CredentialsMissing):
            form.add_error(None, WRONG_CREDENTIALS)
        else:
            auth.sign_in(request, publisher)
            return HttpResponseRedirect(auth.safe_next(request, next_path))
    response = render(
        request,
        "dashboard/sign_in.html",
        {"form": form, "next": next_path, "section": "sign_in"},
        status=status,
    )
    if status == 429:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    auth.sign_out(request)
    messages.info(request, "You are signed out.")
    return HttpResponseRedirect(reverse("dashboard:sign_in"))


@publisher_required
@require_http_methods(["GET", "POST"])
def password_change(request: PublisherRequest) -> HttpResponse:
    """Change the password; every other session of the account is signed out by it."""
    publisher = request.publisher
    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    status = 200
    retry_after = 0
    if request.method == "POST" and form.is_valid():
        try:
            publisher_authenticate(
                email=publisher.email,
                password=form.cleaned_data["current_password"],
                client_address=client_address(request),
            )
            publisher_set_password(publisher=publisher, password=form.cleaned_data["new_password"])
        except SignInThrottled as exc:
            form.add_error("current_password", exc.message)
            status = 429
            retry_after = exc.retry_after_seconds
        except (CredentialsInvalid, CredentialsMissing):
            form.add_error("current_password", "This is not your current password.")
        except PublisherInvalid as exc:
            form.add_error("new_password", exc.message)
        else:
            auth.refresh_after_password_change(request, publisher)
            messages.success(
                request, "Your password is changed. Other browsers signed in to it are signed out."
            )
            return HttpResponseRedirect(reverse("dashboard:settings"))
    response = render(
        request,
        "dashboard/password_change.html",
        {"form": form, "section": "settings"},
        status=status,
    )
    if status == 429:
        response["Retry-After"] = str(retry_after)
    return response


@no_store
@require_http_methods(["GET", "POST"])
def password_reset_request(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link. The answer, and the work done for it, is the same whether or
    not the account exists: the request is counted against the per-hour limits, and a task
    is queued that looks the email up and sends a link only if it has an account."""
    form = PasswordResetRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = normalize_email(form.cleaned_data["email"])
        # The request is counted and its task queued together, or neither.
        with transaction.atomic():
            if password_reset_request_create(email=email, client_address=client_address(request)):
                password_reset_email_send.enqueue(email=email)
        messages.success(request, RESET_SENT.format(minutes=settings.PASSWORD_RESET_TIMEOUT // 60))
        return HttpResponseRedirect(reverse("dashboard:sign_in"))
    return render(request, "dashboard/password_reset_request.html", {"form": form})


@no_store
@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, encoded_id: str, token: str) -> HttpResponse:
    """Choose a new password from an emailed link (valid once, for a limited time)."""
    publisher = publisher_for_reset(encoded_id)
    if publisher is None or not password_reset_token_valid(publisher, token):
        return render(request, "dashboard/password_reset_invalid.html", status=400)
    form = NewPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            publisher_set_password(publisher=publisher, password=form.cleaned_data["new_password"])
        except PublisherInvalid as exc:
            form.add_error("new_password", exc.message)
        else:
            auth.sign_out(request)
            messages.success(request, "Your password is changed. Sign in with the new one.")
            return HttpResponseRedirect(reverse("dashboard:sign_in"))
    return render(
        request, "dashboard/password_reset_confirm.html", {"form": form, "publisher": publisher}
    )
