"""The one strict money parser: what it takes, what it refuses, and fuzzing both ways."""

from __future__ import annotations

import re
import string
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pressrun.core.forms import MoneyField
from pressrun.core.money import MoneyFormatError, is_whole_cents, parse_money

ACCEPTED = [
    ("0", Decimal("0.00")),
    ("7", Decimal("7.00")),
    ("19.9", Decimal("19.90")),
    ("19.95", Decimal("19.95")),
    ("$19.95", Decimal("19.95")),
    (" 1000.00 ", Decimal("1000.00")),
    ("007.50", Decimal("7.50")),
    ("999999999999999.99", Decimal("999999999999999.99")),
]
REFUSED = [
    "",
    " ",
    "$",
    "19,95",
    "1,000.00",
    "1e3",
    "1E3",
    "0.001",
    "19.955",
    "-1",
    "+1",
    "$-1",
    "-$1",
    "NaN",
    "nan",
    "Infinity",
    "inf",
    "١٢",  # Arabic-Indic digits: Decimal("١٢") is 12
    "\uff11\uff12",  # full-width digits
    "12.",
    ".5",
    "1.2.3",
    "$$5",
    "$ 5",
    "5$",
    "5 00",
    "0x10",
    "1_000",
    "USD 5",
    "1234567890123456",  # 16 digits: no amount is that large
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_amounts(text: str, expected: Decimal) -> None:
    value = parse_money(text)
    assert value == expected
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize("text", REFUSED)
def test_refused_amounts_say_what_is_accepted(text: str) -> None:
    with pytest.raises(MoneyFormatError, match=r"at most two decimals, such as 19\.95"):
        parse_money(text)


ORACLE = re.compile(r"\$?[0-9]{1,15}(\.[0-9]{1,2})?")


@given(st.text(alphabet=string.printable + "١٢\uff13\u066b,.$eE-+ \u00a0", max_size=25))
@example("19,95")
@example("1e3")
@example("0.001")
def test_any_text_is_an_exact_amount_or_refused(text: str) -> None:
    """No input raises anything but MoneyFormatError, and what is accepted is exactly the
    written amount (checked against an independent reading of the digits)."""
    try:
        value = parse_money(text)
    except MoneyFormatError:
        assert not ORACLE.fullmatch(text.strip())
        return
    written = text.strip().lstrip("$")
    assert ORACLE.fullmatch(text.strip())
    whole, _, fraction = written.partition(".")
    cents = int(whole) * 100 + int((fraction + "00")[:2])
    assert value * 100 == cents
    assert is_whole_cents(value)


@given(
    st.decimals(min_value=0, max_value=Decimal("999999999999999.99"), places=2),
    st.booleans(),
)
def test_every_amount_printed_plainly_reads_back(amount: Decimal, dollar: bool) -> None:
    text = ("$" if dollar else "") + f"{amount:.2f}"
    assert parse_money(text) == amount


@given(st.text(alphabet="0123456789", min_size=1, max_size=4), st.sampled_from([",", "e", "-"]))
def test_separators_signs_and_exponents_are_always_refused(digits: str, mark: str) -> None:
    for text in (f"{digits}{mark}{digits}", f"{mark}{digits}"):
        with pytest.raises(MoneyFormatError):
            parse_money(text)


def test_whole_cents() -> None:
    assert is_whole_cents(Decimal("19.950"))
    assert not is_whole_cents(Decimal("19.955"))
    assert not is_whole_cents(Decimal("NaN"))
    assert not is_whole_cents(Decimal("1e400"))


def test_the_form_field_uses_the_parser_and_the_limits() -> None:
    field = MoneyField(min_value=Decimal("5.00"), max_value=Decimal("10000.00"))
    assert field.clean("$25") == Decimal("25.00")
    for bad, message in [
        ("1e3", "is not an amount"),
        ("19,95", "is not an amount"),
        ("4.99", "Enter at least $5.00."),
        ("10000.01", "Enter at most $10,000.00."),
    ]:
        with pytest.raises(Exception, match=re.escape(message)):
            field.clean(bad)
    assert MoneyField(required=False).clean("") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.5"), "12.50"),
        (Decimal("0"), "0.00"),
        (Decimal("-1.1"), "-1.10"),
        (Decimal("1234567.891"), "1234567.89"),
        (Decimal("0.005"), "0.01"),  # half up, like invoices
        (Decimal("1E+3"), "1000.00"),
        (2.675, "2.68"),  # a float from SQLite, read as it prints
        (1.1, "1.10"),
        (7, "7.00"),
        ("4.5", "4.50"),
    ],
)
def test_amount_text_is_plain_cents(value: Decimal | float | int | str, expected: str) -> None:
    from pressrun.core.money import amount_text

    assert amount_text(value) == expected
