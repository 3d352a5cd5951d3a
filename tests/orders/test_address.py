"""Tests for pressrun.orders.address (no Django needed)."""

from __future__ import annotations

import pickle
import string
import time
from typing import Any

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.orders import address
from pressrun.orders.address import (
    DOMESTIC_COUNTRY,
    AddressError,
    country_name,
    normalize_country,
    normalize_state,
)

SUBDIVISIONS: Any = pycountry.subdivisions
ALPHA_2 = frozenset(str(c.alpha_2) for c in pycountry.countries)
US_CODES = frozenset(
    {str(s.code)[3:] for s in SUBDIVISIONS.get(country_code="US")} - {"UM"}
    | {"AA", "AE", "AP", "FM", "MH", "PW"}
)
CA_CODES = frozenset(str(s.code)[3:] for s in SUBDIVISIONS.get(country_code="CA"))


def country_error(raw: str) -> AddressError:
    with pytest.raises(AddressError) as info:
        normalize_country(raw)
    assert info.value.field == "country"
    return info.value


def state_error(country: str, raw: str) -> AddressError:
    with pytest.raises(AddressError) as info:
        normalize_state(country, raw)
    assert info.value.field == "st"
    return info.value


# ---------------------------------------------------------------------------
# AddressError
# ---------------------------------------------------------------------------


def test_address_error_is_a_value_error_with_field_and_message() -> None:
    error = AddressError("st", "State is required.")
    assert isinstance(error, ValueError)
    assert error.field == "st"
    assert error.message == "State is required."
    assert str(error) == "State is required."


def test_address_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(AddressError("country", "Nope.")))  # noqa: S301
    assert isinstance(error, AddressError)
    assert (error.field, error.message) == ("country", "Nope.")


def test_domestic_country() -> None:
    assert DOMESTIC_COUNTRY == "US"


