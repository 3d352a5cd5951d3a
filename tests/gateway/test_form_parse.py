"""The gateway's urlencoded form reading against the standard library's, which it replaced.

`pressrun.gateway.fields._pairs` reads a query string or body without
`urllib.parse.parse_qsl` (whose Python loop over every `%XX` escape was most of a status
call's form reading); `reference_pairs` below is the earlier reading, kept here as the
definition of the fields a request has.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_plus

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pressrun.gateway import errors
from pressrun.gateway.fields import MAX_FIELDS, GatewayFailure, _pairs, _unquoted


def reference_decode(value: str, charset: str | None) -> str:
    raw = value.encode("latin-1")
    if charset and charset not in {"utf-8", "ascii"}:
        return raw.decode(charset, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def reference_pairs(raw: bytes, charset: str | None) -> list[tuple[str, str]]:
    try:
        pairs = parse_qsl(
            raw.decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            encoding="latin-1",
        )
    except ValueError as exc:
        raise GatewayFailure(
            errors.REQUEST_MALFORMED, f"Too many fields (over {MAX_FIELDS})."
        ) from exc
    return [(reference_decode(k, charset), reference_decode(v, charset)) for k, v in pairs]


def outcome(read: object, raw: bytes, charset: str | None) -> object:
    try:
        return read(raw, charset)  # type: ignore[operator]
    except GatewayFailure as failure:
        return ("failure", failure.error.code, failure.detail)


# The bytes that matter to the reading, often; any byte, sometimes.
PIECES = [
    b"%",
    b"%2",
    b"%41",
    b"%e9",
    b"%C3%A9",
    b"%5B%2A%7C%2A%5D",
    b"%zz",
    b"%%",
    b"%g1",
    b"%0",
    b"+",
    b"=",
    b"&",
    b"&&",
    b"\\",
    b"\\x",
    b"\\x41",
    b"\\u00e9",
    b"\\N{BULLET}",
    b"\\n",
    b"\\0",
    b"\\%41",
    b"x",
    b"u",
    b"a",
    b"F",
    b"9",
    b" ",
    b"\xe9",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"\r\n",
    b"[*|*]",
    b"Invoice",
]
bodies = st.one_of(
    st.lists(st.sampled_from(PIECES) | st.binary(max_size=4), max_size=40).map(b"".join),
    st.binary(max_size=200),
)
charsets = st.sampled_from([None, "utf-8", "ascii", "cp1252", "iso-8859-1", "utf-16"])


@settings(max_examples=1000)
@given(bodies, charsets)
@example(b"function=getOrderStatusByInvoice&Invoice=A%5B%2A%7C%2A%5DB", None)
@example(b"a=%&b=%4&c=%4g&d=%%41&e=\\%41&f=\\x41&g=\\\\%5c", None)
@example(b"a=1&a=2&=x&b&&c=&d==&+e+=+f+", None)
@example(b"name=Jos%E9&city=Jos\xe9&x=%C3%A9", None)
@example(b"name=Jos%E9", "utf-8")
def test_same_pairs_as_parse_qsl(raw: bytes, charset: str | None) -> None:
    assert outcome(_pairs, raw, charset) == outcome(reference_pairs, raw, charset)


@settings(max_examples=500)
@given(bodies)
def test_unquoted_is_unquote_plus(raw: bytes) -> None:
    expected = unquote_plus(raw.decode("latin-1"), encoding="latin-1").encode("latin-1")
    assert _unquoted(raw) == expected


@pytest.mark.parametrize("count", [MAX_FIELDS - 1, MAX_FIELDS, MAX_FIELDS + 1])
def test_the_field_limit_is_the_same(count: int) -> None:
    raw = b"&".join(b"f%d=1" % i for i in range(count))
    assert outcome(_pairs, raw, None) == outcome(reference_pairs, raw, None)
    assert outcome(_pairs, raw + b"&", None) == outcome(reference_pairs, raw + b"&", None)
    refused = ("failure", errors.REQUEST_MALFORMED.code, f"Too many fields (over {MAX_FIELDS}).")
    assert (outcome(_pairs, raw + b"&", None) == refused) is (count >= MAX_FIELDS)


def test_escapes_of_the_status_call() -> None:
    raw = b"Invoice=A1%5B%2A%7C%2A%5DB2+%2B%25"
    assert _pairs(raw, None) == [("Invoice", "A1[*|*]B2 +%")]
