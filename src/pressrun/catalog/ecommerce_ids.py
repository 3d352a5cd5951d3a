"""The eCommerce ID String: which cart product IDs / SKUs order a project.

Forms (docs/catalog.md has the full description and every error message):

- ``<5000-A> <6000-B> <7150>``  1ShoppingCart SKUs in angle brackets
- ``{294010}{298020}``          SamCart product IDs / Shopify SKUs in braces
- ``7150`` or ``ABC-1``         one bare ID

Entries may be mixed (``<A>{B}``) and separated by whitespace, newlines or commas. Inside
brackets an ID is taken as written (inner spaces and commas included), only trimmed.
Positions in messages count characters from 1 in the text as given.

This module is pure (no models) so that migrations can use it too.
"""

from __future__ import annotations

import unicodedata

from pressrun.core.errors import DomainError

MAX_ID_LENGTH = 100
MAX_IDS = 200
# Longest lookup key kept; NFKC can expand a character, so this is above MAX_ID_LENGTH.
MAX_KEY_LENGTH = 400

_CLOSER = {"<": ">", "{": "}"}
_BRACKETS = frozenset("<>{}")
# Whitespace that may separate entries; tab and line breaks may not appear inside an ID.
_LINE_WHITESPACE = frozenset("\t\n\r\u2028\u2029")


ECOMMERCE_IDS_MAX_LENGTH = 1000  # the whole string, as a project stores it


class EcommerceIdsInvalid(DomainError):
    """The eCommerce ID String is malformed; `message` says what and where."""


def cart_id_key(cart_id: str) -> str:
    """The lookup form of a cart ID: trimmed, NFKC-normalized and case-folded.

    SKUs are typed by people on two sides (the cart and pressrun), so "5000-a", "5000-A" and
    "5000-A" in full-width characters (an East Asian keyboard) must all find the same project.
    """
    text = unicodedata.normalize("NFKC", cart_id.strip())
    return unicodedata.normalize("NFKC", text.casefold()).strip()


def _is_separator(char: str) -> bool:
    return char in " ,\t\n\r\u2028\u2029" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls, Cf: invisible formatting (zero-width space, BOM, bidi marks),
    # Cs: lone surrogates. Any of them would make an ID silently unmatchable.
    return unicodedata.category(char) in ("Cc", "Cf", "Cs") and char not in _LINE_WHITESPACE


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"


