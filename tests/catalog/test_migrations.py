"""0003 fills the cart ID rows of projects saved before the rows existed."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps

from pressrun.catalog.models import Project, ProjectCartId

pytestmark = pytest.mark.django_db

migration = importlib.import_module("pressrun.catalog.migrations.0003_parse_existing_ecommerce_ids")


def test_existing_strings_are_parsed_and_malformed_ones_left_alone(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    good = make_project(publisher)
    bad = make_project(publisher)
    blank = make_project(publisher)
    already = make_project(publisher, ecommerce_ids="<KEPT>")
    # As saved before the service parsed strings.
    Project.objects.filter(id=good.id).update(ecommerce_ids="<5000-A> {6000-B}")
    Project.objects.filter(id=bad.id).update(ecommerce_ids="5000-A 6000-B")

    migration.parse_existing(apps, None)

    def listed(project: Project) -> list[tuple[str, str, int]]:
        return list(
            ProjectCartId.objects.filter(project=project)
            .order_by("id")
            .values_list("cart_id", "key", "publisher_id")
        )

    assert listed(good) == [("5000-A", "5000-a", publisher.id), ("6000-B", "6000-b", publisher.id)]
    assert listed(bad) == []
    assert Project.objects.get(id=bad.id).ecommerce_ids == "5000-A 6000-B"
    assert listed(blank) == []
    assert listed(already) == [("KEPT", "kept", publisher.id)]
