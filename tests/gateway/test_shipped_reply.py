"""getOrderStatusByInvoice for a shipped order, byte for byte over the gateway: SHIPPED,
ShipDate mm/dd/yyyy, TrackingID as recorded; what pressrun keeps besides (carrier, service,
postage cost, the cart post-back) is not in the reply."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import PASSWORD
from tests.fulfillment.support import ship, today
from tests.gateway.helpers import STATUS_URL, order_fields, submit

pytestmark = pytest.mark.django_db


def test_the_shipped_reply_is_exactly_the_spec_s(
    client: Any, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    placed = submit(
        client,
        **order_fields(publisher, project, Invoice="INV 7/1", typeMailMethod="priority"),
    )
    assert placed["SUCCESS"], placed
    order_id = int(placed["Order"])
    letter = submit(client, **order_fields(publisher, project, Invoice="INV-8"))
    tomorrow = today() + timedelta(days=1)
    ship(
        order_id,
        ship_date=today(),
        tracking_id="1Z999AA10123456784",
        carrier="UPS",
        service="UPS 2nd Day Air",
        postage_cost=Decimal("12.40"),
    )
    ship(int(letter["Order"]), ship_date=tomorrow)  # a letter: no tracking, shipping tomorrow
    query = urlencode(
        {
            "function": "getOrderStatusByInvoice",
            "Invoice": "INV 7/1[*|*]INV-8",
            "CoLoginEmail": publisher.email,
            "CoLoginPassword": PASSWORD,
        }
    )
    response = client.get(f"{STATUS_URL}?{query}")
    assert response.status_code == 200
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<OrderStatusResponse>\n"
        "  <Status1>\n"
        "    <ErrorNum>0</ErrorNum>\n"
        "    <ErrorDesc></ErrorDesc>\n"
        f"    <CustName>{placed_name(publisher)}</CustName>\n"
        "    <Invoice>INV 7/1</Invoice>\n"
        "    <OrderStatus>SHIPPED</OrderStatus>\n"
        "    <OrderStatusErrNum>0</OrderStatusErrNum>\n"
        "    <OrderStatusErrDesc></OrderStatusErrDesc>\n"
        f"    <ShipDate>{today():%m/%d/%Y}</ShipDate>\n"
        "    <ShippingMethod>priority</ShippingMethod>\n"
        "    <TrackingID>1Z999AA10123456784</TrackingID>\n"
        "  </Status1>\n"
        "  <Status2>\n"
        "    <ErrorNum>0</ErrorNum>\n"
        "    <ErrorDesc></ErrorDesc>\n"
        f"    <CustName>{placed_name(publisher)}</CustName>\n"
        "    <Invoice>INV-8</Invoice>\n"
        "    <OrderStatus>SHIPPED</OrderStatus>\n"
        "    <OrderStatusErrNum>0</OrderStatusErrNum>\n"
        "    <OrderStatusErrDesc></OrderStatusErrDesc>\n"
        f"    <ShipDate>{tomorrow:%m/%d/%Y}</ShipDate>\n"
        "    <ShippingMethod>standard</ShippingMethod>\n"
        "    <TrackingID></TrackingID>\n"
        "  </Status2>\n"
        "</OrderStatusResponse>\n"
    )
    assert "UPS" not in response.content.decode().replace("1Z999AA1", "")
    assert "12.40" not in response.content.decode()


def placed_name(publisher: Any) -> str:
    from pressrun.orders.models import Order

    return Order.objects.filter(publisher=publisher).values_list("name", flat=True)[0]
