"""The address verifier protocol and the offline verifier.

A verifier takes an `AddressToCheck` (an order's address as stored: intake has already
collapsed the spaces and turned the country and, for the US and Canada, the state into codes)
and answers a `CheckResult`: ok, or a problem with a description people can act on (the
publisher reads it in the status reply's OrderStatusErrDesc, the customer in the email that
asks them to fix it), and optionally a normalized suggestion. A verifier never raises and
never calls a network without its own timeouts: `verify` is called from a background task.

The offline verifier (the default) checks what can be known without a network: the parts
an envelope needs (name, street, city; a postal code where the country has them), the
country and the US state / Canadian province (`pressrun.orders.address`), the postal code's
format for the countries in `POSTAL_FORMATS` (US, CA, GB, DE, AU, FR and a few more), a US
ZIP code's or a Canadian postal code's agreement with the state or province, and a house
number in a US street address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pressrun.orders.address import (
    AddressError,
    country_name,
    normalize_country,
    normalize_state,
    state_name,
)

MAX_DESCRIPTION_LENGTH: Final = 500  # Order.error_description
_ECHO_LIMIT: Final = 40

VERIFIERS: Final = ("offline", "easypost")


@dataclass(frozen=True)
class AddressToCheck:
    """An address as an order stores it."""

    name: str
    company: str
    address: str
    city: str
    state: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class CheckResult:
    """What a verifier found.

    `ok` False means the address cannot be shipped to as it is: `description` says why (one
    or more sentences, at most 500 characters). `verifier` names what decided ("offline",
    "easypost"); `note` says what was done in words for the order's record (e.g. that the
    API could not be reached and the offline check decided). `suggestion`, when given, is
    the address as the verifier would write it (never applied by itself)."""

    ok: bool
    verifier: str
    description: str = ""
    note: str = ""
    suggestion: AddressToCheck | None = None
    fell_back: bool = False  # the configured verifier could not answer; the offline one did


class AddressVerifier(Protocol):
    """Anything that checks an address. `verify` must not raise, whatever the input."""

    name: str

    def verify(self, address: AddressToCheck) -> CheckResult: ...


# --- postal codes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PostalFormat:
    """How a country writes its postal codes: the pattern (on the upper-cased code), how to
    write it canonically, and the words of the description."""

    pattern: re.Pattern[str]
    noun: str  # "ZIP code", "postcode", "postal code"
    adjective: str  # "US", "Canadian", ...
    shape: str  # "5 digits, or ZIP+4 such as 78701-1234"

    def canonical(self, code: str) -> str:
        return code


class _Spaced(PostalFormat):
    """Codes written with one space before the last three characters (CA, GB)."""

    def canonical(self, code: str) -> str:
        compact = code.replace(" ", "")
        return f"{compact[:-3]} {compact[-3:]}"


class _Zip(PostalFormat):
    def canonical(self, code: str) -> str:
        digits = code.replace("-", "").replace(" ", "")
        return digits if len(digits) == 5 else f"{digits[:5]}-{digits[5:]}"


_UK_POSTCODE = (
    r"(GIR ?0AA|[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|"
    r"[A-HK-Y][0-9][ABEHMNPRVWXY]) ?[0-9][ABD-HJLNP-UW-Z]{2})"
)

POSTAL_FORMATS: Final[dict[str, PostalFormat]] = {
    "US": _Zip(
        re.compile(r"[0-9]{5}([- ]?[0-9]{4})?"),
        "ZIP code",
        "US",
        "5 digits, or ZIP+4 such as 78701-1234",
    ),
    "CA": _Spaced(
        re.compile(r"[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] ?[0-9][ABCEGHJ-NPRSTV-Z][0-9]"),
        "postal code",
        "Canadian",
        "letter digit letter, digit letter digit, such as K1A 0B1",
    ),
    "GB": _Spaced(re.compile(_UK_POSTCODE), "postcode", "UK", "such as SW1A 1AA"),
    "DE": PostalFormat(re.compile(r"[0-9]{5}"), "postal code", "German", "5 digits, such as 10115"),
    "AU": PostalFormat(re.compile(r"[0-9]{4}"), "postcode", "Australian", "4 digits, such as 2000"),
    "FR": PostalFormat(re.compile(r"[0-9]{5}"), "postal code", "French", "5 digits, such as 75001"),
    "NL": _Spaced(
        re.compile(r"[1-9][0-9]{3} ?[A-Z]{2}"), "postal code", "Dutch", "such as 1012 AB"
    ),
    "IT": PostalFormat(
        re.compile(r"[0-9]{5}"), "postal code", "Italian", "5 digits, such as 00184"
    ),
    "ES": PostalFormat(
        re.compile(r"(0[1-9]|[1-4][0-9]|5[0-2])[0-9]{3}"),
        "postal code",
        "Spanish",
        "5 digits, such as 28013",
    ),
    "AT": PostalFormat(
        re.compile(r"[1-9][0-9]{3}"), "postal code", "Austrian", "4 digits, such as 1010"
    ),
    "CH": PostalFormat(
        re.compile(r"[1-9][0-9]{3}"), "postal code", "Swiss", "4 digits, such as 8001"
    ),
    "JP": PostalFormat(
        re.compile(r"[0-9]{3}-?[0-9]{4}"), "postal code", "Japanese", "such as 100-0001"
    ),
}

# The first digit of a US ZIP code and the states (USPS codes) whose ZIP codes start with it.
_US_ZIP_REGIONS: Final[dict[str, frozenset[str]]] = {
    "0": frozenset({"CT", "MA", "ME", "NH", "NJ", "PR", "RI", "VT", "VI", "AE", "NY"}),
    "1": frozenset({"DE", "NY", "PA"}),
    "2": frozenset({"DC", "MD", "NC", "SC", "VA", "WV"}),
    "3": frozenset({"AL", "FL", "GA", "MS", "TN", "AA"}),
    "4": frozenset({"IN", "KY", "MI", "OH"}),
    "5": frozenset({"IA", "MN", "MT", "ND", "SD", "WI"}),
    "6": frozenset({"IL", "KS", "MO", "NE"}),
    "7": frozenset({"AR", "LA", "OK", "TX"}),
    "8": frozenset({"AZ", "CO", "ID", "NM", "NV", "UT", "WY"}),
    "9": frozenset({"AK", "CA", "HI", "OR", "WA", "AP", "GU", "AS", "MP", "FM", "MH", "PW"}),
}
# The first letter of a Canadian postal code and its provinces and territories.
_CA_POSTAL_REGIONS: Final[dict[str, frozenset[str]]] = {
    "A": frozenset({"NL"}),
    "B": frozenset({"NS"}),
    "C": frozenset({"PE"}),
    "E": frozenset({"NB"}),
    "G": frozenset({"QC"}),
    "H": frozenset({"QC"}),
    "J": frozenset({"QC"}),
    "K": frozenset({"ON"}),
    "L": frozenset({"ON"}),
    "M": frozenset({"ON"}),
    "N": frozenset({"ON"}),
    "P": frozenset({"ON"}),
    "R": frozenset({"MB"}),
    "S": frozenset({"SK"}),
    "T": frozenset({"AB"}),
    "V": frozenset({"BC"}),
    "X": frozenset({"NT", "NU"}),
    "Y": frozenset({"YT"}),
}
# US street addresses without a house number that still reach a mailbox.
_US_NO_NUMBER_OK = re.compile(r"\b(general delivery|p\.? ?o\.? ?box|post office box)\b", re.I)


def _echo(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in " ".join(text.split()))
    return cleaned if len(cleaned) <= _ECHO_LIMIT else cleaned[:_ECHO_LIMIT] + "..."


def _sentence_join(problems: list[str]) -> str:
    text = " ".join(problems)
    if len(text) > MAX_DESCRIPTION_LENGTH:
        text = text[: MAX_DESCRIPTION_LENGTH - 3].rstrip() + "..."
    return text


def _state_words(country: str, state: str) -> str:
    name = state_name(country, state)
    return f"{name} ({state})" if name != state else state


def _postal_problems(address: AddressToCheck, country: str, state: str) -> tuple[list[str], str]:
    """Problems with the postal code, and its canonical spelling ("" when unknown)."""
    code = address.postal_code.strip()
    form = POSTAL_FORMATS.get(country)
    if form is None:
        return [], code
    if not code:
        return [f"The {form.noun} is missing: {country_name(country)} addresses need one."], ""
    upper = code.upper()
    if not form.pattern.fullmatch(upper):
        return [
            f"{form.noun[0].upper()}{form.noun[1:]} '{_echo(code)}' is not a valid "
            f"{form.adjective} {form.noun} ({form.shape})."
        ], ""
    canonical = form.canonical(upper)
    problems: list[str] = []
    regions = (
        _US_ZIP_REGIONS.get(canonical[0])
        if country == "US"
        else _CA_POSTAL_REGIONS.get(canonical[0])
        if country == "CA"
        else None
    )
    if regions is not None and state and state not in regions:
        noun = "state" if country == "US" else "province"
        problems.append(
            f"{form.noun[0].upper()}{form.noun[1:]} {canonical} is not in "
            f"{_state_words(country, state)}; check the {noun} and the {form.noun}."
        )
    return problems, canonical


class OfflineVerifier:
    """The default verifier: completeness, country and state, postal-code format (see the
    module docstring). Needs no network and no settings."""

    name = "offline"

    def verify(self, address: AddressToCheck) -> CheckResult:
        try:
            return self._verify(address)
        except Exception as exc:  # the contract: a verifier never raises
            return CheckResult(
                ok=False,
                verifier=self.name,
                description="The address could not be read; please enter it again.",
                note=f"Offline check failed on unexpected input ({type(exc).__name__}).",
            )

    def _verify(self, address: AddressToCheck) -> CheckResult:
        problems: list[str] = []
        if not address.name.strip():
            problems.append("The recipient's name is missing.")
        street = address.address.strip()
        if not street:
            problems.append("The street address is missing.")
        if not address.city.strip():
            problems.append("The city is missing.")
        try:
            country = normalize_country(address.country)
        except AddressError as exc:
            problems.append(exc.message)
            return CheckResult(
                ok=False, verifier=self.name, description=_sentence_join(problems), note=""
            )
        state = ""
        try:
            state = normalize_state(country, address.state)
        except AddressError as exc:
            problems.append(exc.message)
        postal, canonical = _postal_problems(address, country, state)
        problems += postal
        no_number = street and not any(ch.isdigit() for ch in street)
        if country == "US" and no_number and not _US_NO_NUMBER_OK.search(street):
            problems.append(f"The street address '{_echo(street)}' has no house number.")
        if problems:
            return CheckResult(ok=False, verifier=self.name, description=_sentence_join(problems))
        normalized = replace(
            address,
            country=country,
            state=state,
            postal_code=canonical or address.postal_code.strip(),
        )
        return CheckResult(
            ok=True,
            verifier=self.name,
            note="Offline check passed.",
            suggestion=normalized if normalized != address else None,
        )


def configured_verifier() -> AddressVerifier:
    """The verifier PRESSRUN_ADDRESS_VERIFIER names: "offline" (the default) or "easypost"
    (needs PRESSRUN_EASYPOST_API_KEY). Raises ImproperlyConfigured otherwise."""
    name = str(getattr(settings, "ADDRESS_VERIFIER", "offline") or "offline").strip().lower()
    if name == "offline":
        return OfflineVerifier()
    if name == "easypost":
        from pressrun.fulfillment.address.easypost import EasyPostVerifier

        return EasyPostVerifier.from_settings()
    raise ImproperlyConfigured(
        f"PRESSRUN_ADDRESS_VERIFIER is {name[:30]!r}; use one of {', '.join(VERIFIERS)}."
    )