# ---------------------------------------------------------------------------
# normalize_country: accepted
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", " ", "   ", "\t", "\n", " \t\r\n ", "\u00a0"])
def test_blank_country_is_domestic(raw: str) -> None:
    assert normalize_country(raw) == "US"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("Us", "US"),
        (" US ", "US"),
        ("GB", "GB"),
        ("gb", "GB"),
        ("UK", "GB"),
        ("uk", "GB"),
        ("U.K.", "GB"),
        ("DE", "DE"),
        ("de", "DE"),
        ("CA", "CA"),
        ("IT", "IT"),
        ("AU", "AU"),
        ("PR", "PR"),
        ("\uff35\uff33", "US"),  # full-width "US"
        ("\ufeffUS", "US"),  # byte-order mark from a file
    ],
)
def test_two_letter_codes(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("USA", "US"),
        ("usa", "US"),
        ("DEU", "DE"),
        ("deu", "DE"),
        ("GBR", "GB"),
        ("FRA", "FR"),
        ("CAN", "CA"),
        ("AUS", "AU"),
        ("JPN", "JP"),
        ("NLD", "NL"),
        ("che", "CH"),
    ],
)
def test_three_letter_codes(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("United States", "US"),
        ("united states", "US"),
        ("UNITED STATES", "US"),
        ("united states of america", "US"),
        ("United States of America", "US"),
        ("The United States", "US"),
        ("U.S.A.", "US"),
        ("U.S.", "US"),
        ("U. S. A.", "US"),
        ("America", "US"),
        ("United Kingdom", "GB"),
        ("UniTed KINGdom", "GB"),
        ("united  kingdom", "GB"),
        ("Great Britain", "GB"),
        ("Britain", "GB"),
        ("England", "GB"),
        ("Scotland", "GB"),
        ("Wales", "GB"),
        ("Northern Ireland", "GB"),
        ("United Kingdom of Great Britain and Northern Ireland", "GB"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("France", "FR"),
        ("Italy", "IT"),
        ("Italia", "IT"),
        ("Spain", "ES"),
        ("España", "ES"),
        ("Espana", "ES"),
        ("Netherlands", "NL"),
        ("The Netherlands", "NL"),
        ("Holland", "NL"),
        ("Nederland", "NL"),
        ("Belgique", "BE"),
        ("Schweiz", "CH"),
        ("Suisse", "CH"),
        ("Österreich", "AT"),
        ("Osterreich", "AT"),
        ("Sverige", "SE"),
        ("Polska", "PL"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("Ireland", "IE"),
        ("Éire", "IE"),
        ("Russia", "RU"),
        ("Russian Federation", "RU"),
        ("Россия", "RU"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Turkiye", "TR"),
        ("Korea", "KR"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("Republic of Korea", "KR"),
        ("North Korea", "KP"),
        ("Japan", "JP"),
        ("日本", "JP"),
        ("China", "CN"),
        ("中国", "CN"),
        ("People's Republic of China", "CN"),
        ("Taiwan", "TW"),
        ("Hong Kong", "HK"),
        ("Vietnam", "VN"),
        ("Viet Nam", "VN"),
        ("Laos", "LA"),
        ("Burma", "MM"),
        ("India", "IN"),
        ("Brazil", "BR"),
        ("Brasil", "BR"),
        ("Mexico", "MX"),
        ("México", "MX"),
        ("Canada", "CA"),
        ("Australia", "AU"),
        ("New Zealand", "NZ"),
        ("South Africa", "ZA"),
        ("Ivory Coast", "CI"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("Côte d\u2019Ivoire", "CI"),
        ("cote divoire", "CI"),
        ("Cape Verde", "CV"),
        ("Cabo Verde", "CV"),
        ("Swaziland", "SZ"),
        ("UAE", "AE"),
        ("United Arab Emirates", "AE"),
        ("Iran", "IR"),
        ("Iran, Islamic Republic of", "IR"),
        ("Syria", "SY"),
        ("Bolivia", "BO"),
        ("Venezuela", "VE"),
        ("Tanzania", "TZ"),
        ("Moldova", "MD"),
        ("Macedonia", "MK"),
        ("North Macedonia", "MK"),
        ("Vatican", "VA"),
        ("Holy See", "VA"),
        ("Falkland Islands", "FK"),
        ("Congo", "CG"),
        ("DR Congo", "CD"),
        ("Democratic Republic of the Congo", "CD"),
        ("Guinea-Bissau", "GW"),
        ("Guinea Bissau", "GW"),
        ("Timor-Leste", "TL"),
        ("East Timor", "TL"),
        ("Trinidad & Tobago", "TT"),
        ("Trinidad and Tobago", "TT"),
        ("Bosnia & Herzegovina", "BA"),
        ("Saint Lucia", "LC"),
        ("St. Lucia", "LC"),
        ("St Kitts and Nevis", "KN"),
        ("Curaçao", "CW"),
        ("Curacao", "CW"),
        ("Réunion", "RE"),
        ("Åland Islands", "AX"),
        ("Puerto Rico", "PR"),
        ("British Virgin Islands", "VG"),
        ("US Virgin Islands", "VI"),
        ("U.S. Virgin Islands", "VI"),
        ("Virgin Islands, U.S.", "VI"),
    ],
)
def test_names_and_aliases(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Untied States", "US"),
        ("Unted States", "US"),
        ("Unitedstates", "US"),
        ("United Sates", "US"),
        ("Untied Kingdom", "GB"),
        ("United Kingdon", "GB"),
        ("Englnd", "GB"),
        ("Germny", "DE"),
        ("Gemany", "DE"),
        ("Austrailia", "AU"),
        ("Phillipines", "PH"),
        ("Philipines", "PH"),
        ("Columbia", "CO"),
        ("Frnace", "FR"),
        ("Itlay", "IT"),
        ("Mexcio", "MX"),
        ("Swizerland", "CH"),
        ("Switzerlnd", "CH"),
        ("Netherland", "NL"),
        ("Argentinia", "AR"),
        ("Portugual", "PT"),
        ("Sweeden", "SE"),
        ("Ireleand", "IE"),
        ("Brazill", "BR"),
        ("Canda", "CA"),
        ("Veit Nam", "VN"),
    ],
)
def test_common_misspellings(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


@pytest.mark.parametrize("country", list(pycountry.countries), ids=lambda c: str(c.alpha_2))
def test_every_iso_country_by_code_and_name(country: object) -> None:
    code = str(getattr(country, "alpha_2"))  # noqa: B009
    alpha_3 = str(getattr(country, "alpha_3"))  # noqa: B009
    name = str(getattr(country, "name"))  # noqa: B009
    for raw in (code, code.lower(), alpha_3, alpha_3.lower(), name, name.upper(), name.lower()):
        assert normalize_country(raw) == code, raw


def test_exactly_100_characters_is_still_looked_at() -> None:
    raw = " " * 98 + "US"
    assert len(raw) == 100
    assert normalize_country(raw) == "US"


# ---------------------------------------------------------------------------
# normalize_country: refused
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "name"),
    [
        ("IT (Italy)", "IT", "Italy"),
        ("IT Italy", "IT", "Italy"),
        ("IT-Italy", "IT", "Italy"),
        ("IT/Italy", "IT", "Italy"),
        ("Italy (IT)", "IT", "Italy"),
        ("Italy IT", "IT", "Italy"),
        ("Italy, IT", "IT", "Italy"),
        ("ITA Italy", "IT", "Italy"),
        ("IT Itlay", "IT", "Italy"),
        ("US - United States", "US", "United States"),
        ("US United States of America", "US", "United States"),
        ("United States (US)", "US", "United States"),
        ("USA - United States", "US", "United States"),
        ("US/USA", "US", "United States"),
        ("America (USA)", "US", "United States"),
        ("GB United Kingdom", "GB", "United Kingdom"),
        ("UK - United Kingdom", "GB", "United Kingdom"),
        ("DE Deutschland", "DE", "Germany"),
        ("DEU (Germany)", "DE", "Germany"),
        ("FR: France", "FR", "France"),
        ("CA Canada", "CA", "Canada"),
    ],
)
def test_combined_code_and_name_is_refused(raw: str, code: str, name: str) -> None:
    error = country_error(raw)
    assert error.message == (
        f"Country '{raw}' was not recognized. Use a 2-letter code such as {code}, "
        f"or the full name such as {name}, not both."
    )


def test_combined_message_example_from_the_brief() -> None:
    assert country_error("IT (Italy)").message == (
        "Country 'IT (Italy)' was not recognized. Use a 2-letter code such as IT, "
        "or the full name such as Italy, not both."
    )


@pytest.mark.parametrize(
    "raw",
    [
        "XX",
        "xx",
        "ZZ",
        "X",
        "abc",
        "ABC",
        "abcd",
        "abcde",
        "asdfgh",
        "12",
        "840",
        "N/A",
        "none",
        "null",
        "-",
        "...",
        "?",
        "\U0001f1fa\U0001f1f8",  # flag emoji
        "\U0001f600",
        "Kosovo",
        "Atlantis",
        "Yugoslavia",
        "USSR",
        "Europe",
        "Minneapolis",
        "Deutschland Germany",
        "United States of America 55101",
        "Germany Berlin",
        "Bosnia Herzegovina Serbia",
        "Chda",  # one transposition, but too short to guess
        "U S X",
    ],
)
def test_unknown_country_is_refused(raw: str) -> None:
    error = country_error(raw)
    assert error.message.startswith("Country '")
    assert "was not recognized" in error.message
    assert "2-letter code" in error.message


def test_unknown_country_message() -> None:
    assert country_error("Atlantis").message == (
        "Country 'Atlantis' was not recognized. Use a 2-letter code such as DE, "
        "or the full name such as Germany."
    )


@pytest.mark.parametrize(
    ("raw", "candidates"),
    [
        ("Austrlia", "Australia (AU) or Austria (AT)"),
        ("Nigera", "Nigeria (NG) or Niger (NE)"),
        ("Dominican", "Dominica (DM) or Dominican Republic (DO)"),
        ("Virgin Islands", "British Virgin Islands (VG) or U.S. Virgin Islands (VI)"),
    ],
)
def test_ambiguous_country_is_refused(raw: str, candidates: str) -> None:
    assert country_error(raw).message == (
        f"Country '{raw}' was not recognized: it could be {candidates}. "
        "Use the 2-letter code or the full name."
    )


@pytest.mark.parametrize("raw", ["US\x00", "\x00", "U\x00S", "\x07US", "US\x1b[31m", "DE\x7f"])
def test_country_with_control_characters_is_refused(raw: str) -> None:
    error = country_error(raw)
    assert "control characters" in error.message
    assert "\x00" not in error.message
    assert "\x1b" not in error.message


def test_country_longer_than_100_characters_is_refused_at_once() -> None:
    raw = "US" + " " * 99
    assert len(raw) == 101
    error = country_error(raw)
    assert "longer than 100 characters" in error.message


def test_long_country_is_echoed_truncated_to_60_characters() -> None:
    raw = "A" * 5000
    error = country_error(raw)
    assert error.message == (
        f"Country '{'A' * 60}...' was not recognized: it is longer than 100 characters. "
        "Use a 2-letter code such as DE, or the full name such as Germany."
    )


def test_echo_is_truncated_for_values_under_the_length_limit() -> None:
    raw = "Q" * 80
    error = country_error(raw)
    assert f"'{'Q' * 60}...'" in error.message
    assert "Q" * 61 not in error.message


def test_echo_collapses_whitespace_and_hides_unprintable_characters() -> None:
    assert country_error("Atl\u202eantis   x").message.startswith("Country 'Atl?antis x' ")


# ---------------------------------------------------------------------------
# normalize_state: United States
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MN", "MN"),
        ("mn", "MN"),
        ("Mn", "MN"),
        (" MN ", "MN"),
        ("Minnesota", "MN"),
        ("minnesota", "MN"),
        ("MINNESOTA", "MN"),
        ("New York", "NY"),
        ("new york", "NY"),
        ("new  york", "NY"),
        ("  New\tYork \n", "NY"),
        ("N.Y.", "NY"),
        ("NY", "NY"),
        ("California", "CA"),
        ("CA", "CA"),
        ("Calif.", "CA"),
        ("Georgia", "GA"),
        ("Washington", "WA"),
        ("Washington State", "WA"),
        ("West Virginia", "WV"),
        ("W. Va.", "WV"),
        ("Virginia", "VA"),
        ("North Carolina", "NC"),
        ("Rhode Island", "RI"),
        ("Mass.", "MA"),
        ("Penn.", "PA"),
        ("Tex.", "TX"),
        ("US-MN", "MN"),
        ("us-mn", "MN"),
        ("DC", "DC"),
        ("District of Columbia", "DC"),
        ("Washington, D.C.", "DC"),
        ("Washington DC", "DC"),
        ("PR", "PR"),
        ("Puerto Rico", "PR"),
        ("GU", "GU"),
        ("Guam", "GU"),
        ("VI", "VI"),
        ("Virgin Islands", "VI"),
        ("U.S. Virgin Islands", "VI"),
        ("AS", "AS"),
        ("American Samoa", "AS"),
        ("MP", "MP"),
        ("Northern Mariana Islands", "MP"),
        ("AA", "AA"),
        ("AE", "AE"),
        ("AP", "AP"),
        ("Armed Forces Europe", "AE"),
        ("Armed Forces Pacific", "AP"),
        ("Armed Forces Americas", "AA"),
        ("FM", "FM"),
        ("MH", "MH"),
        ("PW", "PW"),
    ],
)
def test_us_states(raw: str, expected: str) -> None:
    assert normalize_state("US", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Pennsylvannia", "PA"),
        ("Massachusets", "MA"),
        ("Conneticut", "CT"),
        ("Tennesee", "TN"),
        ("Missisippi", "MS"),
        ("Virgina", "VA"),
        ("North Carlina", "NC"),
        ("Nebraksa", "NE"),
        ("Orgeon", "OR"),
        ("New Yrok", "NY"),
    ],
)
def test_us_state_misspellings(raw: str, expected: str) -> None:
    assert normalize_state("US", raw) == expected


