"""Whatever Shopify (or something pretending to be it) answers, reading it ends in a result
or in one of the client's two errors: never another exception, never a retry time that is
not a finite number of seconds."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.carts.shopify.client import (
    ShopifyRefused,
    ShopifyUnavailable,
    fulfillment_orders_from,
    parse_answer,
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "data",
                    "errors",
                    "extensions",
                    "code",
                    "cost",
                    "throttleStatus",
                    "requestedQueryCost",
                    "currentlyAvailable",
                    "restoreRate",
                    "order",
                    "fulfillmentOrders",
                    "nodes",
                    "id",
                    "status",
                    "supportedActions",
                    "action",
                    "fulfillments",
                    "trackingInfo",
                    "number",
                    "message",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


def _read(raw: bytes) -> Any:
    wait: float | None = None
    try:
        data = parse_answer(raw)
    except ShopifyUnavailable as exc:
        wait = exc.retry_after
        data = None
    except ShopifyRefused:
        data = None
    assert wait is None or (math.isfinite(wait) and 1.0 <= wait <= 60.0)
    return None if data is None else fulfillment_orders_from(data)


@settings(max_examples=300)
@given(JSON)
def test_any_json_answer(value: Any) -> None:
    _read(json.dumps(value).encode())


@settings(max_examples=200)
@given(JSON)
def test_any_throttled_answer(extensions: Any) -> None:
    body = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
    body["extensions"] = extensions
    _read(json.dumps(body).encode())


@given(st.binary(max_size=200))
def test_any_bytes(raw: bytes) -> None:
    _read(raw)


@settings(max_examples=200)
@given(JSON)
def test_any_order_shape(order: Any) -> None:
    found = fulfillment_orders_from({"order": order})
    assert found is None or all(isinstance(item.id, str) for item in found)
