"""Which projects a cart order names: by eCommerce ID (Method 1) or by project ID (Method 2)."""

from __future__ import annotations

from typing import Any

import pytest

from pressrun.catalog.selectors import project_for_sku_method2, projects_for_cart_ids
from pressrun.catalog.services import project_update

pytestmark = pytest.mark.django_db


def test_match_ignores_case_and_surrounding_space(
    make_publisher: Any, make_project: Any, django_assert_num_queries: Any
) -> None:
    publisher = make_publisher()
    project = make_project(publisher, ecommerce_ids="<5000-A> <6000-B> <7150>")
    with django_assert_num_queries(1):
        found = projects_for_cart_ids(
            publisher_id=publisher.id, cart_ids=["5000-a", " 6000-B ", "7150", "9999", ""]
        )
    assert found == {
        "5000-a": [project],
        " 6000-B ": [project],
        "7150": [project],
        "9999": [],
        "": [],
    }


def test_one_id_may_order_several_projects(
    make_publisher: Any, make_project: Any, django_assert_num_queries: Any
) -> None:
    # The 1ShoppingCart spec's bonus disc: 6000-B orders both projects.
    publisher = make_publisher()
    first = make_project(publisher, ecommerce_ids="<5000-A> <6000-B>")
    second = make_project(publisher, ecommerce_ids="<4000-C> <6000-B>", confirm_shared_ids=True)
    with django_assert_num_queries(1):
        found = projects_for_cart_ids(
            publisher_id=publisher.id, cart_ids=["5000-A", "4000-C", "6000-b"]
        )
    assert found == {"5000-A": [first], "4000-C": [second], "6000-b": [first, second]}


def test_other_publishers_projects_never_match(make_publisher: Any, make_project: Any) -> None:
    mine, theirs = make_publisher(), make_publisher()
    make_project(theirs, ecommerce_ids="{294010}")
    own = make_project(mine, ecommerce_ids="{298020}")
    assert projects_for_cart_ids(publisher_id=mine.id, cart_ids=["294010", "298020"]) == {
        "294010": [],
        "298020": [own],
    }


def test_inactive_projects_are_excluded(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    retired = make_project(publisher, ecommerce_ids="<A>")
    current = make_project(publisher, ecommerce_ids="<A>", confirm_shared_ids=True)
    project_update(project=retired, is_active=False)
    assert projects_for_cart_ids(publisher_id=publisher.id, cart_ids=["A"]) == {"A": [current]}


def test_no_query_when_nothing_can_match(
    make_publisher: Any, django_assert_num_queries: Any
) -> None:
    publisher = make_publisher()
    with django_assert_num_queries(0):
        assert projects_for_cart_ids(publisher_id=publisher.id, cart_ids=[" ", "x" * 5000]) == {
            " ": [],
            "x" * 5000: [],
        }


def test_matching_follows_updates(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    project = make_project(publisher, ecommerce_ids="<OLD>")
    project_update(project=project, ecommerce_ids="<NEW>")
    assert projects_for_cart_ids(publisher_id=publisher.id, cart_ids=["old", "new"]) == {
        "old": [],
        "new": [project],
    }


def test_method2_sku_is_the_publishers_active_project_id(
    make_publisher: Any, make_project: Any
) -> None:
    mine, theirs = make_publisher(), make_publisher()
    own = make_project(mine, project_id=66760)
    make_project(theirs, project_id=66770)
    retired = make_project(mine, project_id=66780)
    project_update(project=retired, is_active=False)
    assert project_for_sku_method2(publisher_id=mine.id, sku="66760") == own
    assert project_for_sku_method2(publisher_id=mine.id, sku=" 66760 ") == own
    assert project_for_sku_method2(publisher_id=mine.id, sku="66770") is None  # not theirs
    assert project_for_sku_method2(publisher_id=mine.id, sku="66780") is None  # inactive
    assert project_for_sku_method2(publisher_id=mine.id, sku="99999") is None


@pytest.mark.parametrize(
    "sku",
    [
        "",
        "VTD234-100",
        "66760-A",
        "066760",
        "-66760",
        "6676.0",
        "\uff16\uff16\uff17\uff16\uff10",
        "9" * 25,
    ],
)
def test_method2_ignores_skus_that_are_not_project_ids(
    make_publisher: Any, make_project: Any, django_assert_num_queries: Any, sku: str
) -> None:
    publisher = make_publisher()
    make_project(publisher, project_id=66760)
    with django_assert_num_queries(0):
        assert project_for_sku_method2(publisher_id=publisher.id, sku=sku) is None
