"""Shopify order JSON → OrderRequest."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.carts.payload import MAX_NESTING_DEPTH, NESTED_TOO_DEEPLY, json_nesting_depth
from pressrun.carts.shopify.parse import (
    MAX_INVOICE_LENGTH,
    ORDER_ID_MISSING,
    PayloadInvalid,
    external_key,
    load_order,
    order_id,
    parse_order,
    shop_domain_from_headers,
    shopify_invoice,
)
from tests.carts.shopify_payloads import BIG_ORDER_ID, BIGGER_ORDER_ID, SHOP, order_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher()


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")


def parse(publisher: Any, body: bytes, *, test_requested: bool = False) -> Any:
    return parse_order(
        publisher_id=publisher.id, data=load_order(body), test_requested=test_requested
    )


@pytest.mark.parametrize("order_id", [BIG_ORDER_ID, BIGGER_ORDER_ID])
def test_large_order_ids_stay_exact(order_id: str) -> None:
    data = load_order(order_json(order_id=order_id))
    assert data["id"] == order_id
    assert json.loads(order_json(order_id=order_id))["id"] == int(order_id)  # really a number
    assert external_key(shop_domain=SHOP.upper(), data=data) == f"{SHOP}:{order_id}"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(PayloadInvalid):
        load_order(body)


@pytest.mark.parametrize("body", [b"{}", b'{"id": null}', b'{"id": ""}', b'{"id": {}}'])
def test_an_order_without_id_is_refused_naming_the_field(body: bytes) -> None:
    with pytest.raises(PayloadInvalid) as refused:
        load_order(body)
    assert str(refused.value) == ORDER_ID_MISSING


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_load_or_raise_payload_invalid(body: bytes) -> None:
    try:
        data = load_order(body)
    except PayloadInvalid:
        return
    assert order_id(data)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='[]{}",:1a\\ ', max_size=3000))
def test_any_bracket_soup_loads_or_raises_payload_invalid(text: str) -> None:
    try:
        load_order(text.encode())
    except PayloadInvalid:
        return


@settings(max_examples=200, deadline=None)
@given(
    value=JSON_VALUES,
    depth=st.one_of(st.integers(0, 80), st.integers(80, 60_000)),
    opener=st.sampled_from(["[", '{"a": ']),
)
def test_any_nesting_loads_or_is_refused_as_too_deep(value: Any, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = json.dumps(value)
    body = f'{{"id": 1, "x": {opener * depth}{inner}{closer * depth}}}'.encode()
    nesting = 1 + depth + json_nesting_depth(inner)
    if nesting > MAX_NESTING_DEPTH:
        with pytest.raises(PayloadInvalid, match=f"^{re.escape(NESTED_TOO_DEEPLY)}$"):
            load_order(body)
    else:
        assert load_order(body)["id"] == "1"


def test_a_real_shaped_order_becomes_one_request(publisher: Any, cd: Any) -> None:
    parsed = parse(publisher, order_json(skus=(("VTD234-100", 2, "Greatest Hits CD"),)))
    request = parsed.request
    assert parsed.unmatched == ()
    assert [(line.project_id, line.quantity) for line in request.lines] == [(cd.id, 2)]
    assert request.recipient.name == "Bob Norman"
    assert request.recipient.address == "123 Amoebobacterium Street"  # address2 null
    assert request.recipient.company == ""
    assert (request.recipient.city, request.recipient.state) == ("Louisville", "KY")
    assert (request.recipient.postal_code, request.recipient.country) == ("40202", "US")
    assert request.recipient.email == "bob.norman@example.com"
    assert request.invoice == "#1001"
    assert request.external_ref == BIG_ORDER_ID
    assert request.source == "shopify"
    assert request.mode == "prod"
    assert request.mail_method is None


def test_address2_is_joined_and_names_fall_back_to_first_and_last(publisher: Any, cd: Any) -> None:
    data = load_order(order_json(address2="Suite 400"))
    del data["shipping_address"]["name"]
    data["shipping_address"]["province_code"] = None
    request = parse_order(publisher_id=publisher.id, data=data, test_requested=False).request
    assert request.recipient.address == "123 Amoebobacterium Street, Suite 400"
    assert request.recipient.name == "Bob Norman"
    assert request.recipient.state == "Kentucky"


def test_the_order_name_falls_back_to_the_order_number(publisher: Any, cd: Any) -> None:
    data = load_order(order_json(name=""))
    assert (
        parse_order(publisher_id=publisher.id, data=data, test_requested=False).request.invoice
        == "1001"
    )


@pytest.mark.parametrize(
    ("title", "code", "expected"),
    [
        ("USPS Priority Mail", "Priority", "priority"),
        ("Next day", "EXPRESS", "express"),
        ("Express Shipping", None, "express"),
        # USPS's current name for Express (the spec: "now named priority-express").
        ("USPS Priority Mail Express", "usps-priority-express", "express"),
        ("Priority Mail Express", None, "express"),
        ("Standard Shipping", "Standard", None),
        (None, None, None),
    ],
)
def test_mail_method_comes_from_the_shipping_line(
    publisher: Any, cd: Any, title: str | None, code: str | None, expected: str | None
) -> None:
    parsed = parse(publisher, order_json(shipping_title=title, shipping_code=code))
    assert parsed.request.mail_method == expected


def test_test_mode_from_the_order_or_the_url(publisher: Any, cd: Any) -> None:
    assert parse(publisher, order_json(test=True)).request.mode == "test"
    assert parse(publisher, order_json(), test_requested=True).request.mode == "test"


def test_one_sku_for_two_projects_orders_both(publisher: Any, make_project: Any) -> None:
    disc = make_project(publisher, title="Album", ecommerce_ids="{ALBUM-1}")
    bonus = make_project(
        publisher, title="Bonus", ecommerce_ids="{album-1}{BONUS}", confirm_shared_ids=True
    )
    parsed = parse(publisher, order_json(skus=(("ALBUM-1", 3, "Album"),)))
    assert [(line.project_id, line.quantity) for line in parsed.request.lines] == [
        (disc.id, 3),
        (bonus.id, 3),
    ]


def test_method_2_sku_is_the_project_id(
    publisher: Any, make_project: Any, make_publisher: Any
) -> None:
    project = make_project(publisher, title="No cart IDs")
    someone_else = make_project(make_publisher(), title="Not theirs")
    parsed = parse(
        publisher,
        order_json(skus=((str(project.id), 1, "Mine"), (str(someone_else.id), 1, "Theirs"))),
    )
    assert [line.project_id for line in parsed.request.lines] == [project.id]
    assert [(u.ref, u.title) for u in parsed.unmatched] == [(str(someone_else.id), "Theirs")]


def test_lines_without_a_match_are_skipped_and_listed(publisher: Any, cd: Any) -> None:
    parsed = parse(
        publisher,
        order_json(
            skus=(
                ("VTD234-100", 1, "Greatest Hits CD"),
                (None, 1, "Gift wrap"),
                ("", 1, "T-shirt"),
                ("NOPE-1", 2, "Poster"),
            )
        ),
    )
    assert [line.project_id for line in parsed.request.lines] == [cd.id]
    # A line without SKU is named by its variant id (what a mapping can list).
    assert [(u.ref, u.title) for u in parsed.unmatched] == [
        ("39072857", "Gift wrap"),
        ("39072858", "T-shirt"),
        ("NOPE-1", "Poster"),
    ]


def test_an_order_with_no_matching_line_gives_no_request(publisher: Any, cd: Any) -> None:
    parsed = parse(publisher, order_json(skus=((None, 1, "Gift card"),)))
    assert parsed.request is None
    assert len(parsed.unmatched) == 1


def _with_raw_quantity(raw: bytes) -> bytes:
    """An order whose one line carries `raw` as its quantity, written as it is in JSON."""
    body = order_json(skus=(("VTD234-100", 7777, "Greatest Hits CD"),))
    assert body.count(b'"quantity": 7777') == 1
    return body.replace(b'"quantity": 7777', b'"quantity": ' + raw)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"1e308", "1e+308"),
        (b"1e3", "1000.0"),
        (b"2.5", "2.5"),
        (b"2.0", "2.0"),
        (b"9" * 400, "9" * 39 + "…"),
        (b"1234567890", "1234567890"),
        (b'"two"', "two"),
        (b"null", "null"),
        (b"true", "True"),
        (b'"1e3"', "1e3"),
    ],
)
def test_a_quantity_that_is_not_a_whole_number_is_invalid_not_below_one(
    publisher: Any, cd: Any, raw: bytes, shown: str
) -> None:
    parsed = parse(publisher, _with_raw_quantity(raw))
    assert parsed.request is None
    assert parsed.no_quantity == ()
    assert [(line.ref, line.title, value) for line, value in parsed.invalid_quantity] == [
        ("VTD234-100", "Greatest Hits CD", shown)
    ]


@pytest.mark.parametrize(("raw", "expected"), [(b"3", 3), (b"-0", None), (b'" 2 "', 2)])
def test_whole_numbers_are_quantities(
    publisher: Any, cd: Any, raw: bytes, expected: int | None
) -> None:
    parsed = parse(publisher, _with_raw_quantity(raw))
    assert parsed.invalid_quantity == ()
    if expected is None:
        assert parsed.request is None
        assert [line.ref for line in parsed.no_quantity] == ["VTD234-100"]
    else:
        assert [(line.project_id, line.quantity) for line in parsed.request.lines] == [
            (cd.id, expected)
        ]


_JSON_SCALARS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e308", "1e3", "-1e999", "2.5", "0", "-3", "null", "true", '"9"', '""']),
    st.text(alphabet="0123456789.eE+-", min_size=1, max_size=30).map(json.dumps),
    st.text(alphabet="9", min_size=1, max_size=500),
)


# The fixtures only read: the same publisher and project serve every example.
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=_JSON_SCALARS)
def test_any_quantity_is_ordered_skipped_or_invalid_never_guessed(
    publisher: Any, cd: Any, raw: str
) -> None:
    try:
        body = _with_raw_quantity(raw.encode())
        data = load_order(body)
    except PayloadInvalid:
        return
    parsed = parse_order(publisher_id=publisher.id, data=data, test_requested=False)
    value = data["line_items"][0]["quantity"]
    outcomes = [
        parsed.request is not None,
        bool(parsed.no_quantity),
        bool(parsed.invalid_quantity),
    ]
    assert outcomes.count(True) == 1, (raw, parsed)
    if parsed.request is not None:
        (line,) = parsed.request.lines
        assert isinstance(value, str)
        assert line.quantity == int(value)
        assert 1 <= line.quantity <= 999_999_999
    elif parsed.no_quantity:
        assert isinstance(value, str)
        assert int(value) < 1


@pytest.mark.parametrize(
    ("name", "shop", "invoice"),
    [
        ("#1040", "artist-a.myshopify.com", "#1040@artist-a"),
        ("#1040", "", "#1040"),
        ("1040", "custom-shop.example.com", "1040@custom-shop.example.com"),
        ("#1040", ".myshopify.com", "#1040@.myshopify.com"),
    ],
)
def test_the_invoice_names_the_order_and_its_shop(name: str, shop: str, invoice: str) -> None:
    assert shopify_invoice(name=name, shop_domain=shop) == invoice


def test_a_long_shop_keeps_the_invoice_within_the_limit_and_distinct() -> None:
    stem = "a-very-long-shop-name-for-one-artist-of-the-label"
    first = shopify_invoice(name="#1040", shop_domain=f"{stem}-one.myshopify.com")
    second = shopify_invoice(name="#1040", shop_domain=f"{stem}-two.myshopify.com")
    assert len(first) == len(second) == MAX_INVOICE_LENGTH
    assert first.startswith("#1040@a-very-long-shop-name")
    assert first != second
    assert first == shopify_invoice(name="#1040", shop_domain=f"{stem}-one.myshopify.com")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.text(max_size=300))
def test_any_name_and_shop_give_an_invoice_within_the_limit(name: str, shop: str) -> None:
    invoice = shopify_invoice(name=name, shop_domain=shop)
    assert len(invoice) <= MAX_INVOICE_LENGTH
    if shop and len(name) + len(shop) + 1 <= MAX_INVOICE_LENGTH:
        assert invoice.startswith(name + "@")


def test_the_shop_comes_from_the_header_in_any_letter_case() -> None:
    assert shop_domain_from_headers({"X-Shopify-Shop-Domain": " Artist-A.myshopify.com "}) == (
        "artist-a.myshopify.com"
    )
    assert shop_domain_from_headers({"x-shopify-shop-domain": "b.myshopify.com"}) == (
        "b.myshopify.com"
    )
    assert shop_domain_from_headers({"Content-Type": "application/json"}) == ""


def test_the_request_carries_the_shop(publisher: Any, cd: Any) -> None:
    parsed = parse_order(
        publisher_id=publisher.id,
        data=load_order(order_json(name="#1040")),
        test_requested=False,
        shop_domain="Artist-A.myshopify.com",
    )
    request = parsed.request
    assert (request.invoice, request.store, request.external_ref) == (
        "#1040@artist-a",
        "artist-a.myshopify.com",
        BIG_ORDER_ID,
    )