@pytest.mark.parametrize(
    "subdivision",
    # Sorted: pycountry returns a set, whose order changes between processes (and the
    # parallel workers of `make test` must collect the same tests in the same order).
    sorted(
        (s for s in SUBDIVISIONS.get(country_code="US") if s.code != "US-UM"),
        key=lambda s: str(s.code),
    ),
    ids=lambda s: str(s.code),
)
def test_every_us_subdivision_by_code_and_name(subdivision: object) -> None:
    code = str(getattr(subdivision, "code"))[3:]  # noqa: B009
    name = str(getattr(subdivision, "name"))  # noqa: B009
    for raw in (code, code.lower(), name, name.lower(), name.upper()):
        assert normalize_state("US", raw) == code, raw


@pytest.mark.parametrize("country", ["US", "us", " US "])
def test_country_code_is_tolerated_in_any_case(country: str) -> None:
    assert normalize_state(country, "minnesota") == "MN"


# ---------------------------------------------------------------------------
# normalize_state: Canada
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ON", "ON"),
        ("on", "ON"),
        ("Ontario", "ON"),
        ("ONTARIO", "ON"),
        ("QC", "QC"),
        ("Québec", "QC"),
        ("Quebec", "QC"),
        ("québec", "QC"),
        ("PQ", "QC"),
        ("pq", "QC"),
        ("NL", "NL"),
        ("NF", "NL"),
        ("Newfoundland", "NL"),
        ("Newfoundland and Labrador", "NL"),
        ("Newfoundland & Labrador", "NL"),
        ("BC", "BC"),
        ("B.C.", "BC"),
        ("British Columbia", "BC"),
        ("british  columbia", "BC"),
        ("Alberta", "AB"),
        ("Saskatchewan", "SK"),
        ("Manitoba", "MB"),
        ("New Brunswick", "NB"),
        ("Nova Scotia", "NS"),
        ("Nouvelle-Écosse", "NS"),
        ("Prince Edward Island", "PE"),
        ("PEI", "PE"),
        ("P.E.I.", "PE"),
        ("Yukon", "YT"),
        ("Yukon Territory", "YT"),
        ("Northwest Territories", "NT"),
        ("NWT", "NT"),
        ("Nunavut", "NU"),
        ("CA-ON", "ON"),
        ("Ontairo", "ON"),
        ("Saskatchwan", "SK"),
    ],
)
def test_canadian_provinces(raw: str, expected: str) -> None:
    assert normalize_state("CA", raw) == expected


