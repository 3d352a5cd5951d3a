"""Row locks taken while processing cart deliveries."""

from __future__ import annotations

from typing import cast

from django.db.models import QuerySet

from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery
from pressrun.core.locks import lock_own_rows
from pressrun.core.prepared import PreparedRowRead


def deliveries_for_update() -> QuerySet[InboundDelivery]:
    """InboundDelivery rows to read under SELECT ... FOR UPDATE, locking the deliveries' rows
    only, even when the query joins the publisher (`select_related("publisher")`).

    A plain FOR UPDATE over that join would lock the publisher row as well, so every delivery
    of one publisher would wait for the one being processed. Processing needs no lock on the
    publisher: it only reads the publisher's settings, the balance changes solely through
    billing's conditional `UPDATE ... WHERE balance >= cost` (which takes the row lock itself,
    from the debit to the commit), and releasing HOLD orders takes its own publisher lock
    (billing/services.py).
    """
    return lock_own_rows(InboundDelivery.objects.all())


# Compiled once per process (core.prepared): read inside a delivery's transaction, on SQLite
# under the database's write lock, where building the joined queryset cost about half a
# millisecond a delivery (docs/performance.md, "seventeenth round").
_delivery_locked = PreparedRowRead(InboundDelivery, for_update=True)
_publisher_of_delivery = PreparedRowRead(Publisher)


def delivery_locked_with_publisher(delivery_id: int) -> InboundDelivery:
    """The delivery under its row lock, with its publisher: what
    `deliveries_for_update().select_related("publisher").get(id=...)` reads, in two compiled
    statements, the delivery's row locked first. The publisher's row is not locked, as
    there (see `deliveries_for_update`). Raises InboundDelivery.DoesNotExist."""
    delivery = delivery_locked_with_publisher_or_none(delivery_id)
    if delivery is None:
        raise InboundDelivery.DoesNotExist(f"No delivery {delivery_id}.")
    return delivery


def delivery_locked_with_publisher_or_none(delivery_id: int) -> InboundDelivery | None:
    """`delivery_locked_with_publisher`, None when no delivery has this id."""
    delivery = cast(InboundDelivery | None, _delivery_locked.get(delivery_id))
    if delivery is not None:
        publisher = _publisher_of_delivery.get(delivery.publisher_id)
        if publisher is None:  # cannot happen: the delivery's foreign key
            raise Publisher.DoesNotExist(f"No publisher {delivery.publisher_id}.")
        delivery.publisher = publisher
    return delivery
