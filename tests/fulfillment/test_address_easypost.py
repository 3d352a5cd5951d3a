"""The EasyPost adapter against a local emulator speaking EasyPost's JSON
(tests/fulfillment/easypost_emulator.py): what is sent, how each answer is read, timeouts,
retries, and the fallback to the offline check when EasyPost cannot answer."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.fulfillment.address.easypost import EasyPostClient, EasyPostVerifier
from pressrun.fulfillment.address.verifiers import AddressToCheck
from tests.fulfillment.easypost_emulator import API_KEY, EasyPostEmulator, running

GOOD = AddressToCheck(
    name="Ann Buyer",
    company="",
    address="1 Main St",
    city="Austin",
    state="TX",
    postal_code="78701",
    country="US",
)


@pytest.fixture
def emulator() -> Iterator[EasyPostEmulator]:
    with running(EasyPostEmulator(slow_seconds=1.0)) as server:
        yield server


def verifier(
    emulator: EasyPostEmulator, *, key: str = API_KEY, attempts: int = 3, timeout: float = 0.3
) -> tuple[EasyPostVerifier, list[float]]:
    waits: list[float] = []
    client = EasyPostClient(
        api_key=key,
        base_url=emulator.url,
        timeout=timeout,
        attempts=attempts,
        retry_seconds=0.5,
        sleep=waits.append,
    )
    return EasyPostVerifier(client), waits


def test_a_deliverable_address_passes_with_easypost_s_spelling_as_suggestion(
    emulator: EasyPostEmulator,
) -> None:
    check, waits = verifier(emulator)
    result = check.verify(GOOD)
    assert (result.ok, result.verifier, result.description) == (True, "easypost", "")
    assert result.note == "EasyPost verified the address."
    assert not result.fell_back
    assert result.suggestion == AddressToCheck(
        name="Ann Buyer",
        company="",
        address="1 MAIN ST",
        city="AUSTIN",
        state="TX",
        postal_code="78701-0001",
        country="US",
    )
    assert waits == []
    [request] = emulator.requests
    assert request["path"] == "/v2/addresses"
    assert request["content_type"] == "application/json"
    assert request["authorization"] == "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert request["body"] == {
        "address": {
            "name": "Ann Buyer",
            "company": "",
            "street1": "1 Main St",
            "street2": "",
            "city": "Austin",
            "state": "TX",
            "zip": "78701",
            "country": "US",
        },
        "verify": True,
    }


def test_an_address_easypost_cannot_find_is_a_problem_in_its_words(
    emulator: EasyPostEmulator,
) -> None:
    check, _ = verifier(emulator)
    result = check.verify(
        AddressToCheck("Ann Buyer", "", "99 Nowhere Rd", "Austin", "TX", "78701", "US")
    )
    assert (result.ok, result.verifier) == (False, "easypost")
    assert result.description == (
        "The carrier's address check did not find this address: Address not found."
    )
    assert result.note == "EasyPost: E.ADDRESS.NOT_FOUND"
    assert len(emulator.requests) == 1


def test_several_errors_are_all_described(emulator: EasyPostEmulator) -> None:
    check, _ = verifier(emulator)
    result = check.verify(
        AddressToCheck("Ann Buyer", "", "PO Box 1", "Austin", "TX", "75999", "US")
    )
    assert result.description == (
        "The carrier's address check did not find this address: Address not found. "
        "House number is missing."
    )
    assert result.note == "EasyPost: E.ADDRESS.NOT_FOUND, E.HOUSE_NUMBER.MISSING"


def test_verify_strict_s_422_is_read_as_a_problem_too(emulator: EasyPostEmulator) -> None:
    client = EasyPostClient(api_key=API_KEY, base_url=emulator.url, timeout=1, attempts=1)
    # The adapter sends `verify`; a strict caller's 422 reply must read the same.
    reply = client._error_reply(
        422,
        {
            "error": {
                "code": "ADDRESS.VERIFY.FAILURE",
                "message": "Unable to verify address.",
                "errors": [
                    {
                        "code": "E.ADDRESS.NOT_FOUND",
                        "field": "address",
                        "message": "Address not found",
                        "suggestion": None,
                    }
                ],
            }
        },
    )
    assert (reply.success, reply.errors) == (
        False,
        (("E.ADDRESS.NOT_FOUND", "address", "Address not found"),),
    )


def test_the_offline_checks_run_first_and_spare_the_api(emulator: EasyPostEmulator) -> None:
    check, _ = verifier(emulator)
    result = check.verify(
        AddressToCheck("Ann Buyer", "", "1 Main St", "Austin", "TX", "7870", "US")
    )
    assert (result.ok, result.verifier) == (False, "offline")
    assert result.description.startswith("ZIP code '7870' is not a valid US ZIP code")
    assert emulator.requests == []


def test_a_country_easypost_cannot_check_falls_back_to_the_offline_check(
    emulator: EasyPostEmulator,
) -> None:
    check, _ = verifier(emulator)
    result = check.verify(
        AddressToCheck("Max", "", "Unter den Linden 1", "Berlin", "", "10117", "DE")
    )
    assert (result.ok, result.verifier, result.fell_back) == (True, "offline", True)
    assert result.note == (
        "EasyPost could not answer (EasyPost could not check this address "
        "(E.COUNTRY.UNSUPPORTED)); the offline check decided."
    )
    assert len(emulator.requests) == 1  # not retried: asking again brings the same


@pytest.mark.parametrize("fault", ["500", "503", "429", "html", "garbage", "reset"])
def test_a_transient_failure_then_200_passes(emulator: EasyPostEmulator, fault: str) -> None:
    check, waits = verifier(emulator)
    emulator.fail_next(fault)
    result = check.verify(GOOD)
    assert (result.ok, result.verifier, result.fell_back) == (True, "easypost", False)
    assert len(emulator.requests) == 2
    assert waits == [0.5]


def test_a_timeout_then_200_passes(emulator: EasyPostEmulator) -> None:
    check, waits = verifier(emulator, timeout=0.3)
    emulator.fail_next("timeout", "500")
    started = time.monotonic()
    result = check.verify(GOOD)
    assert (result.ok, result.verifier) == (True, "easypost")
    assert waits == [0.5, 1.0]  # backoff doubles between attempts
    assert len(emulator.requests) == 3
    assert time.monotonic() - started < 1.0  # the slow reply was not waited for


def test_easypost_down_after_every_attempt_falls_back_and_says_so(
    emulator: EasyPostEmulator,
) -> None:
    check, waits = verifier(emulator, attempts=3)
    emulator.fail_next("500", "timeout", "503")
    result = check.verify(GOOD)
    assert (result.ok, result.verifier, result.fell_back) == (True, "offline", True)
    assert result.note == (
        "EasyPost could not answer (EasyPost answered HTTP 503 (3 attempts)); "
        "the offline check decided."
    )
    assert waits == [0.5, 1.0]
    assert len(emulator.requests) == 3


def test_easypost_down_never_passes_an_address_the_offline_check_refuses(
    emulator: EasyPostEmulator,
) -> None:
    check, _ = verifier(emulator)
    result = check.verify(AddressToCheck("Ann", "", "1 Main St", "Austin", "MN", "78701", "US"))
    assert (result.ok, result.verifier) == (False, "offline")


def test_nothing_listening_falls_back() -> None:
    with running() as server:
        url = server.url
    client = EasyPostClient(
        api_key=API_KEY, base_url=url, timeout=0.3, attempts=2, sleep=lambda s: None
    )
    result = EasyPostVerifier(client).verify(GOOD)
    assert (result.ok, result.fell_back) == (True, True)
    assert result.note.startswith("EasyPost could not answer (EasyPost could not be reached (")
    assert result.note.endswith("(2 attempts)); the offline check decided.")


@pytest.mark.parametrize(
    ("key", "note"),
    [
        (
            "EZTKwrong",
            "EasyPost could not answer (EasyPost answered HTTP 401 APIKEY.INACTIVE: This API "
            "key is no longer active.); the offline check decided.",
        ),
    ],
)
def test_a_refused_key_is_not_retried_and_falls_back(
    emulator: EasyPostEmulator, key: str, note: str
) -> None:
    check, waits = verifier(emulator, key=key)
    result = check.verify(GOOD)
    assert (result.ok, result.fell_back, result.note) == (True, True, note)
    assert len(emulator.requests) == 1
    assert waits == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    street=st.text(max_size=60),
    city=st.text(max_size=40),
    zip_code=st.text(max_size=12),
    country=st.sampled_from(["US", "CA", "DE", "ZZ", ""]),
)
def test_fuzz_the_easypost_verifier_never_raises(
    emulator: EasyPostEmulator, street: str, city: str, zip_code: str, country: str
) -> None:
    check, _ = verifier(emulator, attempts=1)
    result = check.verify(AddressToCheck("Ann", "", street, city, "TX", zip_code, country))
    assert result.verifier in ("easypost", "offline")
    assert result.ok == (result.description == "")
    assert len(result.description) <= 500


def test_settings_build_the_client(settings: Any) -> None:
    settings.EASYPOST_API_KEY = " EZTK1 "
    settings.EASYPOST_API_URL = "https://easypost.example/"
    settings.ADDRESS_API_TIMEOUT_SECONDS = 4
    settings.ADDRESS_API_ATTEMPTS = 5
    settings.ADDRESS_API_RETRY_SECONDS = 2
    client = EasyPostVerifier.from_settings().client
    assert (client.api_key, client.base_url, client.timeout, client.attempts) == (
        "EZTK1",
        "https://easypost.example",
        4.0,
        5,
    )
    assert client.retry_seconds == 2.0
