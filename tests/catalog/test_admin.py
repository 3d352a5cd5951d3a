"""Operators edit projects in the admin through the catalog service."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.html import escape

from pressrun.catalog.models import Project, ProjectCartId

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


def form_data(publisher_id: int, **overrides: str) -> dict[str, Any]:
    data = {
        "publisher": str(publisher_id),
        "title": "Live DVD",
        "media": "dvd",
        "packaging": "dvd-case",
        "price": "6.25",
        "special_text": "",
        "ecommerce_ids": "",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def cart_ids(project_id: int) -> list[str]:
    return list(
        ProjectCartId.objects.filter(project_id=project_id)
        .order_by("id")
        .values_list("cart_id", flat=True)
    )


def test_add_writes_the_cart_ids(operator: Client, make_publisher: Any) -> None:
    publisher = make_publisher()
    reply = operator.post(
        "/admin/catalog/project/add/", form_data(publisher.id, ecommerce_ids="<5000-A> {6000-B}")
    )
    assert reply.status_code == 302
    project = Project.objects.get()
    assert reply["Location"].endswith("/admin/catalog/project/")
    assert (project.title, project.ecommerce_ids) == ("Live DVD", "<5000-A> {6000-B}")
    assert cart_ids(project.id) == ["5000-A", "6000-B"]


def test_change_rewrites_the_cart_ids_and_shows_them(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    project = make_project(publisher, ecommerce_ids="<OLD-1>")
    url = f"/admin/catalog/project/{project.id}/change/"
    reply = operator.post(url, form_data(publisher.id, ecommerce_ids="<NEW-1>\n<NEW-2>"))
    assert reply.status_code == 302
    assert cart_ids(project.id) == ["NEW-1", "NEW-2"]
    page = operator.get(url).content.decode()
    assert "Parsed cart IDs" in page
    assert "NEW-1<br>NEW-2" in page


@pytest.mark.parametrize("path", ["add/", "{id}/change/"])
def test_malformed_string_is_a_field_error(
    operator: Client, make_publisher: Any, make_project: Any, path: str
) -> None:
    publisher = make_publisher()
    project = make_project(publisher, ecommerce_ids="<A>", title="Old")
    url = "/admin/catalog/project/" + path.format(id=project.id)
    reply = operator.post(url, form_data(publisher.id, ecommerce_ids="5000-A <6000-B>"))
    assert reply.status_code == 200
    message = (
        "'5000-A' at position 1 is not in brackets but other IDs are; wrap every ID in <> or "
        "{}, e.g. <5000-A>."
    )
    assert reply.context["adminform"].form.errors["ecommerce_ids"] == [message]
    assert escape(message) in reply.content.decode()
    assert Project.objects.count() == 1
    project.refresh_from_db()
    assert (project.title, project.ecommerce_ids) == ("Old", "<A>")
    assert cart_ids(project.id) == ["A"]


def test_service_rules_are_field_errors(operator: Client, make_publisher: Any) -> None:
    publisher = make_publisher()
    reply = operator.post("/admin/catalog/project/add/", form_data(publisher.id, price="100000"))
    assert reply.status_code == 200
    assert reply.context["adminform"].form.errors["price"] == [
        "Price '100000.00' must be between 0.00 and 99999.99."
    ]
    assert not Project.objects.exists()


def test_cart_ids_are_listed_read_only(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    project = make_project(make_publisher(), ecommerce_ids="{294010}{298020}")
    reply = operator.get("/admin/catalog/projectcartid/")
    assert reply.status_code == 200
    assert "294010" in reply.content.decode()
    row = ProjectCartId.objects.filter(project=project).first()
    assert row is not None
    assert operator.get(f"/admin/catalog/projectcartid/{row.id}/change/").status_code == 200
    assert operator.get("/admin/catalog/projectcartid/add/").status_code == 403
    reply = operator.post(f"/admin/catalog/projectcartid/{row.id}/change/", {"cart_id": "X"})
    assert reply.status_code == 403
    assert cart_ids(project.id) == ["294010", "298020"]


@pytest.mark.parametrize("price", ["1e3", "4,95", "0.001", "١٢"])
def test_the_price_is_read_strictly(operator: Client, make_publisher: Any, price: str) -> None:
    publisher = make_publisher()
    reply = operator.post("/admin/catalog/project/add/", form_data(publisher.id, price=price))
    assert reply.status_code == 200
    [message] = reply.context["adminform"].form.errors["price"]
    assert "at most two decimals, such as 19.95" in message
    assert not Project.objects.exists()
