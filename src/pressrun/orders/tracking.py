"""Carriers and their tracking pages: one small table that the tracking email, the customer's
page, the publisher's dashboard and the post-back to the carts all read.

An order's `carrier` is free text, written by whoever shipped it (an operator, a shipping
station's ShipNotice, a CSV import): "USPS", "usps", "UPS", "FedEx", "fedex_ground",
"DHL Express", "stamps_com"… `carrier_for` reads it; a blank carrier is USPS (pressrun's own
mail methods are all USPS services), and a carrier the table does not know has no link: the
customer gets the tracking number without one rather than a link to the wrong company.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Carrier:
    """A carrier pressrun can link to: its short `name` (shown to people, and the tracking
    company sent to the carts), the prefixes its free-text names start with (lower case,
    letters and digits only), and its tracking page, `{}` standing for the tracking number."""

    name: str
    prefixes: tuple[str, ...]
    url_template: str

    def url(self, tracking_id: str) -> str:
        return self.url_template.format(quote(tracking_id.strip(), safe=""))


USPS = Carrier(
    "USPS",
    ("usps", "stampscom", "unitedstatespostal", "firstclass", "prioritymail"),
    "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
)
UPS = Carrier("UPS", ("ups", "unitedparcel"), "https://www.ups.com/track?tracknum={}")
FEDEX = Carrier("FedEx", ("fedex", "federalexpress"), "https://www.fedex.com/fedextrack/?trknbr={}")
DHL = Carrier(
    "DHL",
    ("dhl",),
    "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={}",
)

CARRIERS: tuple[Carrier, ...] = (USPS, UPS, FEDEX, DHL)
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def carrier_for(carrier: str) -> Carrier | None:
    """The carrier an order's free-text `carrier` names: USPS when blank, None when the
    table does not know it."""
    key = _NOT_ALNUM.sub("", carrier.lower())
    if not key:
        return USPS
    for known in CARRIERS:
        if key.startswith(known.prefixes):
            return known
    return None


@dataclass(frozen=True)
class TrackingLink:
    """What to show of a shipment's tracking: the number, the carrier's name as the order
    says it (the table's name when known), and the tracking page ("" when unknown)."""

    tracking_id: str
    carrier: str
    url: str


def tracking_link(*, tracking_id: str, carrier: str) -> TrackingLink | None:
    """The tracking of a shipment; None without a tracking number (a letter)."""
    tracking_id = tracking_id.strip()
    if not tracking_id:
        return None
    known = carrier_for(carrier)
    if known is None:
        return TrackingLink(tracking_id=tracking_id, carrier=" ".join(carrier.split()), url="")
    return TrackingLink(tracking_id=tracking_id, carrier=known.name, url=known.url(tracking_id))
