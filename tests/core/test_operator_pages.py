"""The operator pages' frame: staff only, the shared bar, /operator/ lands on the first page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from pressrun.core.operator_pages import operator_pages

pytestmark = pytest.mark.django_db


def test_signed_out_visitor_is_sent_to_the_operator_sign_in() -> None:
    response = Client().get("/operator/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/operator/"


def test_a_user_who_is_not_staff_gets_a_404() -> None:
    user = User.objects.create_user("clerk", password="a long enough password")
    client = Client()
    client.force_login(user)
    response = client.get("/operator/")
    assert response.status_code == 404


def test_staff_land_on_the_first_page_of_the_bar() -> None:
    user = User.objects.create_user("op", password="a long enough password", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.get("/operator/")
    # The production floor's queue comes first (fulfillment registers it with order 10).
    assert operator_pages()[0].url_name == "floor:queue"
    assert response.status_code == 302
    assert response["Location"] == "/operator/floor/"
    assert response["Cache-Control"] == "no-store, private"


def operator_routes() -> list[str]:
    """Every URL route below /operator/, as written in docs/operations.md (`<id>` for a
    number)."""
    import re

    from django.urls import URLPattern, URLResolver, get_resolver

    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith("operator/"):
                found.append("/" + re.sub(r"<int:[a-z_]+>", "<id>", route))

    walk(get_resolver().url_patterns, "")
    return found


def test_the_bar_lists_the_pages_in_order() -> None:
    assert [(page.label, page.url_name) for page in operator_pages()] == [
        ("Floor", "floor:queue"),
        ("Batches", "floor:batches"),
        ("Address errors", "address_errors:list"),
        ("Shipping", "warehouses:stations"),
    ]


def test_every_operator_page_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    section = doc.split("## The operator pages (`/operator/`)")[1].split("\n## ")[0]
    routes = operator_routes()
    assert len(routes) > 20
    # `…/packed` in a cell stands for the route above it with that last part.
    listed = set()
    last = ""
    for cell in re.findall(r"`(/operator/[^`]*|…/[^`]*)`", section):
        if cell.startswith("…/"):
            base = last.rsplit("/", 1)[0]
            listed.add(f"{base}/{cell[2:]}")
        else:
            listed.add(cell)
            last = cell
    assert sorted(set(routes) - listed) == []
    assert sorted(listed - set(routes)) == []


def test_every_operator_page_is_for_staff_only() -> None:
    from pressrun.orders.models import Order

    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk", password="a long enough password"))
    for route in operator_routes():
        url = route.replace("<id>", "1")
        for method in ("get", "post"):
            signed_out = getattr(Client(), method)(url)
            assert signed_out.status_code == 302, (method, url)
            assert signed_out["Location"].startswith("/admin/login/?next=/operator/"), url
            assert getattr(clerk, method)(url).status_code == 404, (method, url)
    assert not Order.objects.exists()
