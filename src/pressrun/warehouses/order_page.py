"""The shipping section of the operator's order page (`/operator/floor/orders/<id>`,
`fulfillment.order_page`): the order's shipment once shipped, the way to the form that
marks it shipped (or corrects the shipment), and the ship notices the stations posted for
it. Registered in WarehousesConfig.ready(); reads only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from pressrun.fulfillment.selectors import effective_state
from pressrun.fulfillment.states import state_label
from pressrun.orders.models import FulfillmentState, Mode, Order, ShippingMethod
from pressrun.warehouses.models import ATTENTION_OUTCOMES, ShipNotice

S = FulfillmentState

# The states from which the ship form marks an order shipped (a shipped order's form corrects
# the shipment instead); the move's own rules still decide.
SHIPPABLE_STATES = frozenset({S.READY, S.IN_PRODUCTION, S.PACKED})
NOTICES_SHOWN = 10


def shipping_section(request: HttpRequest, order: Order) -> dict[str, Any] | None:
    """The section's context; None for an order with no physical life (HOLD, test)."""
    if order.mode != Mode.PROD or not order.fulfillment_state:
        return None
    state = effective_state(order)
    notices = list(
        ShipNotice.objects.filter(order=order)
        .select_related("connection")
        .order_by("-last_received_at", "-id")[:NOTICES_SHOWN]
    )
    return {
        "order": order,
        "state": state,
        "state_label": state_label(state),
        "shipped": state == S.SHIPPED,
        "shippable": state in SHIPPABLE_STATES,
        # The export hands a shippable order to the stations once its address passed.
        "checked": order.address_checked_at is not None,
        "letter_rate": order.shipping_method == ShippingMethod.STANDARD,
        "notices": [
            (notice, notice.outcome in ATTENTION_OUTCOMES and notice.resolved_at is None)
            for notice in notices
        ],
    }
