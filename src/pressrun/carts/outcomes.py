"""Recording how a delivery ended: one place for every cart's processor."""

from __future__ import annotations

from django.utils import timezone

from pressrun.carts.models import InboundDelivery

ALREADY_IMPORTED = "This order was already imported."


def delivery_finish(delivery: InboundDelivery, outcome: str, reason: str) -> None:
    """Save `delivery`'s outcome and reason (and its attempts count) as of now. Call under
    the delivery's row lock, in the transaction that did the work."""
    delivery.outcome = outcome
    delivery.reason = reason
    delivery.processed_at = timezone.now()
    delivery.save(update_fields=["outcome", "reason", "processed_at", "attempts"])
