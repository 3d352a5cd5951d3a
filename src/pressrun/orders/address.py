"""Normalize the country and state/province of a shipping address.

Addresses arrive from the legacy order gateway (publishers' scripts) and from
shopping carts, so the values are written every which way: ``"us"``,
``"U.S.A."``, ``"united states of america"``, ``"Untied States"``,
``"new  york"``, ``"Québec"``.  This module turns them into ISO 3166-1 alpha-2
country codes and, for the United States and Canada, 2-letter state/province
codes, or refuses them with an :class:`AddressError` whose message can be shown
to the publisher verbatim.

Design notes:

* All lookup tables are built once, on first use (`_tables`): not at import,
  because every `pressrun` process imports this module and most never read an
  address (building them costs about 0.15 s of CPU).  The common case (a code or a
  name spelled the usual way) is a single dict lookup on the raw value; the
  next most common case (odd case, punctuation, accents, extra spaces) is one
  key normalization plus a dict lookup.
* Misspellings are matched conservatively with :mod:`difflib` (high cutoff,
  small length difference, refusal when two places are about equally close)
  plus single adjacent transpositions ("Frnace").  Short strings (under five
  letters) are never fuzzy-matched, and values longer than
  :data:`MAX_RAW_LENGTH` are refused before any work is done.
* "Combined" values that give both the code and the name ("IT (Italy)",
  "MN Minnesota") are refused: the field must hold exactly one of them.
* Nothing but :class:`AddressError` is ever raised, whatever the input.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final, NamedTuple

import pycountry

__all__ = [
    "DOMESTIC_COUNTRY",
    "MAX_RAW_LENGTH",
    "AddressError",
    "country_name",
    "normalize_country",
    "normalize_state",
    "state_name",
]

DOMESTIC_COUNTRY = "US"

#: Raw values longer than this are refused without any matching.
MAX_RAW_LENGTH: Final = 100
#: At most this many characters of the raw value are echoed in a message.
_ECHO_LIMIT: Final = 60
#: difflib ratio a misspelling must reach to be accepted.
_FUZZY_CUTOFF: Final = 0.85
#: A second, different place this close to the best match makes it ambiguous.
_FUZZY_MARGIN: Final = 0.05
#: Normalized values shorter than this are never fuzzy-matched.
_FUZZY_MIN_LENGTH: Final = 5
#: A misspelling may differ in length from the name by at most this much.
_FUZZY_MAX_LENGTH_DIFF: Final = 2
#: Score given to a single adjacent transposition ("Frnace" -> "France").
_TRANSPOSITION_SCORE: Final = 0.95

# Control characters (whitespace controls are collapsed before this is
# applied) and lone surrogates, which cannot be stored or encoded.
_BAD_CHARS: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Removed outright when building a matching key: "U.S.A." -> "usa",
# "Côte d'Ivoire" -> "cote divoire".
_DROPPED_CHARS: Final = str.maketrans("", "", ".'`\u2018\u2019\u02bc\u00b4")


class AddressError(ValueError):
    """A human-readable reason the address part was refused; `field` is 'country' or 'st'."""

    field: str
    message: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[AddressError], tuple[str, str]]:
        return (type(self), (self.field, self.message))


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


def _collapse(text: str) -> str:
    """Strip and collapse all runs of (Unicode) whitespace to one space."""
    return " ".join(text.split())


def _key(text: str) -> str:
    """The matching key of `text`: accents stripped, case folded, punctuation
    dropped or turned into spaces, whitespace collapsed, a leading "the"
    removed.  "  The U.S.A. " -> "usa", "Guinea-Bissau" -> "guinea bissau"."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    folded = folded.replace("&", " and ").translate(_DROPPED_CHARS)
    words = "".join(ch if ch.isalnum() else " " for ch in folded).split()
    if len(words) > 1 and words[0] == "the":
        del words[0]
    return " ".join(words)


