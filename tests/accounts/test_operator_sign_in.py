"""The operator console's sign-in is throttled like the dashboard's (accounts/admin_site.py)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.accounts.models import KnownSignInAddress, LoginFailure, SignInRealm

pytestmark = pytest.mark.django_db

PASSWORD = "a long operator secret"
LOGIN_URL = "/admin/login/?next=/admin/"
INVALID = "Please enter the correct username and password for a staff account."


@pytest.fixture
def operator() -> Any:
    return get_user_model().objects.create_superuser("opal", "", PASSWORD)


def sign_in(username: str, password: str, address: str = "198.51.100.70") -> Any:
    return Client(REMOTE_ADDR=address).post(
        LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}
    )


def test_wrong_passwords_are_throttled_with_429_and_retry_after(operator: Any) -> None:
    """The probe sent 100 wrong passwords and all were checked."""
    with mock.patch(
        "django.contrib.auth.backends.ModelBackend.authenticate",
        autospec=True,
        side_effect=lambda *args, **kwargs: None,
    ) as checked:
        responses = [sign_in("opal", f"guess-{n}") for n in range(100)]
    assert [r.status_code for r in responses[:6]] == [200] * 5 + [429]
    assert all(INVALID in r.content.decode() for r in responses[:5])
    throttled = responses[5]
    assert throttled["Retry-After"] == "1"
    assert (
        "Too many failed sign-in attempts for this account from your address. "
        "Try again in 1 second." in throttled.content.decode()
    )
    assert throttled["Cache-Control"].startswith("max-age=0")  # Django's never_cache
    assert "no-store" in throttled["Cache-Control"]
    # Each check is one 200; the delays double (1 s, 2 s, 4 s…), so the loop's own few
    # seconds allow a handful more, never the hundred.
    answered = [r.status_code for r in responses].count(200)
    assert checked.call_count == answered
    assert 5 <= answered <= 8
    assert [r.status_code for r in responses].count(429) == 100 - answered
    assert list(LoginFailure.objects.values_list("realm", "login").distinct()) == [
        (SignInRealm.OPERATOR, "opal")
    ]


def test_the_user_name_case_gives_no_fresh_attempts(operator: Any) -> None:
    for n, name in enumerate(["opal", "OPAL", "Opal", "oPal", "opaL"]):
        assert sign_in(name, f"guess-{n}").status_code == 200
    assert sign_in("OpAl", "guess-5").status_code == 429


def test_the_right_password_signs_in_and_makes_the_address_known(operator: Any) -> None:
    response = sign_in("opal", PASSWORD, address="203.0.113.1")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert list(KnownSignInAddress.objects.values_list("realm", "login", "client_address")) == [
        (SignInRealm.OPERATOR, "opal", "203.0.113.1")
    ]


def test_a_stranger_cannot_lock_the_operator_out(operator: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 10
    assert sign_in("opal", PASSWORD, address="203.0.113.1").status_code == 302
    for n in range(12):
        sign_in("opal", f"guess-{n}", address=f"10.3.0.{n}")
    assert sign_in("opal", PASSWORD, address="192.0.2.1").status_code == 429  # unknown
    assert sign_in("opal", PASSWORD, address="203.0.113.1").status_code == 302  # known


def test_an_unknown_user_name_is_throttled_like_a_known_one(operator: Any) -> None:
    statuses = [sign_in("nobody", f"guess-{n}").status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]
