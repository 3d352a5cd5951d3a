"""Money is Decimal dollars with two places; never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half up (the way invoices are rounded)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    """'$1,234.50' for display; negative amounts as '-$3.00'."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(to_money(value)):,.2f}"
