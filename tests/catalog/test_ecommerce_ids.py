"""The eCommerce ID String parser: every form the cart specs use, and clear refusals."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pressrun.catalog.ecommerce_ids import (
    MAX_ID_LENGTH,
    MAX_IDS,
    EcommerceIdsInvalid,
    cart_id_key,
    ecommerce_ids_with,
    parse_ecommerce_ids,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 1ShoppingCart: SKUs in angle brackets
        ("<5000-A> <6000-B> <7150>", ("5000-A", "6000-B", "7150")),
        # SamCart: product IDs in braces, no separator
        ("{294010}{298020}", ("294010", "298020")),
        # Shopify Method 1: SKUs in braces
        ("{VTD234-100}{VTD333-200}", ("VTD234-100", "VTD333-200")),
        # one bare ID
        ("7150", ("7150",)),
        ("ABC-1", ("ABC-1",)),
        ("279813", ("279813",)),
        # mixed brackets and separators
        ("<A>{B} <C>", ("A", "B", "C")),
        ("<A>,<B>, {C}", ("A", "B", "C")),
        ("<A>\n<B>\r\n\t{C}\n", ("A", "B", "C")),
        ("<A>\u00a0<B>", ("A", "B")),
        # whitespace around and inside brackets is trimmed, inner spaces and commas kept
        ("  7150  \n", ("7150",)),
        ("< 5000-A >{ 6000-B\t}", ("5000-A", "6000-B")),
        ("<Blue Box, Large>", ("Blue Box, Large",)),
        # blank
        ("", ()),
        ("   \n ", ()),
        (",", ()),
    ],
)
def test_forms(text: str, expected: tuple[str, ...]) -> None:
    assert parse_ecommerce_ids(text) == expected


def test_repeats_are_dropped_ignoring_case_and_the_first_spelling_is_kept() -> None:
    assert parse_ecommerce_ids("<abc-1> {B} <ABC-1> <b> < abc-1 >") == ("abc-1", "B")


def test_case_is_kept_as_written() -> None:
    assert parse_ecommerce_ids("<Sku-One>") == ("Sku-One",)


def test_limits_are_inclusive() -> None:
    longest = "x" * MAX_ID_LENGTH
    assert parse_ecommerce_ids(f"<{longest}>") == (longest,)
    assert parse_ecommerce_ids(longest) == (longest,)
    many = "".join(f"<{n}>" for n in range(MAX_IDS))
    assert len(parse_ecommerce_ids(many)) == MAX_IDS
    # repeats do not count towards the limit
    assert len(parse_ecommerce_ids(many + "<0><1>")) == MAX_IDS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<5000-A", "The '<' at position 1 is never closed; add '>' after the ID."),
        ("<A> {B", "The '{' at position 5 is never closed; add '}' after the ID."),
        ("5000-A>", "'>' at position 7 has no '<' before it; check the brackets."),
        ("<A>}", "'}' at position 4 has no '{' before it; check the brackets."),
        (
            "<A{B}>",
            "'{' at position 3 is inside the '<' at position 1; brackets cannot be nested. "
            "Close each ID with '>' first.",
        ),
        (
            "<<A>>",
            "'<' at position 2 is inside the '<' at position 1; brackets cannot be nested. "
            "Close each ID with '>' first.",
        ),
        ("<A}", "The '<' at position 1 is closed by '}' at position 3; use <ID> or {ID}."),
        ("<A> <>", "Empty '<>' at position 5; put an ID between the brackets or remove them."),
        ("{ \t}", "Empty '{}' at position 1; put an ID between the brackets or remove them."),
        (
            "<A>\x00",
            "Control character U+0000 at position 4; remove it "
            "(IDs may contain only visible characters and spaces).",
        ),
        (
            "<A\x07B>",
            "Control character U+0007 at position 3; remove it "
            "(IDs may contain only visible characters and spaces).",
        ),
        (
            "AB\u200b",
            "Control character U+200B at position 3; remove it "
            "(IDs may contain only visible characters and spaces).",
        ),
        (
            "<5000\nA>",
            "Line break or tab at position 6 inside the ID that starts at position 1; "
            "each ID must be on one line.",
        ),
        (
            "5000-A 6000-B",
            "'5000-A' (position 1) and '6000-B' (position 8) are not in brackets, so it is "
            "unclear where one ID ends; wrap each ID in <>, e.g. <5000-A> <6000-B>.",
        ),
        (
            "A,B",
            "'A' (position 1) and 'B' (position 3) are not in brackets, so it is unclear where "
            "one ID ends; wrap each ID in <>, e.g. <A> <B>.",
        ),
        (
            "<A> B",
            "'B' at position 5 is not in brackets but other IDs are; wrap every ID in <> or {}, "
            "e.g. <B>.",
        ),
        (
            "A{B}",
            "'A' at position 1 is not in brackets but other IDs are; wrap every ID in <> or {}, "
            "e.g. <A>.",
        ),
        (
            "<" + "x" * (MAX_ID_LENGTH + 1) + ">",
            "The ID at position 1 has 101 characters; an ID may have at most 100.",
        ),
        (
            " " + "x" * (MAX_ID_LENGTH + 1),
            "The ID at position 2 has 101 characters; an ID may have at most 100.",
        ),
        (
            "".join(f"<{n}>" for n in range(MAX_IDS + 1)),
            "More than 200 IDs (the next one is at position 891); a project may list at most 200.",
        ),
    ],
)
def test_refusals_name_the_problem_and_position(text: str, message: str) -> None:
    with pytest.raises(EcommerceIdsInvalid) as caught:
        parse_ecommerce_ids(text)
    assert caught.value.message == message


def test_cart_id_key_ignores_case_width_and_surrounding_space() -> None:
    assert cart_id_key(" 5000-a ") == cart_id_key("5000-A") == "5000-a"
    assert cart_id_key("\uff15\uff10\uff10\uff10-\uff21") == "5000-a"  # full-width
    assert cart_id_key("STRASSE") == cart_id_key("Straße")
    assert cart_id_key("5000-A") != cart_id_key("5000-B")


_SYNTAX = st.sampled_from(list("<>{},  \n\t\r\x00\u200b\u00a0Aab9-é"))
_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=_SYNTAX, max_size=60),
    st.lists(st.text(max_size=8), max_size=6).map(lambda ids: "".join(f"<{i}>" for i in ids)),
)


@given(_TEXT)
def test_any_text_parses_to_clean_ids_or_is_refused(text: str) -> None:
    try:
        ids = parse_ecommerce_ids(text)
    except EcommerceIdsInvalid:
        # Refusing is a valid outcome; any other exception fails the test.
        return
    assert len(ids) <= MAX_IDS
    assert len({cart_id_key(cart_id) for cart_id in ids}) == len(ids)
    for cart_id in ids:
        assert cart_id.strip() == cart_id
        assert cart_id
        assert not set(cart_id) & set("<>{}")
        assert len(cart_id) <= MAX_ID_LENGTH
        assert not any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in cart_id)
        assert cart_id in text


_ID = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"),
        blacklist_characters="<>{}",
    ),
    min_size=1,
    max_size=20,
)


@given(st.lists(_ID, max_size=10), st.sampled_from(["<{}>", "{{{}}}"]), st.sampled_from(["", " "]))
def test_bracketed_ids_come_back_in_order_without_repeats(
    ids: list[str], template: str, separator: str
) -> None:
    text = separator.join(template.format(cart_id) for cart_id in ids)
    expected: list[str] = []
    for cart_id in ids:
        if cart_id_key(cart_id) not in {cart_id_key(seen) for seen in expected}:
            expected.append(cart_id)
    assert parse_ecommerce_ids(text) == tuple(expected)


@pytest.mark.parametrize(
    ("current", "cart_id", "expected"),
    [
        ("", "NEW-1", "<NEW-1>"),
        ("  ", "NEW-1", "<NEW-1>"),
        ("5000-A", "NEW-1", "<5000-A> <NEW-1>"),  # a bare ID is bracketed first
        ("<5000-A> <6000-B>", "NEW-1", "<5000-A> <6000-B> <NEW-1>"),
        ("{294010}{298020}", "NEW-1", "{294010}{298020} <NEW-1>"),
        ("<5000-A> <6000-B>", "6000-b", "<5000-A> <6000-B>"),  # already listed, any case
    ],
)
def test_a_cart_id_is_added_to_a_string(current: str, cart_id: str, expected: str) -> None:
    assert ecommerce_ids_with(current, cart_id) == expected
    assert cart_id.upper() in {i.upper() for i in parse_ecommerce_ids(expected)}


def test_adding_to_an_invalid_string_is_refused() -> None:
    with pytest.raises(EcommerceIdsInvalid):
        ecommerce_ids_with("<unclosed", "NEW-1")