class _Collector:
    """IDs in order, de-duplicated by lookup key, with the limits checked as they arrive."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.keys: set[str] = set()

    def add(self, cart_id: str, position: int) -> None:
        if len(cart_id) > MAX_ID_LENGTH:
            raise EcommerceIdsInvalid(
                f"The ID at position {position} has {len(cart_id)} characters; "
                f"an ID may have at most {MAX_ID_LENGTH}."
            )
        key = cart_id_key(cart_id)
        if len(key) > MAX_KEY_LENGTH:
            raise EcommerceIdsInvalid(
                f"The ID at position {position} is too long once normalized; "
                "shorten it or use plain letters and digits."
            )
        if key in self.keys:
            return
        if len(self.ids) == MAX_IDS:
            raise EcommerceIdsInvalid(
                f"More than {MAX_IDS} IDs (the next one is at position {position}); "
                f"a project may list at most {MAX_IDS}."
            )
        self.keys.add(key)
        self.ids.append(cart_id)


def parse_ecommerce_ids(text: str) -> tuple[str, ...]:
    """The cart IDs listed in `text`, in order, trimmed, without case-insensitive repeats.

    Blank text gives (). Raises EcommerceIdsInvalid with a message naming the problem and its
    position, or when `text` is longer than ECOMMERCE_IDS_MAX_LENGTH. Pure and linear in the
    length of `text`.
    """
    if len(text) > ECOMMERCE_IDS_MAX_LENGTH:
        raise EcommerceIdsInvalid(
            f"The eCommerce ID String must have at most {ECOMMERCE_IDS_MAX_LENGTH} characters."
        )
    collector = _Collector()
    bare: list[tuple[str, int]] = []
    bracketed = False
    length = len(text)
    index = 0
    while index < length:
        char = text[index]
        if _is_control(char):
            raise EcommerceIdsInvalid(
                f"Control character {_describe(char)} at position {index + 1}; "
                "remove it (IDs may contain only visible characters and spaces)."
            )
        if _is_separator(char):
            index += 1
            continue
        if char in _CLOSER:
            index = _read_bracketed(text, index, collector)
            bracketed = True
            continue
        if char in _BRACKETS:
            opener = "<" if char == ">" else "{"
            raise EcommerceIdsInvalid(
                f"'{char}' at position {index + 1} has no '{opener}' before it; check the brackets."
            )
        start = index
        while index < length and not (
            _is_separator(text[index]) or text[index] in _BRACKETS or _is_control(text[index])
        ):
            index += 1
        bare.append((text[start:index], start + 1))
        if len(bare) > 1:
            # Stop early: the outcome is already an error, and the text may be long.
            break

    if bare and bracketed:
        word, position = bare[0]
        raise EcommerceIdsInvalid(
            f"'{_shorten(word)}' at position {position} is not in brackets but other IDs are; "
            f"wrap every ID in <> or {{}}, e.g. <{_shorten(word)}>."
        )
    if len(bare) > 1:
        (first, first_position), (second, second_position) = bare[0], bare[1]
        raise EcommerceIdsInvalid(
            f"'{_shorten(first)}' (position {first_position}) and '{_shorten(second)}' "
            f"(position {second_position}) are not in brackets, so it is unclear where one ID "
            f"ends; wrap each ID in <>, e.g. <{_shorten(first)}> <{_shorten(second)}>."
        )
    if bare:
        word, position = bare[0]
        collector.add(word, position)
    return tuple(collector.ids)


def _read_bracketed(text: str, start: int, collector: _Collector) -> int:
    """Read the entry opened at `start`; return the index just past its closing bracket."""
    opener = text[start]
    closer = _CLOSER[opener]
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == closer:
            _add_entry(text, start, index, collector)
            return index + 1
        if char in _CLOSER:
            raise EcommerceIdsInvalid(
                f"'{char}' at position {index + 1} is inside the '{opener}' at position "
                f"{start + 1}; brackets cannot be nested. Close each ID with '{closer}' first."
            )
        if char in _BRACKETS:
            raise EcommerceIdsInvalid(
                f"The '{opener}' at position {start + 1} is closed by '{char}' at position "
                f"{index + 1}; use <ID> or {{ID}}."
            )
        if _is_control(char):
            raise EcommerceIdsInvalid(
                f"Control character {_describe(char)} at position {index + 1}; "
                "remove it (IDs may contain only visible characters and spaces)."
            )
        index += 1
    raise EcommerceIdsInvalid(
        f"The '{opener}' at position {start + 1} is never closed; add '{closer}' after the ID."
    )


def _add_entry(text: str, start: int, end: int, collector: _Collector) -> None:
    opener, closer = text[start], text[end]
    begin, finish = _trimmed_span(text, start + 1, end)
    if begin == finish:
        raise EcommerceIdsInvalid(
            f"Empty '{opener}{closer}' at position {start + 1}; "
            "put an ID between the brackets or remove them."
        )
    for index in range(begin, finish):
        if text[index] in _LINE_WHITESPACE:
            raise EcommerceIdsInvalid(
                f"Line break or tab at position {index + 1} inside the ID that starts at "
                f"position {start + 1}; each ID must be on one line."
            )
    collector.add(text[begin:finish], start + 1)


def _trimmed_span(text: str, begin: int, end: int) -> tuple[int, int]:
    """`text[begin:end]` without surrounding whitespace; commas inside brackets are kept."""
    while begin < end and text[begin] != "," and _is_separator(text[begin]):
        begin += 1
    while end > begin and text[end - 1] != "," and _is_separator(text[end - 1]):
        end -= 1
    return begin, end


def _shorten(word: str) -> str:
    return word if len(word) <= 40 else word[:37] + "..."


def ecommerce_ids_with(current: str, cart_id: str) -> str:
    """`current` with `<cart_id>` appended; unchanged when it already lists `cart_id`. A
    single bare ID (no brackets) is put in brackets first, since bare and bracketed IDs cannot
    mix. Raises EcommerceIdsInvalid when `current` does not parse."""
    listed = parse_ecommerce_ids(current)
    if cart_id_key(cart_id) in {cart_id_key(listed_id) for listed_id in listed}:
        return current
    entry = f"<{cart_id}>"
    if not listed:
        return entry
    text = current.strip()
    if not any(char in _BRACKETS for char in text):
        text = f"<{listed[0]}>"
    return f"{text} {entry}"