@pytest.mark.parametrize(
    "subdivision",
    sorted(SUBDIVISIONS.get(country_code="CA"), key=lambda s: str(s.code)),
    ids=lambda s: str(s.code),
)
def test_every_canadian_subdivision_by_code_and_name(subdivision: object) -> None:
    code = str(getattr(subdivision, "code"))[3:]  # noqa: B009
    name = str(getattr(subdivision, "name"))  # noqa: B009
    for raw in (code, code.lower(), name, name.lower(), name.upper()):
        assert normalize_state("CA", raw) == code, raw


# ---------------------------------------------------------------------------
# normalize_state: refused (US / CA)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "raw", "message"),
    [
        ("US", "", "State is required for addresses in United States."),
        ("US", "   ", "State is required for addresses in United States."),
        ("US", "\t\n", "State is required for addresses in United States."),
        ("CA", "", "Province is required for addresses in Canada."),
        ("CA", " ", "Province is required for addresses in Canada."),
    ],
)
def test_blank_state_is_refused_for_us_and_canada(country: str, raw: str, message: str) -> None:
    assert state_error(country, raw).message == message


@pytest.mark.parametrize(
    ("country", "raw", "code", "name"),
    [
        ("US", "MN Minnesota", "MN", "Minnesota"),
        ("US", "Minnesota (MN)", "MN", "Minnesota"),
        ("US", "MN-Minnesota", "MN", "Minnesota"),
        ("US", "MN - Minnesota", "MN", "Minnesota"),
        ("US", "Minnesota, MN", "MN", "Minnesota"),
        ("US", "mn minnesota", "MN", "Minnesota"),
        ("US", "NY New York", "NY", "New York"),
        ("US", "New York (NY)", "NY", "New York"),
        ("US", "MN Minnesotta", "MN", "Minnesota"),
        ("CA", "ON Ontario", "ON", "Ontario"),
        ("CA", "Québec (QC)", "QC", "Quebec"),
        ("CA", "PQ Quebec", "QC", "Quebec"),
    ],
)
def test_combined_state_is_refused(country: str, raw: str, code: str, name: str) -> None:
    noun, where = ("State", "United States") if country == "US" else ("Province", "Canada")
    assert state_error(country, raw).message == (
        f"{noun} '{raw}' for {where} was not recognized. "
        f"Use the 2-letter code ({code}) or the full name ({name}), not both."
    )


