"""The follow-up tasks' reads of an order by id (`order_by_id`, `order_with_publisher`,
`order_lines_with_projects`), compiled once, against the querysets they replaced: the same
instances, field by field, the publisher and products read with them, None for an order
that is gone, and the row locked when asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pressrun.accounts.models import Publisher
from pressrun.catalog.models import Project
from pressrun.orders.models import Mode, Order, OrderLine
from pressrun.orders.selectors import order_by_id, order_lines_with_projects, order_with_publisher
from tests.intake import place

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _values(instance: Any) -> list[Any]:
    return [getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields]


@pytest.fixture
def orders(make_publisher: Callable[..., Any], make_project: Callable[..., Any]) -> list[Order]:
    """A paid production order, a HOLD one (no balance) and a test order, each of its own
    publisher."""
    placed: list[Order] = []
    for balance, mode in (("500", Mode.PROD), ("0", Mode.PROD), ("0", Mode.TEST)):
        publisher = make_publisher(balance=balance, company=f"Label {len(placed)}")
        project = make_project(publisher)
        placed.append(place(publisher, [(project, 2)], mode=mode, invoice=f"BYID-{len(placed)}"))
    return placed


def test_the_same_order_and_publisher_as_the_queryset(orders: list[Order]) -> None:
    for placed in orders:
        reference = Order.objects.select_related("publisher").get(id=placed.id)
        found = order_with_publisher(placed.id)
        assert found is not None
        assert type(found) is Order
        assert _values(found) == _values(reference)
        assert not found._state.adding
        with CaptureQueriesContext(connection) as queries:
            publisher = found.publisher
        assert len(queries) == 0
        assert type(publisher) is Publisher
        assert _values(publisher) == _values(reference.publisher)
        plain = order_by_id(placed.id)
        assert plain is not None
        assert _values(plain) == _values(reference)


def test_none_for_an_order_that_is_gone(orders: list[Order]) -> None:
    gone = orders[2].id  # the test order: no ledger line keeps it
    Order.objects.filter(id=gone).delete()
    assert order_by_id(gone) is None
    assert order_by_id(gone, for_update=True) is None
    assert order_with_publisher(gone) is None
    assert order_with_publisher(max(order.id for order in orders) + 1) is None
    assert order_with_publisher(orders[0].id) is not None


def test_one_statement_each_and_the_lock_when_asked(orders: list[Order]) -> None:
    order_id = orders[1].id
    order_with_publisher(order_id)  # compiled now, not while counting
    with CaptureQueriesContext(connection) as queries:
        order_with_publisher(order_id)
    assert len(queries) == 2
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = order_by_id(order_id, for_update=True)
    assert locked is not None
    assert locked.id == order_id
    [read] = [q["sql"] for q in queries if "orders_order" in q["sql"]]
    # SQLite has no row locks: the transaction's write lock covers the row (as with
    # select_for_update, which it leaves out too).
    assert read.endswith("FOR UPDATE") == (connection.vendor == "postgresql")
    with CaptureQueriesContext(connection) as queries:
        order_by_id(order_id)
    assert "FOR UPDATE" not in queries[0]["sql"]


def test_the_lines_in_their_order_with_their_products(
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
) -> None:
    publisher = make_publisher(balance="500")
    first, second = make_project(publisher), make_project(publisher)
    order = place(publisher, [(second, 1), (first, 3)], invoice="LINES-1")
    reference = list(
        OrderLine.objects.filter(order=order).select_related("project").order_by("position")
    )
    lines = order_lines_with_projects(order.id)
    assert [_values(line) for line in lines] == [_values(line) for line in reference]
    assert [line.position for line in lines] == [1, 2]
    with CaptureQueriesContext(connection) as queries:
        projects = [line.project for line in lines]
    assert len(queries) == 0
    assert [type(project) for project in projects] == [Project, Project]
    assert [_values(project) for project in projects] == [
        _values(line.project) for line in reference
    ]
    assert order_lines_with_projects(max(o.id for o in Order.objects.all()) + 1) == []
