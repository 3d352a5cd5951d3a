"""The throttle under concurrency: N simultaneous wrong passwords against a limit L get
exactly L password checks (the attempt is reserved before the check, under a lock), and a
burst of the right password is never refused. PostgreSQL (threads with their own
connections); on SQLite the e2e tests cover the same over HTTP against the real server."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import hashers
from django.db import connection

from pressrun.accounts.models import LoginFailure
from pressrun.accounts.services import CredentialsInvalid, publisher_authenticate
from pressrun.accounts.throttle import SignInThrottled
from tests.conftest import PASSWORD
from tests.threads import run_together

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
]


class CountingCheck:
    """check_password, counting its calls across threads (and slow enough to overlap)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, password: str, encoded: str) -> bool:
        with self._lock:
            self.calls += 1
        return hashers.check_password(password, encoded)


def outcomes_together(attempts: list[Callable[[], Any]]) -> Counter[str]:
    """Start every attempt at the same moment; count the outcomes by name."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run(attempt: Callable[[], Any]) -> None:
        try:
            attempt()
            outcome = "signed in"
        except (CredentialsInvalid, SignInThrottled) as exc:
            outcome = type(exc).__name__
        with lock:
            outcomes[outcome] += 1

    assert run_together(*(partial(run, attempt) for attempt in attempts)) == []
    return outcomes


def attempt(email: str, password: str, address: str) -> Callable[[], Any]:
    return lambda: publisher_authenticate(email=email, password=password, client_address=address)


def test_concurrent_guesses_from_one_address_get_exactly_the_free_checks(
    make_publisher: Any,
) -> None:
    publisher = make_publisher()
    check = CountingCheck()
    guesses = [attempt(publisher.email, f"guess-{n}", "198.51.100.7") for n in range(24)]
    with mock.patch("pressrun.accounts.services.check_password", check):
        outcomes = outcomes_together(guesses)
    assert outcomes == Counter({"CredentialsInvalid": 5, "SignInThrottled": 19})
    assert check.calls == 5
    assert LoginFailure.objects.filter(checked=True).count() == 5
    assert not LoginFailure.objects.filter(checked=False).exists()


def test_concurrent_guesses_from_many_addresses_get_exactly_the_account_ceiling(
    make_publisher: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 10
    publisher = make_publisher()
    check = CountingCheck()
    guesses = [attempt(publisher.email, f"guess-{n}", f"10.2.0.{n}") for n in range(30)]
    with mock.patch("pressrun.accounts.services.check_password", check):
        outcomes = outcomes_together(guesses)
    assert outcomes == Counter({"CredentialsInvalid": 10, "SignInThrottled": 20})
    assert check.calls == 10
    assert LoginFailure.objects.count() == 10


def test_concurrent_guesses_for_many_accounts_get_exactly_the_address_ceiling(
    make_publisher: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    publishers = [make_publisher() for _ in range(20)]
    guesses = [attempt(p.email, "spray", "198.51.100.8") for p in publishers]
    outcomes = outcomes_together(guesses)
    assert outcomes == Counter({"CredentialsInvalid": 8, "SignInThrottled": 12})
    assert LoginFailure.objects.count() == 8


def test_a_burst_of_the_right_password_is_never_refused(make_publisher: Any) -> None:
    """A busy script whose cached credentials expired, from a new address: the identical
    attempts wait for the first one's check instead of being counted as failures."""
    publisher = make_publisher()
    outcomes = outcomes_together([attempt(publisher.email, PASSWORD, "192.0.2.20")] * 16)
    assert outcomes == Counter({"signed in": 16})
    assert not LoginFailure.objects.exists()


def test_a_burst_of_one_wrong_password_costs_one_check(make_publisher: Any) -> None:
    publisher = make_publisher()
    check = CountingCheck()
    with mock.patch("pressrun.accounts.services.check_password", check):
        outcomes = outcomes_together([attempt(publisher.email, "outdated", "192.0.2.21")] * 16)
    assert outcomes == Counter({"CredentialsInvalid": 16})
    assert check.calls == 1
    assert LoginFailure.objects.count() == 1