def test_combined_state_message_example_from_the_brief() -> None:
    assert state_error("US", "MN Minnesota").message == (
        "State 'MN Minnesota' for United States was not recognized. "
        "Use the 2-letter code (MN) or the full name (Minnesota), not both."
    )


def test_combined_state_with_conflicting_parts_is_refused() -> None:
    assert state_error("US", "Virginia WV").message == (
        "State 'Virginia WV' for United States was not recognized. "
        "Use either the 2-letter code or the full name, not both."
    )


@pytest.mark.parametrize(
    ("country", "raw", "place"),
    [
        ("US", "ON", "Ontario (ON) is in Canada, not United States"),
        ("US", "Ontario", "Ontario (ON) is in Canada, not United States"),
        ("US", "québec", "Quebec (QC) is in Canada, not United States"),
        ("US", "PQ", "Quebec (QC) is in Canada, not United States"),
        ("US", "British Columbia", "British Columbia (BC) is in Canada, not United States"),
        ("CA", "MN", "Minnesota (MN) is in United States, not Canada"),
        ("CA", "Minnesota", "Minnesota (MN) is in United States, not Canada"),
        ("CA", "new york", "New York (NY) is in United States, not Canada"),
        ("CA", "PR", "Puerto Rico (PR) is in United States, not Canada"),
    ],
)
def test_state_of_the_other_country_is_refused(country: str, raw: str, place: str) -> None:
    noun, where = ("State", "United States") if country == "US" else ("Province", "Canada")
    assert state_error(country, raw).message == (
        f"{noun} '{raw}' for {where} was not recognized: {place}. Check the country of the address."
    )