def _echo(text: str) -> str:
    """`text` made safe to quote in a message: whitespace collapsed,
    unprintable characters replaced, at most 60 characters kept."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in _collapse(text[:1000]))
    if len(cleaned) > _ECHO_LIMIT:
        return cleaned[:_ECHO_LIMIT] + "..."
    return cleaned


def _quote(text: str) -> str:
    return f"'{_echo(text)}'"


def _transpositions(key: str) -> Iterator[str]:
    """Every string obtained by swapping two adjacent, different characters."""
    for i in range(len(key) - 1):
        if key[i] != key[i + 1]:
            yield key[:i] + key[i + 1] + key[i] + key[i + 2 :]


# ---------------------------------------------------------------------------
# Lookup tables
# ---------------------------------------------------------------------------

# Priority tiers: when two entries produce the same key, the lower tier wins;
# two different places on the same tier make the key ambiguous.
_TIER_CODE: Final = 0
_TIER_ALIAS: Final = 1
_TIER_NAME: Final = 2
_TIER_DERIVED: Final = 3


@dataclass(frozen=True, eq=False)
class _Table:
    """Everything needed to resolve one kind of value (countries, US states...)."""

    #: matching key -> code, for keys that name exactly one place.
    by_key: dict[str, str]
    #: matching key -> the codes it could mean, for keys that name several.
    ambiguous: dict[str, tuple[str, ...]]
    #: raw spellings that are known to resolve -> code (the hot path).
    fast: dict[str, str]
    #: lower-case code tokens ("it", "ita", "mn") -> code, to spot "IT Italy".
    code_words: dict[str, str]
    #: fuzzy candidates: key length -> [(key, codes)].
    names_by_length: dict[int, list[tuple[str, tuple[str, ...]]]]
    #: code -> name used in messages.
    display: dict[str, str]


def _build_table(
    entries: Iterable[tuple[int, str, str]],
    code_words: dict[str, str],
    display: dict[str, str],
    raw_spellings: Iterable[tuple[str, str]] = (),
) -> _Table:
    """Build a table from (tier, text, code) entries."""
    best: dict[str, tuple[int, set[str]]] = {}
    for tier, text, code in entries:
        key = _key(text)
        if not key:
            continue
        current = best.get(key)
        if current is None or tier < current[0]:
            best[key] = (tier, {code})
        elif tier == current[0]:
            current[1].add(code)

    by_key: dict[str, str] = {}
    ambiguous: dict[str, tuple[str, ...]] = {}
    for key, (_tier, codes) in best.items():
        if len(codes) == 1:
            by_key[key] = next(iter(codes))
        else:
            ambiguous[key] = tuple(sorted(codes))

    names_by_length: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    for key, code in by_key.items():
        if len(key) >= 4 and key not in code_words:
            names_by_length.setdefault(len(key), []).append((key, (code,)))
    for key, candidates in ambiguous.items():
        if len(key) >= 4:
            names_by_length.setdefault(len(key), []).append((key, candidates))

    # Raw spellings for the hot path.  Only spellings whose key really
    # resolves to the same code are kept, so the fast path can never
    # disagree with the slow one.
    fast: dict[str, str] = {}

    def add_fast(spelling: str, code: str) -> None:
        if by_key.get(_key(spelling)) == code and len(spelling) <= MAX_RAW_LENGTH:
            fast[spelling] = code

    for key, code in by_key.items():
        for spelling in (key, key.upper(), key.title(), key.capitalize()):
            add_fast(spelling, code)
    for spelling, code in raw_spellings:
        add_fast(spelling, code)

    return _Table(
        by_key=by_key,
        ambiguous=ambiguous,
        fast=fast,
        code_words=code_words,
        names_by_length=names_by_length,
        display=display,
    )


def _derived_names(name: str) -> Iterator[str]:
    """Everyday variants of an ISO name: "Korea, Republic of" -> "Korea" and
    "Republic of Korea"; "Holy See (Vatican City State)" -> "Holy See";
    "Saint Lucia" -> "St Lucia"."""
    variants = {name}
    without_parens = _collapse(re.sub(r"\([^)]*\)", " ", name))
    variants.add(without_parens)
    if "," in without_parens:
        head, _, tail = without_parens.partition(",")
        variants.add(head)
        variants.add(f"{tail} {head}")
    for variant in list(variants):
        if variant.lower().startswith("saint "):
            variants.add("St " + variant[6:])
    variants.discard(name)
    yield from variants


# --- Countries -------------------------------------------------------------

# Common, historical and native names that ISO does not list.  Keys go
# through _key(), so case, accents and punctuation do not matter here.
_COUNTRY_ALIASES: Final[dict[str, str]] = {
    # United Kingdom (UK is reserved, not ISO, but universal).
    "UK": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    # United States.
    "U S": "US",
    "U S A": "US",
    "America": "US",
    "United States of America": "US",
    "Estados Unidos": "US",
    "Estados Unidos de America": "US",
    "Etats-Unis": "US",
    # Europe.
    "Holland": "NL",
    "Nederland": "NL",
    "Deutschland": "DE",
    "Bundesrepublik Deutschland": "DE",
    "España": "ES",
    "Italia": "IT",
    "Belgie": "BE",
    "Belgique": "BE",
    "Belgien": "BE",
    "Schweiz": "CH",
    "Suisse": "CH",
    "Svizzera": "CH",
    "Österreich": "AT",
    "Sverige": "SE",
    "Norge": "NO",
    "Danmark": "DK",
    "Suomi": "FI",
    "Polska": "PL",
    "Czech Republic": "CZ",
    "Česko": "CZ",
    "Česká republika": "CZ",
    "Slovensko": "SK",
    "Slovak Republic": "SK",
    "Magyarország": "HU",
    "Hellas": "GR",
    "Ελλάδα": "GR",
    "Éire": "IE",
    "Republic of Ireland": "IE",
    "Hrvatska": "HR",
    "Srbija": "RS",
    "Russia": "RU",
    "Россия": "RU",
    "Ukraina": "UA",
    "Україна": "UA",
    "Bosnia": "BA",
    "Moldavia": "MD",
    "Macedonia": "MK",
    "Turkey": "TR",
    "Vatican": "VA",
    "Vatican City": "VA",
    # Asia / Pacific.
    "Korea": "KR",
    "South Korea": "KR",
    "Korea South": "KR",
    "Republic of Korea": "KR",
    "대한민국": "KR",
    "한국": "KR",
    "North Korea": "KP",
    "Korea North": "KP",
    "DPRK": "KP",
    "Vietnam": "VN",
    "Laos": "LA",
    "Lao PDR": "LA",
    "Burma": "MM",
    "East Timor": "TL",
    "Brunei": "BN",
    "Macau": "MO",
    "Hong Kong SAR": "HK",
    "PRC": "CN",
    "Mainland China": "CN",
    "Zhongguo": "CN",
    "中国": "CN",
    "Nippon": "JP",
    "Nihon": "JP",
    "日本": "JP",
    "Bharat": "IN",
    "Pilipinas": "PH",
    "Aotearoa": "NZ",
    "UAE": "AE",
    "Emirates": "AE",
    "KSA": "SA",
    "Syria": "SY",
    "Iran": "IR",
    "Palestine": "PS",
    "Micronesia": "FM",
    # Americas.
    "Brasil": "BR",
    "México": "MX",
    "Estados Unidos Mexicanos": "MX",
    "Bolivia": "BO",
    "Venezuela": "VE",
    "St Barts": "BL",
    "Saint Kitts": "KN",
    "Saint Vincent": "VC",
    "St Barths": "BL",
    "British Virgin Islands": "VG",
    "US Virgin Islands": "VI",
    "United States Virgin Islands": "VI",
    # Africa.
    "Ivory Coast": "CI",
    "Cape Verde": "CV",
    "Swaziland": "SZ",
    "Tanzania": "TZ",
    "RSA": "ZA",
    "DRC": "CD",
    "DR Congo": "CD",
    "Democratic Republic of Congo": "CD",
    "Congo-Kinshasa": "CD",
    "Congo-Brazzaville": "CG",
    "Republic of Congo": "CG",
}

# Values that plausibly mean more than one country: refused with a message
# naming the candidates rather than guessed.
_COUNTRY_AMBIGUOUS: Final[tuple[tuple[str, str], ...]] = (
    ("Virgin Islands", "VG"),
    ("Virgin Islands", "VI"),
    ("Dominican", "DM"),
    ("Dominican", "DO"),
)


# Names for messages where ISO's (and pycountry's common name) read badly.
_COUNTRY_DISPLAY: Final[dict[str, str]] = {
    "CD": "Democratic Republic of the Congo",
    "FM": "Micronesia",
    "PS": "Palestine",
    "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
}


def _build_countries() -> _Table:
    entries: list[tuple[int, str, str]] = []
    code_words: dict[str, str] = {"uk": "GB"}
    display: dict[str, str] = {}
    raw: list[tuple[str, str]] = []
    for country in pycountry.countries:
        code = str(country.alpha_2)
        alpha_3 = str(country.alpha_3)
        names = [str(country.name)]
        for attr in ("common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                names.append(str(value))
        display[code] = _COUNTRY_DISPLAY.get(code) or str(
            getattr(country, "common_name", None) or country.name
        )
        code_words[code.lower()] = code
        code_words[alpha_3.lower()] = code
        entries.append((_TIER_CODE, code, code))
        entries.append((_TIER_CODE, alpha_3, code))
        raw.extend((spelling, code) for spelling in (code, alpha_3))
        for name in names:
            entries.append((_TIER_NAME, name, code))
            raw.append((name, code))
            entries.extend((_TIER_DERIVED, variant, code) for variant in _derived_names(name))
    entries.append((_TIER_CODE, "UK", "GB"))
    for alias, code in _COUNTRY_ALIASES.items():
        entries.append((_TIER_ALIAS, alias, code))
        raw.append((alias, code))
        entries.extend((_TIER_DERIVED, variant, code) for variant in _derived_names(alias))
    entries.extend((_TIER_ALIAS, alias, code) for alias, code in _COUNTRY_AMBIGUOUS)
    return _build_table(entries, code_words, display, raw)


# --- US states and Canadian provinces ----------------------------------------

# USPS codes that are not ISO 3166-2:US subdivisions: armed forces and the
# freely associated states, which USPS handles as domestic mail.
_US_EXTRA: Final[dict[str, str]] = {
    "AA": "Armed Forces Americas",
    "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
    "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands",
    "PW": "Palau",
}
# ISO 3166-2:US subdivisions that have no USPS state code.
_US_EXCLUDED: Final = frozenset({"UM"})
_US_DISPLAY: Final[dict[str, str]] = {"VI": "U.S. Virgin Islands"}
_US_ALIASES: Final[dict[str, str]] = {
    "Washington DC": "DC",
    "Washington D.C.": "DC",
    "Washington District of Columbia": "DC",
    "Washington State": "WA",
    "New York State": "NY",
    "Virgin Islands": "VI",
    "US Virgin Islands": "VI",
    "United States Virgin Islands": "VI",
    "Micronesia": "FM",
    "Armed Forces Americas except Canada": "AA",
    "Armed Forces Africa": "AE",
    "Armed Forces Canada": "AE",
    "Armed Forces Middle East": "AE",
    # Traditional (AP style) abbreviations.
    "Ala": "AL",
    "Ariz": "AZ",
    "Ark": "AR",
    "Calif": "CA",
    "Colo": "CO",
    "Conn": "CT",
    "Del": "DE",
    "Fla": "FL",
    "Ill": "IL",
    "Ind": "IN",
    "Kan": "KS",
    "Kans": "KS",
    "Mass": "MA",
    "Mich": "MI",
    "Minn": "MN",
    "Miss": "MS",
    "Mont": "MT",
    "Neb": "NE",
    "Nebr": "NE",
    "Nev": "NV",
    "N Mex": "NM",
    "N Dak": "ND",
    "S Dak": "SD",
    "Okla": "OK",
    "Ore": "OR",
    "Oreg": "OR",
    "Penn": "PA",
    "Penna": "PA",
    "Tenn": "TN",
    "Tex": "TX",
    "Wash": "WA",
    "W Va": "WV",
    "Wis": "WI",
    "Wisc": "WI",
    "Wyo": "WY",
}
# Superseded Canada Post codes still seen in old systems.
_CA_OLD_CODES: Final[dict[str, str]] = {"PQ": "QC", "NF": "NL"}
_CA_ALIASES: Final[dict[str, str]] = {
    "Québec": "QC",
    "Newfoundland": "NL",
    "Nfld": "NL",
    "Yukon Territory": "YT",
    "PEI": "PE",
    "NWT": "NT",
    "Alta": "AB",
    "Sask": "SK",
    "Man": "MB",
    "Ont": "ON",
    "Que": "QC",
    # French names.
    "Colombie-Britannique": "BC",
    "Nouveau-Brunswick": "NB",
    "Nouvelle-Écosse": "NS",
    "Île-du-Prince-Édouard": "PE",
    "Terre-Neuve-et-Labrador": "NL",
    "Terre-Neuve": "NL",
    "Territoires du Nord-Ouest": "NT",
}


def _build_subdivisions(
    country: str,
    *,
    extra_codes: dict[str, str],
    old_codes: dict[str, str],
    aliases: dict[str, str],
    display_overrides: dict[str, str],
    excluded: frozenset[str] = frozenset(),
) -> _Table:
    entries: list[tuple[int, str, str]] = []
    code_words: dict[str, str] = {}
    display: dict[str, str] = {}
    raw: list[tuple[str, str]] = []
    database: Any = pycountry.subdivisions
    subdivisions = [
        (str(sub.code).partition("-")[2], str(sub.name))
        for sub in database.get(country_code=country) or ()
    ]
    subdivisions.extend(extra_codes.items())
    for code, name in subdivisions:
        if code in excluded:
            continue
        display[code] = display_overrides.get(code, name)
        code_words[code.lower()] = code
        for spelling in (code, f"{country}-{code}"):
            entries.append((_TIER_CODE, spelling, code))
            raw.append((spelling, code))
        entries.append((_TIER_NAME, name, code))
        raw.append((name, code))
        entries.extend((_TIER_DERIVED, variant, code) for variant in _derived_names(name))
    for old, code in old_codes.items():
        code_words[old.lower()] = code
        entries.append((_TIER_CODE, old, code))
        raw.append((old, code))
    for alias, code in aliases.items():
        entries.append((_TIER_ALIAS, alias, code))
        raw.append((alias, code))
    return _build_table(entries, code_words, display, raw)


# What the field is called, and an example, for each country with a table.
_STATE_NOUN: Final[dict[str, str]] = {"US": "State", "CA": "Province"}
_STATE_EXAMPLE: Final[dict[str, str]] = {"US": "MN", "CA": "ON"}
_OTHER_STATE_NOUN: Final = "State/province"


class _Tables(NamedTuple):
    countries: _Table
    states: dict[str, _Table]  # by country code: US, CA
    by_name: dict[str, _Table]  # 'country' and the country codes of `states`


@cache
def _tables() -> _Tables:
    """Every lookup table, built on the first call (two threads calling first at once both
    build them, harmlessly: the result is the same)."""
    countries = _build_countries()
    states = {
        "US": _build_subdivisions(
            "US",
            extra_codes=_US_EXTRA,
            old_codes={},
            aliases=_US_ALIASES,
            display_overrides=_US_DISPLAY,
            excluded=_US_EXCLUDED,
        ),
        "CA": _build_subdivisions(
            "CA",
            extra_codes={},
            old_codes=_CA_OLD_CODES,
            aliases=_CA_ALIASES,
            display_overrides={},
        ),
    }
    return _Tables(countries, states, {"country": countries, **states})


# ---------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------


class _Outcome(NamedTuple):
    """How a matching key resolved.  `kind` is 'ok' (codes has one element),
    'ambiguous' (the candidates), 'combined' (the code given, the code the
    rest names) or 'unknown' (empty)."""

    kind: str
    codes: tuple[str, ...] = ()


_UNKNOWN: Final = _Outcome("unknown")


def _fuzzy(table: _Table, key: str) -> tuple[str, ...]:
    """Codes of the places `key` is a likely misspelling of: one code, two or
    more (ambiguous), or none."""
    if len(key) < _FUZZY_MIN_LENGTH:
        return ()
    scores: dict[str, float] = {}

    def score(code: str, value: float) -> None:
        if value > scores.get(code, 0.0):
            scores[code] = value

    for variant in _transpositions(key):
        code = table.by_key.get(variant)
        if code is not None and variant not in table.code_words:
            score(code, _TRANSPOSITION_SCORE)

    candidates: dict[str, tuple[str, ...]] = {}
    for length in range(len(key) - _FUZZY_MAX_LENGTH_DIFF, len(key) + _FUZZY_MAX_LENGTH_DIFF + 1):
        candidates.update(table.names_by_length.get(length, ()))
    matches = difflib.get_close_matches(key, list(candidates), n=8, cutoff=_FUZZY_CUTOFF)
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(key)
    for match in matches:
        matcher.set_seq1(match)
        ratio = matcher.ratio()
        for code in candidates[match]:
            score(code, ratio)

    if not scores:
        return ()
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best_score = ranked[0][1]
    return tuple(code for code, value in ranked if value >= best_score - _FUZZY_MARGIN)


def _match(table: _Table, key: str) -> tuple[str, ...]:
    """Exact, then fuzzy: the codes `key` may mean (empty: none)."""
    code = table.by_key.get(key)
    if code is not None:
        return (code,)
    ambiguous = table.ambiguous.get(key)
    if ambiguous is not None:
        return ambiguous
    return _fuzzy(table, key)


def _combined(table: _Table, key: str) -> tuple[str, str] | None:
    """("IT", "IT") for "it italy" / "italy it": a code word at either end
    and a recognizable place in the rest.  The second code is '' when the
    rest is ambiguous."""
    words = key.split(" ")
    if len(words) < 2:
        return None
    for code_word, rest in ((words[0], words[1:]), (words[-1], words[:-1])):
        code = table.code_words.get(code_word)
        if code is None:
            continue
        rest_codes = _match(table, " ".join(rest))
        if rest_codes:
            return (code, rest_codes[0] if len(rest_codes) == 1 else "")
    return None


@lru_cache(maxsize=4096)
def _resolve(table_name: str, key: str) -> _Outcome:
    table = _tables().by_name[table_name]
    code = table.by_key.get(key)
    if code is not None:
        return _Outcome("ok", (code,))
    ambiguous = table.ambiguous.get(key)
    if ambiguous is not None:
        return _Outcome("ambiguous", ambiguous)
    combined = _combined(table, key)
    if combined is not None:
        return _Outcome("combined", combined)
    codes = _fuzzy(table, key)
    if len(codes) == 1:
        return _Outcome("ok", codes)
    if codes:
        return _Outcome("ambiguous", codes)
    return _UNKNOWN


def _describe(table: _Table, codes: tuple[str, ...]) -> str:
    """'Australia (AU) or Austria (AT)'."""
    parts = [f"{table.display.get(code, code)} ({code})" for code in codes[:3]]
    return ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

_COUNTRY_HINT: Final = "Use a 2-letter code such as DE, or the full name such as Germany."


def normalize_country(raw: str) -> str:
    """ISO 3166-1 alpha-2 code for `raw` ('' → 'US'), or AddressError('country', ...)."""
    if not isinstance(raw, str):
        raise AddressError("country", "Country must be text. " + _COUNTRY_HINT)
    code = _tables().countries.fast.get(raw)
    if code is not None:
        return code
    return _normalize_country_slow(raw)


def _normalize_country_slow(raw: str) -> str:
    if len(raw) > MAX_RAW_LENGTH:
        raise AddressError(
            "country",
            f"Country {_quote(raw)} was not recognized: it is longer than "
            f"{MAX_RAW_LENGTH} characters. {_COUNTRY_HINT}",
        )
    cleaned = _collapse(raw)
    if not cleaned:
        return DOMESTIC_COUNTRY
    if _BAD_CHARS.search(cleaned):
        raise AddressError(
            "country",
            f"Country {_quote(raw)} was not recognized: it contains control characters. "
            + _COUNTRY_HINT,
        )
    key = _key(cleaned)
    outcome = _resolve("country", key) if key else _UNKNOWN
    if outcome.kind == "ok":
        return outcome.codes[0]
    if outcome.kind == "combined":
        given, named = outcome.codes
        example = named or given
        raise AddressError(
            "country",
            f"Country {_quote(raw)} was not recognized. Use a 2-letter code such as "
            f"{example}, or the full name such as {country_name(example)}, not both.",
        )
    if outcome.kind == "ambiguous":
        raise AddressError(
            "country",
            f"Country {_quote(raw)} was not recognized: it could be "
            f"{_describe(_tables().countries, outcome.codes)}. "
            "Use the 2-letter code or the full name.",
        )
    raise AddressError("country", f"Country {_quote(raw)} was not recognized. {_COUNTRY_HINT}")


def normalize_state(country_code: str, raw: str) -> str:
    """For US/CA: the 2-letter code, AddressError('st', ...) if blank or unknown or combined.
    Otherwise: `raw` with whitespace collapsed (may be '')."""
    country = country_code.strip().upper() if isinstance(country_code, str) else ""
    table = _tables().states.get(country)
    if not isinstance(raw, str):
        noun = _STATE_NOUN.get(country, _OTHER_STATE_NOUN)
        raise AddressError("st", f"{noun} must be text.")
    if table is not None:
        code = table.fast.get(raw)
        if code is not None:
            return code
        return _normalize_subdivision(country, table, raw)
    if len(raw) > MAX_RAW_LENGTH:
        raise AddressError(
            "st",
            f"{_OTHER_STATE_NOUN} {_quote(raw)} was not accepted: it is longer than "
            f"{MAX_RAW_LENGTH} characters.",
        )
    cleaned = _collapse(raw)
    if _BAD_CHARS.search(cleaned):
        raise AddressError(
            "st",
            f"{_OTHER_STATE_NOUN} {_quote(raw)} was not accepted: it contains control characters.",
        )
    return cleaned


def _normalize_subdivision(country: str, table: _Table, raw: str) -> str:
    noun = _STATE_NOUN[country]
    where = country_name(country)
    example = _STATE_EXAMPLE[country]
    hint = (
        f"Use the 2-letter code such as {example}, "
        f"or the full name such as {table.display[example]}."
    )
    if len(raw) > MAX_RAW_LENGTH:
        raise AddressError(
            "st",
            f"{noun} {_quote(raw)} for {where} was not recognized: it is longer than "
            f"{MAX_RAW_LENGTH} characters. {hint}",
        )
    cleaned = _collapse(raw)
    if not cleaned:
        raise AddressError("st", f"{noun} is required for addresses in {where}.")
    if _BAD_CHARS.search(cleaned):
        raise AddressError(
            "st",
            f"{noun} {_quote(raw)} for {where} was not recognized: "
            f"it contains control characters. {hint}",
        )
    key = _key(cleaned)
    outcome = _resolve(country, key) if key else _UNKNOWN
    if outcome.kind == "ok":
        return outcome.codes[0]
    prefix = f"{noun} {_quote(raw)} for {where} was not recognized"
    if outcome.kind == "combined":
        given, named = outcome.codes
        if given == named:
            raise AddressError(
                "st",
                f"{prefix}. Use the 2-letter code ({given}) or the full name "
                f"({table.display[given]}), not both.",
            )
        raise AddressError(
            "st", f"{prefix}. Use either the 2-letter code or the full name, not both."
        )
    if outcome.kind == "ambiguous":
        raise AddressError(
            "st",
            f"{prefix}: it could be {_describe(table, outcome.codes)}. "
            "Use the 2-letter code or the full name.",
        )
    # A valid subdivision of the other country (US state given for Canada...)?
    for other, other_table in _tables().states.items():
        if other == country or not key:
            continue
        code = other_table.by_key.get(key)
        if code is not None:
            raise AddressError(
                "st",
                f"{prefix}: {other_table.display[code]} ({code}) is in "
                f"{country_name(other)}, not {where}. Check the country of the address.",
            )
    raise AddressError("st", f"{prefix}. {hint}")


def country_name(code: str) -> str:
    """English short name for an ISO alpha-2 code (for messages), e.g. 'GB' → 'United Kingdom'.

    The everyday name is preferred where ISO's is awkward ('KR' → 'South
    Korea', 'BO' → 'Bolivia').  An unknown code is returned as given
    (shortened and made printable)."""
    if not isinstance(code, str):
        return ""
    display = _tables().countries.display
    name = display.get(code)
    if name is not None:
        return name
    name = display.get(code.strip().upper())
    return name if name is not None else _echo(code)


def state_name(country_code: str, code: str) -> str:
    """The name of a US state or Canadian province code ('MN' → 'Minnesota'), for messages;
    the code as given for other countries or an unknown code."""
    table = _tables().states.get(country_code)
    name = table.display.get(code) if table is not None else None
    return name or code
