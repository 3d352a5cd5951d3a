"""The operator console: Django's admin, with its sign-in throttled like the dashboard's.

`accounts.apps.OperatorAdminConfig` replaces `django.contrib.admin` in INSTALLED_APPS, so
`admin.site` and every `@admin.register` use `OperatorAdminSite`. Its login form checks the
password through `accounts.services.operator_authenticate` (accounts/throttle.py: growing
delays per user name and client address, ceilings per user name and per address, known
addresses). A throttled attempt is answered 429 with Retry-After and the reason, like the
dashboard's sign-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from pressrun.accounts.services import operator_authenticate
from pressrun.accounts.throttle import SignInThrottled
from pressrun.core.client_address import client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class OperatorAuthenticationForm(AdminAuthenticationForm):
    """Django's admin login form, with the password checked through the throttle."""

    retry_after_seconds: int | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            address = client_address(self.request) if self.request is not None else ""
            try:
                user = operator_authenticate(
                    request=self.request,
                    username=username,
                    password=password,
                    client_address=address,
                )
            except SignInThrottled as exc:
                self.retry_after_seconds = exc.retry_after_seconds
                raise ValidationError(exc.message, code="throttled") from exc
            # Operators are Django's own User model (no AUTH_USER_MODEL of ours).
            self.user_cache = cast("User | None", user)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class OperatorAdminSite(AdminSite):
    site_header = "pressrun operations"
    site_title = "pressrun"
    login_form = OperatorAuthenticationForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response: HttpResponse = super().login(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        retry_after = getattr(context.get("form"), "retry_after_seconds", None)
        if retry_after:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response
