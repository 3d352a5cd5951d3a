"""`OrderRequest`: what every channel hands to intake, in one shape.

Channels only translate: they turn the outside world's request into these plain values and
leave every business rule (names, addresses, quantities, duplicates, prices) to intake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class LineRequest:
    project_id: int
    quantity: int


@dataclass(frozen=True)
class RecipientRequest:
    """The address as received; intake normalizes country and state."""

    name: str
    address: str
    city: str
    state: str = ""
    postal_code: str = ""
    country: str = ""
    company: str = ""
    email: str = ""


@dataclass(frozen=True)
class OrderRequest:
    publisher_id: int
    lines: tuple[LineRequest, ...]
    recipient: RecipientRequest
    mode: str
    source: str
    invoice: str = ""
    mail_method: str | None = None  # None: the publisher's default
    special_text: str = ""
    customer_price: Decimal | None = None
    use_price_on_customs_form: bool = False
    send_notification_email: bool | None = None
    external_ref: str = ""
    # The cart's store (Shopify: the shop domain): a publisher may have several, each
    # numbering its orders on its own.
    store: str = ""
    actor: str = field(default="")
