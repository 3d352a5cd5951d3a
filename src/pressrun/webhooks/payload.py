"""The JSON body of every webhook (docs/webhooks.md, "The body"), version 1.

    {
      "id": "evt_…",                  the event's id: the same on every attempt
      "type": "order.shipped",
      "created": "2026-12-04T18:00:00Z",
      "api_version": 1,
      "publisher_id": 1001,
      "test": false,                  true for test-mode orders and the test event
      "order": { … } | null           null only for the test event
    }

New keys may be added; existing ones keep their names and meaning.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pressrun.core.money import amount_text
from pressrun.orders.models import FulfillmentState, Mode, Order, OrderLine, OrderStatus
from pressrun.orders.tracking import tracking_link

API_VERSION = 1
ADDRESS_ERROR_CODE = 10  # the gateway's OrderStatusErrNum for an address error


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, with Z: 2026-12-04T18:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def order_data(order: Order) -> dict[str, Any]:
    """The `order` object of the body, as the order is now."""
    shipped = order.fulfillment_state == FulfillmentState.SHIPPED
    address_error = order.fulfillment_state == FulfillmentState.ADDRESS_ERROR
    lines = OrderLine.objects.filter(order=order).order_by("position")
    return {
        "id": order.id,
        "invoice": order.invoice,
        "mode": order.mode,
        "source": order.source,
        "external_ref": order.external_ref,
        "status": order.status,
        "fulfillment_state": order.fulfillment_state or None,
        "placed_at": utc_timestamp(order.created_at),
        "total_cost": amount_text(order.total_cost),
        "items": [{"project_id": line.project_id, "quantity": line.quantity} for line in lines],
        "shipment": {
            "ship_date": order.ship_date.isoformat() if order.ship_date else None,
            "carrier": order.carrier,
            "service": order.service,
            "tracking_id": order.tracking_id,
            "tracking_url": _tracking_url(order),
        }
        if shipped
        else None,
        "error": {"code": ADDRESS_ERROR_CODE, "description": order.error_description}
        if address_error or order.status == OrderStatus.ERROR
        else None,
    }


def _tracking_url(order: Order) -> str:
    """The tracking page of the order's carrier (orders/tracking.py, the table the email,
    the dashboard and the cart post-back read); "" without a tracking id or for a carrier
    the table does not know."""
    link = tracking_link(tracking_id=order.tracking_id, carrier=order.carrier)
    return link.url if link else ""


def event_body(
    *,
    event_id: str,
    event_type: str,
    created: datetime,
    publisher_id: int,
    order: Order | None,
) -> str:
    """The body, as the exact text sent (compact JSON, keys in the documented order)."""
    body = {
        "id": event_id,
        "type": event_type,
        "created": utc_timestamp(created),
        "api_version": API_VERSION,
        "publisher_id": publisher_id,
        "test": order is None or order.mode == Mode.TEST,
        "order": order_data(order) if order is not None else None,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
