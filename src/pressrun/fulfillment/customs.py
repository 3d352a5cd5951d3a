"""What a parcel weighs and what its customs form declares, declared once for the packing
slips (and for anything else that needs a parcel's weight, such as a shipping export).

The spec: "you may assume a standard package (cd or dvd case) is 4oz"; international orders
declare "$6.00" per unit, or the order's nprice when bUsePriceOnCustomsForm=1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pressrun.catalog.models import Packaging
from pressrun.orders.models import Order

# Ounces per unit, packed and in its mailer. A case is the spec's standard package (4 oz); a
# sleeve or a USB ecomailer travels as a letter and weighs about half of it.
STANDARD_PACKAGE_WEIGHT_OZ = Decimal(4)
PACKAGE_WEIGHT_OZ: dict[str, Decimal] = {
    Packaging.SLEEVE: Decimal(2),
    Packaging.JEWEL_CASE: STANDARD_PACKAGE_WEIGHT_OZ,
    Packaging.DVD_CASE: STANDARD_PACKAGE_WEIGHT_OZ,
    Packaging.USB_ECOMAILER: Decimal(2),
}
CUSTOMS_CONTENTS = "CD/DVD/USB media"
CUSTOMS_VALUE_PER_UNIT = Decimal("6.00")
DOMESTIC_COUNTRY = "US"


def unit_weight_oz(packaging: str) -> Decimal:
    """One unit in `packaging` (the standard package weight for a packaging not listed)."""
    return PACKAGE_WEIGHT_OZ.get(packaging, STANDARD_PACKAGE_WEIGHT_OZ)


def parcel_weight_oz(lines: Iterable[tuple[str, int]]) -> Decimal:
    """The weight of a parcel holding `lines` of (packaging, quantity)."""
    return sum((unit_weight_oz(packaging) * quantity for packaging, quantity in lines), Decimal(0))


def is_international(order: Order) -> bool:
    """Whether the parcel crosses a border and needs a customs form."""
    return order.country != DOMESTIC_COUNTRY


@dataclass(frozen=True)
class CustomsDeclaration:
    contents: str
    quantity: int
    value: Decimal  # US dollars
    weight_oz: Decimal


def customs_value(order: Order, units: int) -> Decimal:
    """The declared value: the order's nprice when the publisher asked for it
    (bUsePriceOnCustomsForm=1) and gave one above zero, else $6.00 per unit."""
    price = order.customer_price
    if order.use_price_on_customs_form and price is not None and price > 0:
        return price
    return CUSTOMS_VALUE_PER_UNIT * units


def customs_declaration(order: Order) -> CustomsDeclaration | None:
    """The customs form's data for an international order (None for a domestic one).
    Reads the order's lines and their projects."""
    if not is_international(order):
        return None
    lines = [(line.project.packaging, line.quantity) for line in order.lines.all()]
    units = sum(quantity for _, quantity in lines)
    return CustomsDeclaration(
        contents=CUSTOMS_CONTENTS,
        quantity=units,
        value=customs_value(order, units),
        weight_oz=parcel_weight_oz(lines),
    )
