"""SamCart bodies, JSON or form: any input is read or refused with PayloadInvalid."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.carts.payload import MAX_NESTING_DEPTH, NESTED_TOO_DEEPLY
from pressrun.carts.samcart.parse import (
    PayloadInvalid,
    creates_order,
    load_notification,
    order_id,
)

FORM = "application/x-www-form-urlencoded"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["application/json", FORM, ""]))
def test_any_bytes_load_or_raise_payload_invalid(body: bytes, content_type: str) -> None:
    try:
        data = load_notification(body, content_type)
    except PayloadInvalid:
        return
    # Only an order notification must name its order; any other event creates nothing.
    assert order_id(data) or not creates_order(data)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab[].=&%", max_size=3000))
def test_any_form_of_brackets_loads_or_raises_payload_invalid(text: str) -> None:
    try:
        load_notification(("order[id]=1&" + text).encode(), FORM)
    except PayloadInvalid:
        return


@settings(max_examples=200, deadline=None)
@given(
    depth=st.one_of(st.integers(1, 80), st.integers(80, 30_000)),
    style=st.sampled_from(["[a]", ".a", "[0]"]),
)
def test_any_form_key_nesting_loads_or_is_refused_as_too_deep(depth: int, style: str) -> None:
    key = "a" + style * (depth - 1)  # `depth` parts, so `depth` levels below the root
    body = f"order[id]=1&{quote(key, safe='[].')}=x".encode()
    if depth > MAX_NESTING_DEPTH:
        with pytest.raises(PayloadInvalid, match=f"^{re.escape(NESTED_TOO_DEEPLY)}$"):
            load_notification(body, FORM)
    else:
        assert order_id(load_notification(body, FORM)) == "1"


@settings(max_examples=200, deadline=None)
@given(depth=st.one_of(st.integers(0, 80), st.integers(80, 60_000)))
def test_any_json_nesting_loads_or_is_refused_as_too_deep(depth: int) -> None:
    body = ('{"order": {"id": 1}, "x": ' + "[" * depth + "1" + "]" * depth + "}").encode()
    if 1 + depth > MAX_NESTING_DEPTH:
        with pytest.raises(PayloadInvalid, match=f"^{re.escape(NESTED_TOO_DEEPLY)}$"):
            load_notification(body, "application/json")
    else:
        assert order_id(load_notification(body, "application/json")) == "1"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"order[id]=7&items[1][product_id]=B&items[0][product_id]=A", FORM, ["A", "B"]),
        (json.dumps({"order": {"id": 7}, "items": [{"product_id": "A"}]}).encode(), "", ["A"]),
    ],
)
def test_forms_and_json_unfold_to_the_same_shape(
    body: bytes, content_type: str, expected: list[str]
) -> None:
    data: dict[str, Any] = load_notification(body, content_type)
    assert order_id(data) == "7"
    assert [item["product_id"] for item in data["items"]] == expected