@pytest.mark.parametrize(
    "raw",
    [
        "XX",
        "X",
        "UM",  # ISO subdivision, but not a USPS state code
        "US",
        "Minneapolis, MN",
        "Saint Paul MN 55101",
        "Carolina",
        "Dakota",
        "Main",
        "Mass Minn",
        "Bayern",
        "N/A",
        "-",
        "\U0001f600",
        "abcde",
    ],
)
def test_unknown_us_state_is_refused(raw: str) -> None:
    assert state_error("US", raw).message == (
        f"State '{raw}' for United States was not recognized. "
        "Use the 2-letter code such as MN, or the full name such as Minnesota."
    )


@pytest.mark.parametrize("raw", ["XX", "Toronto", "Labrador City", "Bayern"])
def test_unknown_canadian_province_is_refused(raw: str) -> None:
    assert state_error("CA", raw).message == (
        f"Province '{raw}' for Canada was not recognized. "
        "Use the 2-letter code such as ON, or the full name such as Ontario."
    )


def test_ambiguous_state_is_refused() -> None:
    assert state_error("US", "Akansas").message == (
        "State 'Akansas' for United States was not recognized: it could be "
        "Arkansas (AR) or Kansas (KS). Use the 2-letter code or the full name."
    )


@pytest.mark.parametrize("country", ["US", "CA"])
@pytest.mark.parametrize("raw", ["MN\x00", "\x00", "O\x01N", "\x1b[2J"])
def test_state_with_control_characters_is_refused(country: str, raw: str) -> None:
    error = state_error(country, raw)
    assert "control characters" in error.message
    assert "\x00" not in error.message


@pytest.mark.parametrize("country", ["US", "CA", "DE", "AU"])
def test_state_longer_than_100_characters_is_refused(country: str) -> None:
    error = state_error(country, "x" * 101)
    assert "longer than 100 characters" in error.message
    assert "x" * 61 not in error.message


# ---------------------------------------------------------------------------
# normalize_state: other countries
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "raw", "expected"),
    [
        ("DE", "", ""),
        ("DE", "   ", ""),
        ("DE", "Bayern", "Bayern"),
        ("DE", "  Bayern  ", "Bayern"),
        ("DE", "BY", "BY"),
        ("DE", "DE-BY", "DE-BY"),
        ("GB", "Greater  London", "Greater London"),
        ("GB", "england", "england"),
        ("FR", "Île-de-France", "Île-de-France"),
        ("IT", "MI", "MI"),
        ("AU", "NSW", "NSW"),
        ("AU", "nsw", "nsw"),
        ("AU", "New South\tWales", "New South Wales"),
        ("AU", "Victoria", "Victoria"),
        ("JP", "東京都", "東京都"),
        ("MX", "MN Minnesota", "MN Minnesota"),
        ("", "Anything", "Anything"),
        ("XX", " a \n b ", "a b"),
    ],
)
def test_other_countries_keep_state_as_given(country: str, raw: str, expected: str) -> None:
    assert normalize_state(country, raw) == expected


