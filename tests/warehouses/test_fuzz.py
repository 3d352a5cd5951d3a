"""The endpoint's parsing fuzzed: whatever the query string and the body hold, the answer
is one of the protocol's (never a 500), and the parsers raise nothing but ProtocolError."""

from __future__ import annotations

import base64
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.orders.models import Order
from pressrun.warehouses.models import WarehouseOrder
from pressrun.warehouses.shipstation import (
    ProtocolError,
    parse_export_query,
    parse_notice,
    parse_query_date,
)
from tests.fulfillment.support import close_window
from tests.warehouses.conftest import URL, Station

odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(
    [
        "",
        "11/03/2026 10:05",
        "1/3/2026 9:05 PM",
        "02/30/2026 10:00",
        "12/31/9999 23:59",
        "00/00/0000 00:00",
        "2026-11-03",
        "0",
        "-1",
        "99999999999999999999",
        "1e3",
        "\uff11\uff12",  # fullwidth digits
        "INV-1",
        "\x00",
    ]
)
PARAMS = [
    "action",
    "start_date",
    "end_date",
    "page",
    "order_number",
    "carrier",
    "service",
    "tracking_number",
]
TAGS = [
    "OrderID",
    "OrderNumber",
    "ShipDate",
    "LabelCreateDate",
    "Carrier",
    "Service",
    "TrackingNumber",
    "ShippingCost",
    "Recipient",
    "Items",
]


@st.composite
def notices(draw: st.DrawFn) -> bytes:
    """A ShipNotice with odd values (escaped as XML), or odd bytes, or a truncated one."""
    kind = draw(st.sampled_from(["xml", "bytes", "truncated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    root = ET.Element(draw(st.sampled_from(["ShipNotice", "shipnotice", "Orders"])))
    for tag in draw(st.lists(st.sampled_from(TAGS), max_size=8)):
        text = draw(odd_text)
        ET.SubElement(root, tag).text = "".join(
            c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff")
        )
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    if kind == "truncated":
        return body[: draw(st.integers(min_value=0, max_value=len(body)))]
    return body


@settings(max_examples=400, deadline=None)
@given(value=odd_text)
def test_query_dates_parse_or_refuse(value: str) -> None:
    with contextlib.suppress(ProtocolError):
        parse_query_date(value, "start_date")


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(st.sampled_from(PARAMS), odd_text))
def test_export_queries_parse_or_refuse(params: dict[str, str]) -> None:
    with contextlib.suppress(ProtocolError):
        query = parse_export_query(params)
        assert query.page >= 1
        assert query.modified_before > query.modified_from


@settings(max_examples=300, deadline=None)
@given(body=notices(), params=st.dictionaries(st.sampled_from(PARAMS), odd_text))
def test_notices_parse_or_refuse(body: bytes, params: dict[str, str]) -> None:
    with contextlib.suppress(ProtocolError):
        parse_notice(body, params)


@pytest.fixture
def ready_order(paid: Callable[..., Order]) -> Order:
    """One order the notices may ship (created once for all the examples)."""
    order = paid(invoice="FUZZ-1")
    close_window(order)
    return order


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(st.sampled_from(PARAMS), odd_text, max_size=6),
    action=st.sampled_from(["export", "shipnotify", "SHIPNOTIFY", "Export", ""]),
    body=notices(),
    method=st.sampled_from(["GET", "POST"]),
)
def test_the_endpoint_never_answers_500(
    *,
    station: Station,
    ready_order: Order,
    params: dict[str, str],
    action: str,
    body: bytes,
    method: str,
) -> None:
    query = urlencode({"action": action, **params})
    response = station.client.generic(
        method,
        f"{URL}?{query}",
        body if method == "POST" else b"",
        content_type="application/xml",
        HTTP_AUTHORIZATION=station.auth,
    )
    assert response.status_code in {200, 400, 404, 405, 409, 413}, response.content


@pytest.mark.django_db
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    header=st.one_of(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
        st.binary(max_size=40).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
    )
)
def test_any_authorization_header_is_answered_401_or_429(station: Station, header: str) -> None:
    response = station.export("01/01/2026 00:00", "01/02/2026 00:00", HTTP_AUTHORIZATION=header)
    assert response.status_code in {401, 429}, response.content


@st.composite
def warehouse_notices(draw: st.DrawFn, order_id: int) -> bytes:
    """A ShipNotice for a publisher's warehouse: its order's `WH-` number (or an odd one),
    a tracking number (or none) and Items with odd SKUs, quantities and LineItemIDs."""
    root = ET.Element("ShipNotice")
    reference = draw(
        st.sampled_from([f"WH-{order_id}", f"wh-{order_id}", "WH-0", "WH-"]) | odd_text
    )
    ET.SubElement(root, draw(st.sampled_from(["OrderID", "OrderNumber"]))).text = _xml_safe(
        reference
    )
    ET.SubElement(root, "TrackingNumber").text = _xml_safe(
        draw(st.sampled_from(["T-1", "T-2", ""]) | odd_text)
    )
    if draw(st.booleans()):
        items = ET.SubElement(root, "Items")
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            element = ET.SubElement(items, "Item")
            for tag, values in (
                ("SKU", st.sampled_from(["ACME-BOOK", "TEE", ""]) | odd_text),
                ("Quantity", st.sampled_from(["1", "2", "0", "-1", "99999999999"]) | odd_text),
                ("LineItemID", st.sampled_from(["", "1", "2"]) | odd_text),
            ):
                if draw(st.booleans()):
                    ET.SubElement(element, tag).text = _xml_safe(draw(values))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_safe(text: str) -> str:
    return "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))


@pytest.fixture
def pulled(publisher: Any) -> tuple[Station, WarehouseOrder]:
    """A publisher's warehouse with one order (created once for all the examples)."""
    from tests.warehouses.test_pull import make_warehouse, route

    warehouse = make_warehouse(publisher)
    return warehouse, route(warehouse, "1")


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), params=st.dictionaries(st.sampled_from(PARAMS), odd_text, max_size=4))
def test_a_publishers_warehouse_is_never_answered_500(
    pulled: tuple[Station, WarehouseOrder], data: st.DataObject, params: dict[str, str]
) -> None:
    warehouse, order = pulled
    body = data.draw(warehouse_notices(order.id) | notices())
    query = urlencode({"action": "shipnotify", **params})
    response = warehouse.client.generic(
        "POST",
        f"{URL}?{query}",
        body,
        content_type="application/xml",
        HTTP_AUTHORIZATION=warehouse.auth,
    )
    assert response.status_code in {200, 400, 404, 409, 413}, response.content
    assert warehouse.export("01/01/2026 00:00", "12/31/2099 23:59").status_code == 200
