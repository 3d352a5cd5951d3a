"""The gateway credential check: hashing once, the keyed cache, invalidation, throttling."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import hashers

from pressrun.accounts.models import LoginFailure
from pressrun.accounts.services import (
    CredentialsInvalid,
    CredentialsMissing,
    publisher_authenticate,
    publisher_set_password,
)
from pressrun.accounts.throttle import SignInThrottled
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def authenticate(publisher: Any, password: str = PASSWORD, address: str = "10.0.0.1") -> Any:
    return publisher_authenticate(email=publisher.email, password=password, client_address=address)


def test_password_is_stored_hashed(make_publisher: Any) -> None:
    publisher = make_publisher()
    assert PASSWORD not in publisher.password
    assert hashers.check_password(PASSWORD, publisher.password)


def test_full_hash_only_on_first_use(make_publisher: Any) -> None:
    publisher = make_publisher()
    with mock.patch(
        "pressrun.accounts.services.check_password", wraps=hashers.check_password
    ) as check:
        for _ in range(5):
            assert authenticate(publisher).id == publisher.id
    assert check.call_count == 1


def test_email_is_matched_case_insensitively(make_publisher: Any) -> None:
    publisher = make_publisher(email="Label@Example.com")
    found = publisher_authenticate(
        email="  LABEL@example.COM ", password=PASSWORD, client_address="1.2.3.4"
    )
    assert found.id == publisher.id


def test_password_change_invalidates_cached_credentials_at_once(make_publisher: Any) -> None:
    publisher = make_publisher()
    authenticate(publisher)  # cached now
    publisher_set_password(publisher=publisher, password="a brand new password")
    with pytest.raises(CredentialsInvalid):
        authenticate(publisher)
    assert authenticate(publisher, "a brand new password").id == publisher.id


def test_deactivated_account_is_refused_even_when_cached(make_publisher: Any) -> None:
    publisher = make_publisher()
    authenticate(publisher)
    publisher.is_active = False
    publisher.save()
    with pytest.raises(CredentialsInvalid):
        authenticate(publisher)


def test_wrong_password_is_never_cached(make_publisher: Any) -> None:
    publisher = make_publisher()
    with mock.patch(
        "pressrun.accounts.services.check_password", wraps=hashers.check_password
    ) as check:
        for n in range(3):
            with pytest.raises(CredentialsInvalid):
                authenticate(publisher, f"wrong password {n}")
    assert check.call_count == 3
    assert LoginFailure.objects.count() == 3


@pytest.mark.parametrize(("email", "password"), [("", PASSWORD), ("a@b.com", ""), ("", "")])
def test_missing_credentials(email: str, password: str) -> None:
    with pytest.raises(CredentialsMissing):
        publisher_authenticate(email=email, password=password, client_address="1.1.1.1")


def test_unknown_email_is_the_same_refusal_as_a_wrong_password(make_publisher: Any) -> None:
    publisher = make_publisher()
    with pytest.raises(CredentialsInvalid) as unknown:
        publisher_authenticate(
            email="nobody@example.com", password=PASSWORD, client_address="1.1.1.1"
        )
    with pytest.raises(CredentialsInvalid) as wrong:
        authenticate(publisher, "wrong password")
    assert unknown.value.message == wrong.value.message


def test_throttled_per_account_after_limit(make_publisher: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    publisher = make_publisher()
    for n in range(3):
        with pytest.raises(CredentialsInvalid):
            authenticate(publisher, "wrong", address=f"10.0.0.{n}")
    with pytest.raises(SignInThrottled) as throttled:
        authenticate(publisher, address="10.9.9.9")  # even the right password, from elsewhere
    assert "Too many failed sign-in attempts for this account" in throttled.value.message
    assert throttled.value.retry_after_seconds > 0
    assert LoginFailure.objects.count() == 3  # a throttled attempt is not even checked


def test_recently_verified_credentials_keep_working_during_a_lockout(
    make_publisher: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    publisher = make_publisher()
    authenticate(publisher)  # the publisher's own script, verified and cached
    for _ in range(5):
        with pytest.raises((CredentialsInvalid, SignInThrottled)):
            authenticate(publisher, "attacker guess", address="203.0.113.9")
    assert authenticate(publisher).id == publisher.id


def test_throttled_per_client_address(make_publisher: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    publishers = [make_publisher() for _ in range(5)]
    for publisher in publishers[:4]:
        with pytest.raises(CredentialsInvalid):
            authenticate(publisher, "wrong", address="198.51.100.7")
    with pytest.raises(SignInThrottled) as throttled:
        authenticate(publishers[4], address="198.51.100.7")
    assert "your address" in throttled.value.message
    assert authenticate(publishers[4], address="198.51.100.8").id == publishers[4].id


def test_throttle_window_passes(make_publisher: Any, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    publisher = make_publisher()
    for _ in range(2):
        with pytest.raises(CredentialsInvalid):
            authenticate(publisher, "wrong")
    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=901))
    assert authenticate(publisher).id == publisher.id
