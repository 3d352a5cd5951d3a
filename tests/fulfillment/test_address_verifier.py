"""The offline address verifier: exact descriptions for each kind of problem, the
normalized suggestion, and a fuzz run (a verifier never raises, whatever it is given)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.fulfillment.address.easypost import EasyPostVerifier
from pressrun.fulfillment.address.verifiers import (
    MAX_DESCRIPTION_LENGTH,
    AddressToCheck,
    OfflineVerifier,
    configured_verifier,
)

BASE = {
    "name": "Ann Buyer",
    "company": "",
    "address": "1 Main St",
    "city": "Austin",
    "state": "TX",
    "postal_code": "78701",
    "country": "US",
}


def address(**changes: str) -> AddressToCheck:
    return AddressToCheck(**{**BASE, **changes})


PASSES = [
    pytest.param({}, None, id="us-zip5"),
    pytest.param({"postal_code": "78701-1234"}, None, id="us-zip4"),
    pytest.param({"postal_code": "787011234"}, "78701-1234", id="us-zip9-written-as-zip4"),
    pytest.param({"address": "PO Box 12"}, None, id="us-po-box-without-house-number"),
    pytest.param({"address": "General Delivery"}, None, id="us-general-delivery"),
    pytest.param({"state": "NY", "postal_code": "10001"}, None, id="us-ny"),
    pytest.param({"country": "CA", "state": "ON", "postal_code": "K1A 0B1"}, None, id="ca"),
    pytest.param({"country": "CA", "state": "ON", "postal_code": "k1a0b1"}, "K1A 0B1", id="ca-lc"),
    pytest.param({"country": "GB", "state": "", "postal_code": "SW1A 1AA"}, None, id="gb"),
    pytest.param({"country": "GB", "state": "", "postal_code": "sw1a1aa"}, "SW1A 1AA", id="gb-lc"),
    pytest.param({"country": "GB", "state": "", "postal_code": "M1 1AE"}, None, id="gb-short"),
    pytest.param({"country": "DE", "state": "", "postal_code": "10115"}, None, id="de"),
    pytest.param({"country": "AU", "state": "NSW", "postal_code": "2000"}, None, id="au"),
    pytest.param({"country": "FR", "state": "", "postal_code": "75001"}, None, id="fr"),
    pytest.param({"country": "JP", "state": "", "postal_code": "100-0001"}, None, id="jp"),
    pytest.param({"country": "BR", "state": "", "postal_code": ""}, None, id="no-format-known"),
]


@pytest.mark.parametrize(("changes", "suggested_postal_code"), PASSES)
def test_addresses_that_pass(changes: dict[str, str], suggested_postal_code: str | None) -> None:
    result = OfflineVerifier().verify(address(**changes))
    assert (result.ok, result.description, result.verifier) == (True, "", "offline")
    assert result.note == "Offline check passed."
    if suggested_postal_code is None:
        assert result.suggestion is None
    else:
        assert result.suggestion == address(**{**changes, "postal_code": suggested_postal_code})


PROBLEMS = [
    pytest.param(
        {"postal_code": "7870"},
        "ZIP code '7870' is not a valid US ZIP code (5 digits, or ZIP+4 such as 78701-1234).",
        id="us-zip-short",
    ),
    pytest.param(
        {"postal_code": "ABCDE"},
        "ZIP code 'ABCDE' is not a valid US ZIP code (5 digits, or ZIP+4 such as 78701-1234).",
        id="us-zip-letters",
    ),
    pytest.param(
        {"postal_code": ""},
        "The ZIP code is missing: United States addresses need one.",
        id="us-zip-missing",
    ),
    pytest.param(
        {"state": "MN"},
        "ZIP code 78701 is not in Minnesota (MN); check the state and the ZIP code.",
        id="us-zip-other-state",
    ),
    pytest.param(
        {"address": "Main Street"},
        "The street address 'Main Street' has no house number.",
        id="us-no-house-number",
    ),
    pytest.param(
        {"state": ""},
        "State is required for addresses in United States.",
        id="us-state-missing",
    ),
    pytest.param(
        {"country": "CA", "state": "ON", "postal_code": "D1A 0B1"},
        "Postal code 'D1A 0B1' is not a valid Canadian postal code (letter digit letter, digit "
        "letter digit, such as K1A 0B1).",
        id="ca-bad-letter",
    ),
    pytest.param(
        {"country": "CA", "state": "BC", "postal_code": "K1A 0B1"},
        "Postal code K1A 0B1 is not in British Columbia (BC); check the province and the postal "
        "code.",
        id="ca-other-province",
    ),
    pytest.param(
        {"country": "GB", "state": "", "postal_code": "SW1A"},
        "Postcode 'SW1A' is not a valid UK postcode (such as SW1A 1AA).",
        id="gb-outward-only",
    ),
    pytest.param(
        {"country": "GB", "state": "", "postal_code": ""},
        "The postcode is missing: United Kingdom addresses need one.",
        id="gb-missing",
    ),
    pytest.param(
        {"country": "DE", "state": "", "postal_code": "1011"},
        "Postal code '1011' is not a valid German postal code (5 digits, such as 10115).",
        id="de-short",
    ),
    pytest.param(
        {"country": "AU", "state": "NSW", "postal_code": "20000"},
        "Postcode '20000' is not a valid Australian postcode (4 digits, such as 2000).",
        id="au-long",
    ),
    pytest.param(
        {"country": "FR", "state": "", "postal_code": "75 001"},
        "Postal code '75 001' is not a valid French postal code (5 digits, such as 75001).",
        id="fr-spaced",
    ),
    pytest.param(
        {"country": "XX"},
        "Country 'XX' was not recognized. Use a 2-letter code such as DE, or the full name "
        "such as Germany.",
        id="country-unknown",
    ),
    pytest.param(
        {"name": " ", "address": "", "city": ""},
        "The recipient's name is missing. The street address is missing. The city is missing.",
        id="incomplete",
    ),
    pytest.param(
        {"postal_code": "1" * 20},
        "ZIP code '11111111111111111111' is not a valid US ZIP code (5 digits, or ZIP+4 such "
        "as 78701-1234).",
        id="us-zip-long",
    ),
]


@pytest.mark.parametrize(("changes", "description"), PROBLEMS)
def test_problems_are_described_exactly(changes: dict[str, str], description: str) -> None:
    result = OfflineVerifier().verify(address(**changes))
    assert (result.ok, result.description, result.verifier) == (False, description, "offline")
    assert result.suggestion is None


def test_a_very_long_list_of_problems_is_cut_to_the_field_length() -> None:
    result = OfflineVerifier().verify(
        address(name="", address="", city="", state="x" * 60, postal_code="?" * 20)
    )
    assert not result.ok
    assert len(result.description) <= MAX_DESCRIPTION_LENGTH


TEXT = st.text(max_size=120)


@settings(max_examples=400, deadline=None)
@given(
    name=TEXT,
    company=TEXT,
    street=TEXT,
    city=TEXT,
    state=st.one_of(TEXT, st.sampled_from(["TX", "ON", "Texas", "", "QC"])),
    postal_code=st.one_of(TEXT, st.from_regex(r"[0-9A-Za-z -]{0,12}", fullmatch=True)),
    country=st.one_of(TEXT, st.sampled_from(["US", "CA", "GB", "DE", "AU", "FR", "", "uk"])),
)
def test_fuzz_the_offline_verifier_never_raises(
    *,
    name: str,
    company: str,
    street: str,
    city: str,
    state: str,
    postal_code: str,
    country: str,
) -> None:
    result = OfflineVerifier().verify(
        AddressToCheck(name, company, street, city, state, postal_code, country)
    )
    assert result.verifier == "offline"
    assert len(result.description) <= MAX_DESCRIPTION_LENGTH
    assert result.ok == (result.description == "")
    if not result.ok:
        assert result.description.strip() == result.description
        assert "\n" not in result.description


def test_the_setting_picks_the_verifier(settings: Any) -> None:
    settings.ADDRESS_VERIFIER = "offline"
    assert isinstance(configured_verifier(), OfflineVerifier)
    settings.ADDRESS_VERIFIER = "easypost"
    settings.EASYPOST_API_KEY = "EZTK123"
    settings.EASYPOST_API_URL = "http://127.0.0.1:9"
    verifier = configured_verifier()
    assert isinstance(verifier, EasyPostVerifier)
    assert verifier.client.base_url == "http://127.0.0.1:9"
    settings.EASYPOST_API_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="needs PRESSRUN_EASYPOST_API_KEY"):
        configured_verifier()
    settings.ADDRESS_VERIFIER = "usps"
    with pytest.raises(ImproperlyConfigured, match="use one of offline, easypost"):
        configured_verifier()


def test_pressrun_check_reports_a_verifier_setting_that_cannot_work(settings: Any) -> None:
    from pressrun.fulfillment.address.checks import address_verifier_setting

    settings.ADDRESS_VERIFIER = "offline"
    assert address_verifier_setting() == []
    settings.ADDRESS_VERIFIER = "usps"
    [error] = address_verifier_setting()
    assert (error.id, error.msg) == (
        "pressrun.E201",
        "PRESSRUN_ADDRESS_VERIFIER is 'usps'; use one of offline, easypost.",
    )
