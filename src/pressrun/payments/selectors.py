"""Reads for the Billing page's "Add credit": whether online payment is offered, the
amounts it proposes, and the publisher's recent checkouts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from pressrun.accounts.models import Publisher
from pressrun.billing.selectors import HoldSummary
from pressrun.payments import client
from pressrun.payments.models import Checkout


@dataclass(frozen=True)
class AddCreditOffer:
    """What the Billing page offers. `online`: Stripe is set up; else `instructions` (the
    operator's text) say how to pay. `release_all`: the one-click amount that releases every
    HOLD order (the shortfall, raised to the minimum), or None when nothing is on HOLD or it
    is more than one payment may be."""

    online: bool
    minimum: Decimal
    maximum: Decimal
    release_all: Decimal | None
    shortfall: Decimal
    instructions: str


def add_credit_offer(*, holds: HoldSummary) -> AddCreditOffer:
    minimum, maximum = settings.PAYMENT_MINIMUM, settings.PAYMENT_MAXIMUM
    shortfall = holds.shortfall
    release_all = max(shortfall, minimum) if 0 < shortfall <= maximum else None
    return AddCreditOffer(
        online=client.is_configured(),
        minimum=minimum,
        maximum=maximum,
        release_all=release_all,
        shortfall=shortfall,
        instructions=settings.PAYMENT_INSTRUCTIONS,
    )


def recent_checkouts(*, publisher: Publisher, limit: int = 10) -> list[Checkout]:
    return list(Checkout.objects.filter(publisher=publisher).order_by("-created_at", "-id")[:limit])
