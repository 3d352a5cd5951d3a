"""Row locks taken while processing cart deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from pressrun.carts.models import InboundDelivery
from pressrun.core.locks import lock_own_rows


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
