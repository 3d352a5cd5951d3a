"""Cart products that named no project: recorded once per (publisher, cart, product), with
every kept delivery that carried them, so the publisher sees what to map and a fix can
re-process those deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pressrun.carts.models import InboundDelivery, UnmatchedProduct


@dataclass(frozen=True, slots=True)
class CartProduct:
    """A product as the cart named it: its SKU or product id, and its title."""

    ref: str
    title: str = ""

    def describe(self) -> str:
        return f"'{self.ref}' ({self.title or 'no title'})"


def unmatched_record(*, delivery: InboundDelivery, products: Iterable[CartProduct]) -> None:
    """Record that `delivery` carried these unmatched products (idempotent per delivery).

    One row per (publisher, cart, product ref), created or updated under a row lock (safe
    against concurrent deliveries of the same product); `times_seen` counts distinct
    deliveries. Seeing a product again re-opens it (clears `resolved_at`). Products without a
    ref are not recorded: nothing could be mapped to them.
    """
    now = timezone.now()
    for product in {p.ref[:200]: p for p in products if p.ref}.values():
        ref = product.ref[:200]
        with transaction.atomic():
            row = (
                UnmatchedProduct.objects.select_for_update()
                .filter(publisher_id=delivery.publisher_id, cart=delivery.cart, product_ref=ref)
                .first()
            )
            if row is None:
                try:
                    with transaction.atomic():
                        row = UnmatchedProduct.objects.create(
                            publisher_id=delivery.publisher_id,
                            cart=delivery.cart,
                            product_ref=ref,
                            title=product.title[:300],
                            first_seen_at=now,
                            last_seen_at=now,
                        )
                except IntegrityError:  # recorded by a concurrent delivery a moment ago
                    row = UnmatchedProduct.objects.select_for_update().get(
                        publisher_id=delivery.publisher_id, cart=delivery.cart, product_ref=ref
                    )
                else:
                    row.deliveries.add(delivery)
                    continue
            if row.deliveries.filter(id=delivery.id).exists():
                # A re-processed delivery: not seen anew, but evidently still unmatched.
                if row.resolved_at is not None:
                    UnmatchedProduct.objects.filter(id=row.id).update(resolved_at=None)
                continue
            UnmatchedProduct.objects.filter(id=row.id).update(
                times_seen=F("times_seen") + 1,
                last_seen_at=now,
                resolved_at=None,
                title=product.title[:300] or row.title,
            )
            row.deliveries.add(delivery)
