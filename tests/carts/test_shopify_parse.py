"""Shopify order JSON → OrderRequest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pressrun.carts.shopify.parse import (
    PayloadInvalid,
    external_key,
    load_order,
    parse_order,
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
    bonus = make_project(publisher, title="Bonus", ecommerce_ids="{album-1}{BONUS}")
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
