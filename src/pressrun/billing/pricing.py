"""What an order costs the publisher: project prices plus shipping from the price list."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pressrun.billing.models import Region, ShippingRate
from pressrun.core.errors import DomainError
from pressrun.core.money import to_money
from pressrun.core.prepared import PreparedRowRead, RowAsRead
from pressrun.core.row_cache import CachedRows
from pressrun.orders.address import DOMESTIC_COUNTRY


class PriceListIncomplete(DomainError):
    """The shipping price list has no rate for this method and region."""


@dataclass(frozen=True)
class Quote:
    products: Decimal
    shipping: Decimal

    @property
    def total(self) -> Decimal:
        return self.products + self.shipping


# Read on every order: compiled once per process (core/prepared.py), the same query as
# ShippingRate.objects.filter(shipping_method=..., region=...).first().
_shipping_rate = PreparedRowRead(ShippingRate, keys=("shipping_method", "region"), order_by=("pk",))
# The same rows kept as read, for a write that requires them unchanged (core/row_cache.py):
# intake's. (method, region) is unique: a rate for them is this row or none.
shipping_rates_cached = CachedRows(_shipping_rate, size=64)


def region_for(country: str) -> str:
    return Region.DOMESTIC if country == DOMESTIC_COUNTRY else Region.INTERNATIONAL


def quote(
    *,
    lines: list[tuple[Decimal, int]],
    shipping_method: str,
    country: str,
    read: list[RowAsRead] | None = None,
) -> Quote:
    """Price (unit price, quantity) lines shipped by `shipping_method` to `country`.

    With `read`, the rate may come from this process's memory (`shipping_rates_cached`), and
    the row as read is added to `read`: the caller's write must then require it unchanged."""
    products = to_money(sum((price * quantity for price, quantity in lines), Decimal(0)))
    units = sum(quantity for _, quantity in lines)
    region = region_for(country)
    rate: ShippingRate | None
    if read is None:
        rate = _shipping_rate.get(shipping_method, region)
    elif found := shipping_rates_cached.get(shipping_method, region):
        rate, seen = found
        read.append(seen)
    else:
        rate = None
    if rate is None:
        raise PriceListIncomplete(
            f"The shipping price list has no {shipping_method} rate for {region} orders."
        )
    shipping = to_money(rate.first_unit + rate.each_additional_unit * max(units - 1, 0))
    return Quote(products=products, shipping=shipping)