def test_other_country_state_with_control_characters_is_refused() -> None:
    assert "control characters" in state_error("DE", "By\x00ern").message


# ---------------------------------------------------------------------------
# country_name
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("GB", "United Kingdom"),
        ("US", "United States"),
        ("DE", "Germany"),
        ("IT", "Italy"),
        ("CA", "Canada"),
        ("KR", "South Korea"),
        ("BO", "Bolivia"),
        ("VG", "British Virgin Islands"),
        ("gb", "United Kingdom"),
        (" us ", "United States"),
        ("ZZ", "ZZ"),
        ("", ""),
    ],
)
def test_country_name(code: str, expected: str) -> None:
    assert country_name(code) == expected


def test_country_name_never_returns_huge_strings() -> None:
    assert len(country_name("Z" * 10_000)) <= 63


def test_every_alpha_2_code_has_a_name() -> None:
    for code in ALPHA_2:
        assert country_name(code)
        assert country_name(code) != code


# ---------------------------------------------------------------------------
# Internal consistency and speed
# ---------------------------------------------------------------------------


def test_fast_path_agrees_with_slow_path() -> None:
    for table_name, table in address._tables().by_name.items():
        for raw, code in table.fast.items():
            key = address._key(raw)
            assert address._resolve(table_name, key) == address._Outcome("ok", (code,)), raw


def test_short_values_are_never_fuzzy_matched() -> None:
    table = address._tables().countries
    for a in string.ascii_lowercase:
        for b in string.ascii_lowercase:
            for raw in (a + b, a + b + a, a + b + b + a):
                try:
                    code = normalize_country(raw)
                except AddressError:
                    continue
                assert table.by_key[address._key(raw)] == code


def test_common_values_are_fast() -> None:
    values = ["US", "us", "United States", "GB", "Canada", "DE", "USA", "uk"]
    start = time.perf_counter()
    for _ in range(2_000):
        for value in values:
            normalize_country(value)
            normalize_state("US", "MN")
            normalize_state("CA", "Ontario")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0  # 48,000 calls; typically ~15 ms


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


def _check_error(error: AddressError, field: str) -> None:
    assert error.field == field
    assert isinstance(error.message, str)
    assert error.message
    assert len(error.message) < 400
    assert "\x00" not in error.message


@settings(max_examples=500)
@given(st.text())
def test_any_text_country_is_a_valid_code_or_an_address_error(raw: str) -> None:
    try:
        code = normalize_country(raw)
    except AddressError as error:
        _check_error(error, "country")
    else:
        assert code in ALPHA_2


@settings(max_examples=500)
@given(st.text(alphabet=string.ascii_letters + " .,-()'&/", max_size=40))
def test_name_like_text_country_is_a_valid_code_or_an_address_error(raw: str) -> None:
    try:
        code = normalize_country(raw)
    except AddressError as error:
        _check_error(error, "country")
    else:
        assert code in ALPHA_2


@settings(max_examples=200)
@given(st.text(min_size=101, max_size=5000))
def test_long_text_is_refused(raw: str) -> None:
    with pytest.raises(AddressError) as info:
        normalize_country(raw)
    _check_error(info.value, "country")
    assert raw[:61] not in info.value.message


@settings(max_examples=500)
@given(st.sampled_from(["US", "CA", "us", "DE", "AU", "GB", "", "??"]), st.text())
def test_any_text_state_is_valid_or_an_address_error(country: str, raw: str) -> None:
    try:
        result = normalize_state(country, raw)
    except AddressError as error:
        _check_error(error, "st")
    else:
        if country.upper() == "US":
            assert result in US_CODES
        elif country == "CA":
            assert result in CA_CODES
        else:
            assert result == " ".join(raw.split())


@settings(max_examples=300)
@given(st.text(), st.text())
def test_any_country_code_for_state_never_raises_anything_else(country: str, raw: str) -> None:
    try:
        normalize_state(country, raw)
    except AddressError as error:
        _check_error(error, "st")
