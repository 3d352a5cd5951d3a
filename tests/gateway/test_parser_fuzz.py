"""Property tests: whatever arrives, the gateway answers in its own format and never raises."""

from __future__ import annotations

import contextlib
import itertools
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.gateway.fields import GatewayFailure, read_fields
from pressrun.gateway.submit import build_order_request, parse_lines
from pressrun.orders.models import Order
from tests.conftest import PASSWORD

FAILURE = re.compile(r"^\[ERRORMSGBEGIN\]ERRCODE#(\d{6}) \[FAILURE\] .+\[ERRORMSGEND\]$", re.S)
FIELD_NAMES = [
    "productid",
    "quantity",
    "Invoice",
    "mode",
    "typeMailMethod",
    "email",
    "nprice",
    "nPrice",
    "bSendOrderNotificationEmail",
    "bUsePriceOnCustomsForm",
    "name",
    "co",
    "addr",
    "city",
    "st",
    "zip",
    "country",
    "SpecialText",
    "ordermethod",
    "source",
    "function",
]
odd_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "1xx2",
            "x",
            "--1",
            "1x-1",
            "0",
            "251",
            "1e3",
            "[*|*]",
            "%",
            "%zz",
            "NaN",
            "Infinity",
            "IT (Italy)",
            "MN Minnesota",
            "<b>x</b>",
            "1" * 30,
            "\x00",
            "é",
            "\ud7ff",
        ]
    ),
)
raw_bytes = st.binary(max_size=300)
_accounts = itertools.count()


@settings(max_examples=300, deadline=None)
@given(
    query=raw_bytes,
    body=raw_bytes,
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "text/plain",
            "",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/x-www-form-urlencoded; charset=bogus",
        ]
    ),
)
def test_read_fields_only_ever_refuses_with_a_gateway_error(
    query: bytes, body: bytes, content_type: str
) -> None:
    request = RequestFactory().generic(
        "POST",
        "/gateway/order?" + quote_from_bytes(query, safe="=&"),
        data=body,
        content_type=content_type,
    )
    refusal = ""
    try:
        fields = read_fields(request)
    except GatewayFailure as failure:
        refusal, fields = failure.error.code, {}
    assert refusal == "" or re.fullmatch(r"\d{6}", refusal)
    assert all(key == key.lower() for key in fields)


@settings(max_examples=500, deadline=None)
@given(productid=odd_text, quantity=odd_text)
def test_line_parsing_never_raises_anything_else(productid: str, quantity: str) -> None:
    try:
        lines = parse_lines({"productid": productid, "quantity": quantity})
    except GatewayFailure:
        return
    assert lines
    assert all(1 <= line.quantity <= 250 for line in lines)
    assert sum(line.quantity for line in lines) <= 250
    assert all(line.project_id >= 1 for line in lines)


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(st.sampled_from([n.lower() for n in FIELD_NAMES]), odd_text))
def test_order_request_building_never_raises_anything_else(fields: dict[str, str]) -> None:
    with contextlib.suppress(GatewayFailure):
        build_order_request(fields, publisher_id=1)


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fields=st.dictionaries(st.sampled_from(FIELD_NAMES), odd_text, max_size=12),
    method=st.sampled_from(["get", "post"]),
)
def test_whole_endpoints_answer_in_their_format(
    client: Client, make_publisher: Any, make_project: Any, fields: dict[str, str], method: str
) -> None:
    publisher = make_publisher(email=f"fuzz{next(_accounts)}@example.com")
    project = make_project(publisher)
    base = {
        "ordermethod": "url",
        "source": "cdfulfill",
        "CoLoginEmail": publisher.email,
        "CoLoginPassword": PASSWORD,
        "productid": str(project.id),
        "name": "N",
        "addr": "A",
        "city": "C",
        "st": "MN",
        "zip": "55401",
    }
    data = {**base, **fields}
    send = client.get if method == "get" else client.post
    before = Order.objects.count()
    reply = send("/gateway/order", data)
    assert reply.status_code == 200
    text = reply.content.decode()
    match = FAILURE.match(text)
    if match:
        assert match.group(1) != "009000", text
        assert Order.objects.count() == before
    else:
        assert text.startswith("[SUCCESS]\n"), text
        assert Order.objects.count() == before + 1
    status = send(
        "/gateway/status", {**data, "function": data.get("function", "getOrderStatusByInvoice")}
    )
    assert status.status_code == 200
    root = ET.fromstring(status.content)
    assert root.tag == "OrderStatusResponse"
