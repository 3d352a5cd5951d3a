"""Money is Decimal dollars with two places; never float.

Typed amounts (the gateway's nprice, dashboard and admin fields, CLI options) are read by one
strict parser, `parse_money`: ASCII digits, optionally a point and one or two decimals, and
at most one leading dollar sign. Anything a person could read two ways is refused rather
than guessed: `19,95` (a decimal comma, or a thousands separator?), `1,000.00`, `1e3`,
`0.001`, signs, `NaN`, `Infinity`, and digits of other scripts (`١٢`).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# ASCII only: `\d` would also match other scripts' digits, which Decimal() accepts.
_AMOUNT = re.compile(r"\$?([0-9]{1,15}(?:\.[0-9]{1,2})?)")
# What every refusal says, so each channel can quote it.
MONEY_FORMAT_HINT = (
    "use digits with an optional point and at most two decimals, such as 19.95 (no commas, "
    "signs or exponents)"
)


class MoneyFormatError(ValueError):
    """The text is not an amount written the one accepted way; the message says why."""


def parse_money(text: str) -> Decimal:
    """The amount written in `text`, to the cent (`"19.9"` → `Decimal("19.90")`).

    Accepted: surrounding spaces, one leading `$`, then 1 to 15 ASCII digits, optionally
    followed by `.` and one or two digits. Everything else raises MoneyFormatError, so a
    caller never stores a guess. Ranges (minimum, maximum) are the caller's rule.
    """
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        shown = " ".join(text.split())[:30]
        raise MoneyFormatError(f"'{shown}' is not an amount: {MONEY_FORMAT_HINT}.")
    return Decimal(match.group(1)).quantize(CENT)


def is_whole_cents(value: Decimal) -> bool:
    """True for a finite amount with no fraction of a cent (19.95, 19.950; not 19.955)."""
    if not value.is_finite() or value.adjusted() > 20:
        return False  # quantizing so large a number overflows the context's precision
    return value == value.quantize(CENT)


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half up (the way invoices are rounded)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    """'$1,234.50' for display; negative amounts as '-$3.00'."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(to_money(value)):,.2f}"


def amount_text(value: Decimal | float | int | str) -> str:
    """'1234.50': an amount in cents for machines (XML, JSON, CSV): no sign of currency, no
    grouping, two decimals, rounded half up. A float (a money column read from SQLite) is
    read as the decimal it prints as."""
    return f"{to_money(repr(value) if isinstance(value, float) else value):f}"
