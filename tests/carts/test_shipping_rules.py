"""Shipping rules: a publisher's own readings of the cart's shipping description, tried in
order before the default keyword rule ("priority" / "express", any case)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from pressrun.carts.models import InboundDelivery, Outcome, ShippingRule
from pressrun.carts.selectors import shipping_rules_for
from pressrun.carts.services import (
    ShippingRuleInvalid,
    delivery_process,
    shipping_rule_create,
    shipping_rule_delete,
    shipping_rule_update,
)
from pressrun.carts.shipping import mail_method_for, mail_method_for_descriptions
from pressrun.orders.models import Order
from tests.carts.samcart_payloads import as_json, notification
from tests.carts.shopify_payloads import order_json, shopify_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


def rule(publisher: Any, match: str, text: str, mail_method: str) -> ShippingRule:
    return shipping_rule_create(
        publisher=publisher, match=match, text=text, mail_method=mail_method
    )


def method(publisher: Any, description: str) -> str | None:
    return mail_method_for(publisher_id=publisher.id, description=description)


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("USPS Priority Mail", "priority"),
        ("PRIORITY", "priority"),
        # USPS's current name for Express: express, not priority.
        ("Priority-Express (1-2 days)", "express"),
        ("USPS Priority Mail Express", "express"),
        ("priority express", "express"),
        ("express", "express"),
        ("Standard Shipping", None),
        ("", None),
        ("   ", None),
    ],
)
def test_without_rules_the_default_keyword_rule_applies(
    publisher: Any, description: str, expected: str | None
) -> None:
    assert method(publisher, description) == expected


def test_is_matches_the_whole_description_ignoring_case_and_spaces(publisher: Any) -> None:
    rule(publisher, "is", "  Ship   FAST ", "express")
    assert method(publisher, "ship fast") == "express"
    assert method(publisher, "  SHIP\tfast  ") == "express"
    assert method(publisher, "Ship fast please") is None  # not the whole description
    assert method(publisher, "Ship") is None


def test_starts_with_matches_a_prefix(publisher: Any) -> None:
    rule(publisher, "starts_with", "Next day", "express")
    assert method(publisher, "next  DAY air (UPS)") == "express"
    assert method(publisher, "Next day") == "express"
    assert method(publisher, "Not next day") is None


def test_a_rule_overrides_the_keyword_rule(publisher: Any) -> None:
    rule(publisher, "is", "Priority Letter", "rtrackstandard")
    assert method(publisher, "priority letter") == "rtrackstandard"
    # Descriptions no rule reads still get the keyword rule.
    assert method(publisher, "Priority Mail") == "priority"


def test_a_rule_still_wins_over_the_express_keyword(publisher: Any) -> None:
    # "Priority Mail Express" is express by the keyword rule, unless a rule reads it.
    assert method(publisher, "Priority Mail Express") == "express"
    rule(publisher, "starts_with", "priority mail express", "priority")
    assert method(publisher, "Priority Mail Express 1-Day") == "priority"
    assert method(publisher, "Overnight express") == "express"


def test_rules_are_tried_in_position_order(publisher: Any) -> None:
    rule(publisher, "starts_with", "fast", "express")
    rule(publisher, "is", "fast priority", "standard")
    assert method(publisher, "Fast priority") == "express"
    first, second = shipping_rules_for(publisher)
    shipping_rule_update(
        publisher=publisher,
        rule_id=second.id,
        match="is",
        text="fast priority",
        mail_method="standard",
        position=0,
    )
    shipping_rule_update(
        publisher=publisher,
        rule_id=first.id,
        match="starts_with",
        text="fast",
        mail_method="express",
        position=1,
    )
    assert method(publisher, "Fast priority") == "standard"
    assert method(publisher, "Fast boat") == "express"
    assert [(r.position, r.match, r.text) for r in shipping_rules_for(publisher)] == [
        (0, "is", "fast priority"),
        (1, "starts_with", "fast"),
    ]


def test_the_first_rule_wins_across_several_descriptions(publisher: Any) -> None:
    rule(publisher, "is", "EXP-1", "express")
    rule(publisher, "starts_with", "standard", "rtrackstandard")
    # Shopify gives a title and a code: rule order decides, not description order.
    found = mail_method_for_descriptions(
        publisher_id=publisher.id, descriptions=["Standard Shipping", "exp-1"]
    )
    assert found == "express"


def test_another_publishers_rules_never_apply(publisher: Any, make_publisher: Any) -> None:
    other = make_publisher()
    rule(other, "is", "Standard Shipping", "express")
    rule(other, "starts_with", "priority", "standard")
    assert method(publisher, "Standard Shipping") is None
    assert method(publisher, "Priority Mail") == "priority"
    assert method(other, "Standard Shipping") == "express"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"match": "is", "text": "", "mail_method": "express"}, "text"),
        ({"match": "is", "text": " \t ", "mail_method": "express"}, "text"),
        ({"match": "is", "text": "x" * 201, "mail_method": "express"}, "text"),
        ({"match": "contains", "text": "fast", "mail_method": "express"}, "match"),
        ({"match": "is", "text": "fast", "mail_method": "overnight"}, "mail_method"),
    ],
)
def test_invalid_rules_are_refused_and_nothing_is_written(
    publisher: Any, values: dict[str, str], field: str
) -> None:
    with pytest.raises(ShippingRuleInvalid) as refused:
        shipping_rule_create(publisher=publisher, **values)
    assert refused.value.field == field
    assert not ShippingRule.objects.exists()


def test_a_duplicate_rule_is_refused_whatever_its_case_and_spaces(publisher: Any) -> None:
    first = rule(publisher, "is", "Ship Fast", "express")
    assert first.text == "ship fast"  # stored as it is compared
    with pytest.raises(ShippingRuleInvalid, match="already a rule") as refused:
        rule(publisher, "is", "  SHIP   fast", "priority")
    assert refused.value.field == "text"
    assert list(ShippingRule.objects.values_list("text", "mail_method")) == [
        ("ship fast", "express")
    ]
    # The same text with another match is another rule.
    rule(publisher, "starts_with", "ship fast", "priority")
    assert ShippingRule.objects.count() == 2


def test_update_and_delete_only_touch_the_publishers_own_rules(
    publisher: Any, make_publisher: Any
) -> None:
    other = make_publisher()
    theirs = rule(other, "is", "theirs", "express")
    with pytest.raises(ShippingRule.DoesNotExist):
        shipping_rule_update(
            publisher=publisher, rule_id=theirs.id, match="is", text="x", mail_method="standard"
        )
    assert shipping_rule_delete(publisher=publisher, rule_id=theirs.id) is False
    theirs.refresh_from_db()
    assert (theirs.text, theirs.mail_method) == ("theirs", "express")
    updated = shipping_rule_update(
        publisher=other, rule_id=theirs.id, match="starts_with", text="Mine", mail_method="priority"
    )
    assert (updated.match, updated.text, updated.mail_method) == ("starts_with", "mine", "priority")
    assert shipping_rule_delete(publisher=other, rule_id=theirs.id) is True
    assert not ShippingRule.objects.exists()


def test_a_shopify_webhook_uses_the_publishers_rule(publisher: Any, make_project: Any) -> None:
    make_project(publisher, title="CD", ecommerce_ids="{VTD234-100}")
    rule(publisher, "starts_with", "Free shipping", "rtrackstandard")
    rule(publisher, "is", "EXP", "express")
    bodies = [
        order_json(order_id="11", name="#11", shipping_title="Free Shipping (5-7 days)"),
        order_json(order_id="12", name="#12", shipping_title="Courier", shipping_code="exp"),
        order_json(order_id="13", name="#13", shipping_title="USPS Priority", shipping_code="P"),
    ]
    for index, body in enumerate(bodies):
        response = Client().post(
            f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
            data=body,
            content_type="application/json",
            **shopify_headers(webhook_id=f"rule-{index}"),
        )
        assert response.status_code == 200
    for delivery in InboundDelivery.objects.order_by("id"):
        assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
    assert list(Order.objects.order_by("id").values_list("invoice", "mail_method")) == [
        ("#11@press-demo", "rtrackstandard"),
        ("#12@press-demo", "express"),
        ("#13@press-demo", "priority"),
    ]


def test_a_samcart_notification_uses_the_publishers_rule(publisher: Any, make_project: Any) -> None:
    make_project(publisher, title="CD", ecommerce_ids="{294010}")
    rule(publisher, "is", "Two-day air", "express")
    body = as_json(notification(shipping_method="two-day AIR"))
    response = Client().post(
        f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
        data=body,
        content_type="application/json",
    )
    assert response.status_code == 200
    delivery = InboundDelivery.objects.get()
    assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
    assert Order.objects.get().mail_method == "express"


def test_admin_adds_rules_through_the_services_and_refuses_duplicates(
    publisher: Any, admin_client: Any
) -> None:
    values = {
        "publisher": publisher.id,
        "position": 0,
        "match": "is",
        "text": "  Next   Day ",
        "mail_method": "express",
    }
    response = admin_client.post("/admin/carts/shippingrule/add/", values)
    assert response.status_code == 302
    saved = ShippingRule.objects.get()
    assert (saved.publisher_id, saved.text, saved.mail_method) == (
        publisher.id,
        "next day",
        "express",
    )
    again = admin_client.post("/admin/carts/shippingrule/add/", {**values, "text": "NEXT DAY"})
    assert again.status_code == 200
    assert "already has a rule" in again.content.decode()
    blank = admin_client.post("/admin/carts/shippingrule/add/", {**values, "text": "   "})
    assert blank.status_code == 200
    assert ShippingRule.objects.count() == 1
    assert admin_client.get("/admin/carts/shippingrule/").status_code == 200
    change = admin_client.post(
        f"/admin/carts/shippingrule/{saved.id}/change/",
        {"position": 3, "match": "starts_with", "text": "Next", "mail_method": "priority"},
    )
    assert change.status_code == 302
    saved.refresh_from_db()
    assert (saved.position, saved.match, saved.text, saved.mail_method) == (
        3,
        "starts_with",
        "next",
        "priority",
    )


def test_admin_change_refuses_a_duplicate_of_another_rule(
    publisher: Any, admin_client: Any
) -> None:
    rule(publisher, "is", "ground", "standard")
    second = rule(publisher, "is", "air", "express")
    response = admin_client.post(
        f"/admin/carts/shippingrule/{second.id}/change/",
        {"position": 1, "match": "is", "text": "Ground", "mail_method": "express"},
    )
    assert response.status_code == 200
    assert "already has a rule" in response.content.decode()
    second.refresh_from_db()
    assert (second.text, second.mail_method) == ("air", "express")
