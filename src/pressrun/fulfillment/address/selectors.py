"""Reads of the address check and the address errors."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from pressrun.orders.models import FulfillmentState, Mode, Order

S = FulfillmentState

# The states in which an order's address is checked (paid, not yet shipped, not stopped).
CHECKABLE_STATES = frozenset({S.WAITING, S.READY, S.IN_PRODUCTION, S.PACKED})


def address_verified_q() -> Q:
    """Orders whose current address passed an address check (or was accepted as it is by an
    operator after an address error), and that are not stopped for an address problem. The
    shipping export combines it with `ready_q`: an order is handed to shipping only when
    both hold. A corrected address clears the check until the new one has passed."""
    return Q(address_checked_at__isnull=False) & ~Q(fulfillment_state=S.ADDRESS_ERROR)


def orders_awaiting_check() -> QuerySet[Order]:
    """Production orders in a checkable state whose current address has not passed a check
    (the check task was lost, or the order was paid before checks existed), oldest first.
    An order paid at once that the worker has not relayed yet (`orders.relay`) is not one of
    them: the relay queues its check."""
    return (
        Order.objects.filter(
            mode=Mode.PROD,
            fulfillment_state__in=CHECKABLE_STATES,
            address_checked_at__isnull=True,
        )
        .exclude(events__relay_pending=True)
        .order_by("fulfillment_updated_at", "id")
    )


def address_error_orders() -> QuerySet[Order]:
    """Every order stopped for an address problem (any publisher), the longest stopped
    first: the operators' "Address errors" page."""
    return (
        Order.objects.filter(fulfillment_state=S.ADDRESS_ERROR)
        .select_related("publisher")
        .order_by("fulfillment_updated_at", "id")
    )


def address_errors_not_reminded() -> QuerySet[Order]:
    """Orders in address error whose publisher has not been reminded since the order was
    stopped (the reminder sweep's candidates; the per-publisher delay is applied by it)."""
    return address_error_orders().filter(
        Q(address_error_reminded_at__isnull=True)
        | Q(address_error_reminded_at__lt=F("fulfillment_updated_at"))
    )
