"""The publisher's shipping rules page: add, refuse, delete, and try a description."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from pressrun.accounts.models import Publisher
from pressrun.carts.models import ShippingRule
from pressrun.carts.services import shipping_rule_create
from pressrun.carts.shipping import mail_method_for
from tests.dashboard.pages import text

pytestmark = pytest.mark.django_db

URL = "/integrations/shipping-rules"


def rules(publisher: Publisher) -> list[tuple[str, str, str, int]]:
    return list(
        ShippingRule.objects.filter(publisher=publisher)
        .order_by("position", "id")
        .values_list("match", "text", "mail_method", "position")
    )


def test_a_rule_is_added_after_the_others_and_then_applies(
    signed_in: Client, publisher: Publisher
) -> None:
    shipping_rule_create(publisher=publisher, match="is", text="Free", mail_method="standard")
    response = signed_in.post(
        URL, {"match": "starts_with", "text": "  Overnight  Air ", "mail_method": "express"}
    )
    assert response.status_code == 302
    assert rules(publisher) == [
        ("is", "free", "standard", 0),
        ("starts_with", "overnight air", "express", 1),
    ]
    page = text(signed_in.get(URL))
    assert "Rule added: description starts with 'overnight air' → Express (1-2 days)." in page
    assert "1 description is 'free' → Standard" in page
    assert "2 description starts with 'overnight air' → Express (1-2 days)" in page
    assert mail_method_for(publisher_id=publisher.id, description="OVERNIGHT AIR 1 day") == (
        "express"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"match": "is", "text": "   ", "mail_method": "standard"}, "This field is required."),
        ({"match": "contains", "text": "x", "mail_method": "standard"}, "Select a valid choice."),
        ({"match": "is", "text": "x", "mail_method": "pigeon"}, "Select a valid choice."),
        ({"match": "is", "text": "x" * 201, "mail_method": "standard"}, "at most 200 characters"),
        (
            {"match": "is", "text": "FREE ", "mail_method": "priority"},
            "There is already a rule: description is 'free'.",
        ),
    ],
)
def test_refused_rules_write_nothing(
    signed_in: Client, publisher: Publisher, values: dict[str, str], message: str
) -> None:
    shipping_rule_create(publisher=publisher, match="is", text="free", mail_method="standard")
    before = rules(publisher)
    response = signed_in.post(URL, values)
    assert response.status_code == 400
    assert message in text(response)
    assert rules(publisher) == before


def test_delete_a_rule(signed_in: Client, publisher: Publisher) -> None:
    rule = shipping_rule_create(
        publisher=publisher, match="is", text="free", mail_method="standard"
    )
    page = signed_in.get(URL).content.decode()
    assert "Delete the rule: description is &#x27;free&#x27; → Standard" in page
    response = signed_in.post(f"{URL}/{rule.id}/delete", follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "Rule deleted: description is 'free' → Standard" in text(response)
    assert rules(publisher) == []
    assert signed_in.get(f"{URL}/{rule.id}/delete").status_code == 405


def test_another_publishers_rule_cannot_be_deleted(
    signed_in: Client, make_publisher: Callable[..., Any]
) -> None:
    other = make_publisher(email="other@example.com")
    rule = shipping_rule_create(publisher=other, match="is", text="free", mail_method="standard")
    assert signed_in.post(f"{URL}/{rule.id}/delete").status_code == 404
    assert rules(other) == [("is", "free", "standard", 0)]
    assert "free" not in signed_in.get(URL).content.decode()


@pytest.mark.parametrize(
    ("description", "reading"),
    [
        (
            "Free shipping (3-5 days)",
            "“Free shipping (3-5 days)” ships by Express (1-2 days): your rule description "
            "starts with 'free shipping' → Express (1-2 days).",
        ),
        (
            "USPS Priority Mail",
            "“USPS Priority Mail” ships by Priority (2-3 days): it contains “priority”.",
        ),
        (
            "USPS Priority Mail Express",
            "“USPS Priority Mail Express” ships by Express (1-2 days): it contains “express”.",
        ),
        ("Ground", "“Ground” ships by Standard + tracking: no rule fits, so your default"),
    ],
)
def test_try_a_description(
    signed_in: Client, publisher: Publisher, description: str, reading: str
) -> None:
    publisher.default_mail_method = "rtrackstandard"
    publisher.save(update_fields=["default_mail_method"])
    shipping_rule_create(
        publisher=publisher, match="starts_with", text="Free shipping", mail_method="express"
    )
    response = signed_in.get(URL, {"description": description})
    assert response.status_code == 200
    shown = response.content.decode().split('data-testid="shipping-reading">')[1].split("</p>")[0]
    assert " ".join(html.unescape(re.sub(r"<[^>]+>", "", shown)).split()).startswith(reading)
    assert rules(publisher) == [("starts_with", "free shipping", "express", 0)]


def test_the_integrations_page_links_here(signed_in: Client) -> None:
    assert f'href="{URL}"' in signed_in.get("/integrations").content.decode()
