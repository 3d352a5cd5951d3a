"""The push protocol's two inbound parsers fuzzed: whatever the body holds, the parsers raise
nothing but MessageInvalid, and the signed endpoints answer one of the protocol's statuses
(never a 500), writing nothing on a refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.warehouses.inbound import MessageInvalid, parse_inventory, parse_shipment
from pressrun.warehouses.models import WarehouseShipment, WarehouseStockLevel
from tests.warehouses.test_push_inbound import Wms

odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30
) | st.sampled_from(
    ["", "WH-1", "WH-99999999999999999999", "wh-1", "\x00", "2026-11-04", "2026-02-30", "Z", " "]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | odd_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)
SHIPMENT_KEYS = [
    "order_id",
    "confirmation_id",
    "carrier",
    "service",
    "tracking_number",
    "ship_date",
    "lines",
]
LINE_KEYS = ["line_item_id", "sku", "quantity"]
lines = st.lists(
    st.dictionaries(st.sampled_from(LINE_KEYS), json_values, max_size=3) | json_values,
    max_size=4,
)
shipments = st.fixed_dictionaries(
    {},
    optional={key: (lines if key == "lines" else json_values | odd_text) for key in SHIPMENT_KEYS},
)
items = st.lists(
    st.dictionaries(st.sampled_from(["sku", "quantity"]), json_values, max_size=2) | json_values,
    max_size=5,
)
reports = st.fixed_dictionaries(
    {},
    optional={
        "items": items | json_values,
        "as_of": odd_text
        | st.sampled_from(
            ["2026-11-04T10:00:00Z", "2026-11-04T10:00:00", "9999-12-31T23:59:59+14:00"]
        ),
    },
)


def _bodies(structured: Any) -> Any:
    return (
        st.binary(max_size=200)
        | structured.map(lambda value: json.dumps(value).encode())
        | json_values.map(lambda value: json.dumps(value, allow_nan=True).encode())
    )


@given(body=_bodies(shipments))
@settings(max_examples=300, deadline=None)
def test_parse_shipment_raises_only_message_invalid(body: bytes) -> None:
    try:
        confirmation = parse_shipment(body)
    except MessageInvalid:
        return
    assert confirmation.notice.tracking_number
    assert confirmation.notice.order_id


@given(body=_bodies(reports))
@settings(max_examples=300, deadline=None)
def test_parse_inventory_raises_only_message_invalid(body: bytes) -> None:
    try:
        report = parse_inventory(body, now=timezone.now())
    except MessageInvalid:
        return
    assert all(item.sku and item.quantity >= 0 for item in report.items)


@pytest.mark.django_db
@given(shipment=_bodies(shipments), report=_bodies(reports))
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_signed_endpoints_never_answer_500(
    publisher: Any, shipment: bytes, report: bytes
) -> None:
    wms = _wms(publisher)
    shipments_before = WarehouseShipment.objects.count()
    levels_before = WarehouseStockLevel.objects.count()
    answer = wms.post("shipments", shipment)
    assert answer.status_code in (200, 400, 404, 409), answer.content
    assert answer.json()["ok"] is (answer.status_code == 200)
    if answer.status_code != 200:
        assert WarehouseShipment.objects.count() == shipments_before
    answer = wms.post("inventory", report)
    assert answer.status_code in (200, 400), answer.content
    if answer.status_code != 200:
        assert WarehouseStockLevel.objects.count() == levels_before


def _wms(publisher: Any) -> Wms:
    # One connection per test (hypothesis runs the body many times in one transaction).
    made: Wms | None = getattr(publisher, "fuzzed_wms", None)
    if made is None:
        made = Wms(publisher)
        publisher.fuzzed_wms = made
    return made
