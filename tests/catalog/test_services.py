"""The catalog service keeps a project's cart ID rows in step with its eCommerce ID String."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pressrun.catalog.models import Project, ProjectCartId
from pressrun.catalog.services import ProjectInvalid, project_update

pytestmark = pytest.mark.django_db


def rows(project: Project) -> list[tuple[str, str, int]]:
    return [
        (row.cart_id, row.key, row.publisher_id)
        for row in ProjectCartId.objects.filter(project=project).order_by("id")
    ]


def test_create_writes_the_parsed_ids(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    project = make_project(publisher, ecommerce_ids="  <5000-A> {6000-b}\n<5000-a> ")
    assert project.ecommerce_ids == "<5000-A> {6000-b}\n<5000-a>"
    assert rows(project) == [("5000-A", "5000-a", publisher.id), ("6000-b", "6000-b", publisher.id)]


def test_create_without_ids_writes_no_rows(make_publisher: Any, make_project: Any) -> None:
    project = make_project(make_publisher())
    assert rows(project) == []


def test_create_refuses_a_malformed_string_and_writes_nothing(
    make_publisher: Any, make_project: Any
) -> None:
    with pytest.raises(ProjectInvalid) as caught:
        make_project(make_publisher(), ecommerce_ids="5000-A 6000-B")
    assert caught.value.field == "ecommerce_ids"
    assert caught.value.message.startswith("'5000-A' (position 1) and '6000-B' (position 8)")
    assert not Project.objects.exists()
    assert not ProjectCartId.objects.exists()


def test_create_refuses_an_overlong_string(make_publisher: Any, make_project: Any) -> None:
    with pytest.raises(ProjectInvalid, match="at most 1000 characters"):
        make_project(make_publisher(), ecommerce_ids="<a>" * 334)
    assert not Project.objects.exists()


def test_update_rewrites_the_rows(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    project = make_project(publisher, ecommerce_ids="<5000-A> <6000-B>")
    other = make_project(publisher, ecommerce_ids="<6000-B>", confirm_shared_ids=True)
    returned = project_update(project=project, ecommerce_ids="{6000-B}{7150}", title=" New ")
    assert returned is project
    assert (project.ecommerce_ids, project.title) == ("{6000-B}{7150}", "New")
    project.refresh_from_db()
    assert (project.ecommerce_ids, project.title) == ("{6000-B}{7150}", "New")
    assert rows(project) == [("6000-B", "6000-b", publisher.id), ("7150", "7150", publisher.id)]
    # another project's rows for the same ID are untouched
    assert rows(other) == [("6000-B", "6000-b", publisher.id)]


def test_update_to_blank_removes_the_rows(make_publisher: Any, make_project: Any) -> None:
    project = make_project(make_publisher(), ecommerce_ids="<A>")
    project_update(project=project, ecommerce_ids="  ")
    assert rows(project) == []
    assert Project.objects.get(id=project.id).ecommerce_ids == ""


def test_refused_update_changes_nothing(make_publisher: Any, make_project: Any) -> None:
    project = make_project(make_publisher(), ecommerce_ids="<A> <B>", title="Old")
    before = rows(project)
    with pytest.raises(ProjectInvalid) as caught:
        project_update(project=project, ecommerce_ids="<A> <B", title="New")
    assert caught.value.message == "The '<' at position 5 is never closed; add '>' after the ID."
    assert (project.ecommerce_ids, project.title) == ("<A> <B>", "Old")
    project.refresh_from_db()
    assert (project.ecommerce_ids, project.title) == ("<A> <B>", "Old")
    assert rows(project) == before


def test_update_without_the_string_keeps_the_rows(make_publisher: Any, make_project: Any) -> None:
    project = make_project(make_publisher(), ecommerce_ids="<A>")
    ids_before = list(ProjectCartId.objects.values_list("id", flat=True))
    project_update(project=project, price="5.00", is_active=False)
    project.refresh_from_db()
    assert (project.price, project.is_active) == (Decimal("5.00"), False)
    assert list(ProjectCartId.objects.values_list("id", flat=True)) == ids_before


def test_moving_a_project_moves_its_rows(make_publisher: Any, make_project: Any) -> None:
    first, second = make_publisher(), make_publisher()
    project = make_project(first, ecommerce_ids="<A>")
    project_update(project=project, publisher=second)
    assert rows(project) == [("A", "a", second.id)]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": " "}, "title", "The title must not be blank."),
        ({"title": "x" * 201}, "title", "The title must have at most 200 characters."),
        ({"media": "vinyl"}, "media", "Unknown media 'vinyl'; use one of cd, dvd, usb."),
        ({"price": "abc"}, "price", "Price 'abc' is not an amount: use digits"),
        ({"price": "4,95"}, "price", "Price '4,95' is not an amount: use digits"),
        ({"price": "1e3"}, "price", "Price '1e3' is not an amount: use digits"),
        ({"price": Decimal("4.955")}, "price", "Price '4.955' is not a whole number of cents."),
        ({"price": "100000"}, "price", "Price '100000' must be between 0.00 and 99999.99."),
        ({"special_text": "x" * 501}, "special_text", "at most 500 characters"),
    ],
)
def test_update_refuses_bad_fields(
    make_publisher: Any, make_project: Any, changes: dict[str, Any], field: str, message: str
) -> None:
    project = make_project(make_publisher())
    with pytest.raises(ProjectInvalid, match=message) as caught:
        project_update(project=project, **changes)
    assert caught.value.field == field


def test_update_rejects_fields_that_cannot_change(make_publisher: Any, make_project: Any) -> None:
    project = make_project(make_publisher())
    with pytest.raises(TypeError, match="id"):
        project_update(project=project, id=5)  # type: ignore[call-arg]
