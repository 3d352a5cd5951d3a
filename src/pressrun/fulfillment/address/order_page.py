"""The address section of the operator's order page (`/operator/floor/orders/<id>`,
`fulfillment.order_page`): what the address check said, a form to report an address
problem (posting to `address_errors:order_report`), and, for an order stopped in address
error, the way to correct it. Registered in FulfillmentConfig.ready(); reads only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from pressrun.fulfillment.address.forms import ReportProblemForm
from pressrun.fulfillment.address.selectors import CHECKABLE_STATES
from pressrun.fulfillment.selectors import effective_state
from pressrun.orders.models import FulfillmentState, Mode, Order

S = FulfillmentState


def address_section(request: HttpRequest, order: Order) -> dict[str, Any] | None:
    """The section's context; None for an order with no physical life (HOLD, test)."""
    if order.mode != Mode.PROD or not order.fulfillment_state:
        return None
    state = effective_state(order)
    return {
        "order": order,
        "state": state,
        "in_error": state == S.ADDRESS_ERROR,
        "reportable": state in CHECKABLE_STATES,
        "checked_at": order.address_checked_at,
        "note": order.address_check_note,
        "form": ReportProblemForm(initial={"order_id": order.id}, auto_id="address-report-%s"),
    }
