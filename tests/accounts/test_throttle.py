"""Sign-in throttling (accounts/throttle.py): per account and address with growing delays,
known addresses, ceilings, repeated wrong passwords, and what a cached check costs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import hashers
from django.core.cache import caches
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pressrun.accounts.models import (
    MAX_KNOWN_ADDRESSES,
    KnownSignInAddress,
    LoginFailure,
    SignInRealm,
)
from pressrun.accounts.services import (
    CredentialsInvalid,
    publisher_authenticate,
    publisher_set_password,
)
from pressrun.accounts.throttle import SignInThrottled
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

HOME = "203.0.113.5"  # where the publisher's own script runs
ATTACKER = "198.51.100.66"


def authenticate(publisher: Any, password: str = PASSWORD, address: str = HOME) -> Any:
    return publisher_authenticate(email=publisher.email, password=password, client_address=address)


def wrong(publisher: Any, guess: str, address: str = ATTACKER) -> Exception:
    """Try a wrong password; the refusal (CredentialsInvalid or SignInThrottled)."""
    with pytest.raises((CredentialsInvalid, SignInThrottled)) as refused:
        authenticate(publisher, guess, address)
    return refused.value


def forget_cached_credentials() -> None:
    """As after the credential cache expired, or in another web process."""
    caches["credentials"].clear()


def time_passes(seconds: float) -> None:
    """Move every recorded failure `seconds` into the past."""
    LoginFailure.objects.update(at=F("at") - timedelta(seconds=seconds))


def test_a_stranger_guessing_cannot_lock_the_publisher_out(make_publisher: Any) -> None:
    """The issue's attack: wrong passwords for a known login email. The attacker's own
    address is slowed down; the publisher, at home or anywhere else, is not."""
    publisher = make_publisher()
    refusals = [wrong(publisher, f"guess-{n}") for n in range(12)]
    assert [type(r).__name__ for r in refusals] == ["CredentialsInvalid"] * 5 + [
        "SignInThrottled"
    ] * 7
    assert LoginFailure.objects.filter(checked=True).count() == 5
    forget_cached_credentials()
    assert authenticate(publisher, address=HOME).id == publisher.id
    assert authenticate(publisher, address="192.0.2.44").id == publisher.id  # a new address


def test_growing_delays_for_one_account_from_one_address(make_publisher: Any) -> None:
    publisher = make_publisher()
    for n in range(5):
        assert isinstance(wrong(publisher, f"guess-{n}"), CredentialsInvalid)
    waits = []
    for n in range(5, 10):
        throttled = wrong(publisher, f"guess-{n}")
        assert isinstance(throttled, SignInThrottled)
        waits.append(throttled.retry_after_seconds)
        time_passes(throttled.retry_after_seconds - 0.5)
        assert isinstance(wrong(publisher, f"guess-{n}"), SignInThrottled)  # not yet
        time_passes(0.6)
        assert isinstance(wrong(publisher, f"guess-{n}"), CredentialsInvalid)
    assert waits == [1, 2, 4, 8, 16]
    throttled = wrong(publisher, "guess-10")
    assert isinstance(throttled, SignInThrottled)
    assert throttled.message == (
        "Too many failed sign-in attempts for this account from your address. "
        "Try again in 32 seconds."
    )
    # Every failure was checked once; no throttled attempt was recorded.
    assert LoginFailure.objects.count() == 10


def test_the_delay_stops_growing_at_the_window(make_publisher: Any, settings: Any) -> None:
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 100
    publisher = make_publisher()
    now = timezone.now()
    LoginFailure.objects.bulk_create(
        LoginFailure(
            realm=SignInRealm.PUBLISHER,
            login=publisher.email,
            client_address=ATTACKER,
            at=now - timedelta(seconds=1),
            password_digest=f"{n:064x}",
        )
        for n in range(20)
    )
    throttled = wrong(publisher, "one more")
    assert isinstance(throttled, SignInThrottled)
    assert throttled.retry_after_seconds == 99
    assert throttled.message.endswith("Try again in 2 minutes.")


def test_a_throttled_attempt_is_neither_checked_nor_recorded(make_publisher: Any) -> None:
    publisher = make_publisher()
    for n in range(5):
        wrong(publisher, f"guess-{n}")
    with mock.patch(
        "pressrun.accounts.services.check_password", wraps=hashers.check_password
    ) as check:
        assert isinstance(wrong(publisher, PASSWORD), SignInThrottled)  # even the right one
    assert check.call_count == 0
    assert LoginFailure.objects.count() == 5


def test_a_success_clears_the_address_failures(make_publisher: Any) -> None:
    publisher = make_publisher()
    for n in range(4):
        wrong(publisher, f"typo-{n}", address=HOME)
    assert authenticate(publisher, address=HOME).id == publisher.id
    assert not LoginFailure.objects.exists()
    forget_cached_credentials()
    for n in range(5):  # five free failures again
        assert isinstance(wrong(publisher, f"again-{n}", address=HOME), CredentialsInvalid)


def test_the_same_wrong_password_again_is_refused_without_counting(make_publisher: Any) -> None:
    """A script still sending an outdated password uses up nothing, costs no hashing, and
    works the moment it is given the right password."""
    publisher = make_publisher()
    with mock.patch(
        "pressrun.accounts.services.check_password", wraps=hashers.check_password
    ) as check:
        for _ in range(30):
            assert isinstance(wrong(publisher, "last year's password", HOME), CredentialsInvalid)
    assert check.call_count == 1
    assert LoginFailure.objects.count() == 1
    assert authenticate(publisher, address=HOME).id == publisher.id


def test_a_password_that_was_wrong_is_checked_again_once_it_is_the_password(
    make_publisher: Any,
) -> None:
    publisher = make_publisher()
    wrong(publisher, "the new password", HOME)
    publisher_set_password(publisher=publisher, password="the new password")
    assert authenticate(publisher, "the new password", HOME).id == publisher.id


def test_the_account_ceiling_refuses_new_addresses_but_never_a_known_one(
    make_publisher: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 20
    publisher = make_publisher()
    authenticate(publisher, address=HOME)  # the publisher's script signed in from home
    forget_cached_credentials()
    # A botnet: one guess from each of many addresses.
    refusals = [wrong(publisher, f"guess-{n}", f"10.1.{n // 200}.{n % 200}") for n in range(25)]
    assert [type(r).__name__ for r in refusals] == ["CredentialsInvalid"] * 20 + [
        "SignInThrottled"
    ] * 5
    assert refusals[-1].message == (
        "Too many failed sign-in attempts for this account. Try again in 15 minutes."
    )
    with pytest.raises(SignInThrottled):
        authenticate(publisher, address="192.0.2.44")  # right password, unknown address
    assert authenticate(publisher, address=HOME).id == publisher.id  # known: never refused
    assert LoginFailure.objects.filter(login=publisher.email).count() == 20


def test_the_address_ceiling_spans_accounts_but_spares_known_addresses(
    make_publisher: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    publishers = [make_publisher() for _ in range(6)]
    authenticate(publishers[5], address=ATTACKER)  # e.g. an office behind one address
    forget_cached_credentials()
    for publisher in publishers[:4]:
        assert isinstance(wrong(publisher, "spray"), CredentialsInvalid)
    throttled = wrong(publishers[4], "spray")
    assert isinstance(throttled, SignInThrottled)
    assert "from your address" in throttled.message
    assert authenticate(publishers[5], address=ATTACKER).id == publishers[5].id


def test_a_known_address_is_slowed_down_only_by_its_own_wrong_passwords(
    make_publisher: Any,
) -> None:
    publisher = make_publisher()
    authenticate(publisher, address=HOME)
    forget_cached_credentials()
    for n in range(5):
        assert isinstance(wrong(publisher, f"guess-{n}", HOME), CredentialsInvalid)
    assert isinstance(wrong(publisher, "guess-5", HOME), SignInThrottled)
    assert authenticate(publisher, address="192.0.2.44").id == publisher.id


def test_known_addresses_are_remembered_bounded_and_forgotten(
    make_publisher: Any, settings: Any
) -> None:
    publisher = make_publisher()
    for n in range(MAX_KNOWN_ADDRESSES + 5):
        KnownSignInAddress.objects.filter(login=publisher.email).update(
            last_seen=F("last_seen") - timedelta(minutes=1)
        )
        forget_cached_credentials()
        authenticate(publisher, address=f"192.0.2.{n}")
    kept = set(KnownSignInAddress.objects.values_list("client_address", flat=True))
    assert kept == {f"192.0.2.{n}" for n in range(5, MAX_KNOWN_ADDRESSES + 5)}

    # Known addresses expire: an address unused for KNOWN_ADDRESS_DAYS is unknown again.
    settings.LOGIN_FAILURES_PER_ACCOUNT = 1
    wrong(publisher, "guess", ATTACKER)
    forget_cached_credentials()
    KnownSignInAddress.objects.filter(client_address="192.0.2.9").update(
        last_seen=timezone.now() - timedelta(days=settings.KNOWN_ADDRESS_DAYS, minutes=1)
    )
    with pytest.raises(SignInThrottled):
        authenticate(publisher, address="192.0.2.9")
    assert authenticate(publisher, address="192.0.2.10").id == publisher.id


def test_ipv6_clients_count_by_their_64_network(make_publisher: Any) -> None:
    publisher = make_publisher()
    for n in range(5):
        wrong(publisher, f"guess-{n}", f"2001:db8:1:2::{n + 1:x}")
    throttled = wrong(publisher, "guess-5", "2001:db8:1:2:ffff::1")
    assert isinstance(throttled, SignInThrottled)
    assert set(LoginFailure.objects.values_list("client_address", flat=True)) == {
        "2001:db8:1:2::/64"
    }
    assert isinstance(wrong(publisher, "guess-5", "2001:db8:1:3::1"), CredentialsInvalid)


def test_unknown_emails_are_throttled_like_accounts(make_publisher: Any) -> None:
    class Nobody:
        email = "nobody@example.com"

    refusals = [wrong(Nobody, f"guess-{n}") for n in range(6)]
    assert [type(r).__name__ for r in refusals] == ["CredentialsInvalid"] * 5 + ["SignInThrottled"]


def test_a_cached_check_from_a_known_address_is_one_read(make_publisher: Any) -> None:
    """The hot path of a busy order script: no write, no throttle, one indexed read."""
    publisher = make_publisher()
    authenticate(publisher, address=HOME)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert authenticate(publisher, address=HOME).id == publisher.id
    assert len(queries) == 3
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries)


def test_a_cached_check_from_a_new_address_makes_it_known_once(make_publisher: Any) -> None:
    publisher = make_publisher()
    authenticate(publisher, address=HOME)
    with CaptureQueriesContext(connection) as queries:
        authenticate(publisher, address="192.0.2.80")
    assert any(query["sql"].lstrip().upper().startswith("INSERT") for query in queries)
    with CaptureQueriesContext(connection) as queries:
        authenticate(publisher, address="192.0.2.80")
    assert len(queries) == 1
    assert set(KnownSignInAddress.objects.values_list("client_address", flat=True)) == {
        HOME,
        "192.0.2.80",
    }


def test_a_fault_during_the_check_does_not_count_as_a_failure(make_publisher: Any) -> None:
    publisher = make_publisher()
    with (
        mock.patch(
            "pressrun.accounts.services.check_password", side_effect=RuntimeError("hasher broke")
        ),
        pytest.raises(RuntimeError),
    ):
        authenticate(publisher, address=HOME)
    assert not LoginFailure.objects.exists()
