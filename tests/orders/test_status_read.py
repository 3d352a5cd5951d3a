"""The status call's read of orders by invoice (`order_by_invoices`), compiled once, against
the queryset it replaced: the same rows, ranks and value types on both databases."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pressrun.orders.models import Mode, Order, OrderStatus
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.selectors import OrderStatusRow, order_by_invoices
from pressrun.orders.services import order_place

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def reference(publisher_id: int, invoices: list[str]) -> dict[str, OrderStatusRow]:
    """The read as the ORM did it: a queryset per call, rows ranked by (prod, newest)."""
    wanted = {invoice for invoice in invoices if invoice}
    found: dict[str, OrderStatusRow] = {}
    if not wanted:
        return found
    rows = Order.objects.filter(publisher_id=publisher_id, invoice__in=wanted).values_list(
        *OrderStatusRow._fields
    )
    for values in rows:
        row = OrderStatusRow(*values)
        current = found.get(row.invoice)
        rank = (row.mode == Mode.PROD, row.id)
        if current is None or rank > (current.mode == Mode.PROD, current.id):
            found[row.invoice] = row
    return found


# Placeholders, quotes, and what PostgreSQL's array text form gives a meaning to (the
# invoices go there as one array literal): backslashes, braces, commas, NULL.
ODD_INVOICES = [
    "%s",
    "100%",
    "%%",
    "a'b",
    'q"q',
    "?",
    "ünï 🎵",
    "<x>&",
    " pad",
    "A-1",
    "b\\s\\",
    "{c,d}",
    "NULL",
    "e, f",
]


@pytest.fixture
def publishers(make_publisher: Callable[..., Any], make_project: Callable[..., Any]) -> list[Any]:
    """Two publishers with orders under the same invoices: several per invoice (test and
    production, two products), in every status, some shipped with a date and tracking."""
    chosen = random.Random(5)
    made = []
    for _ in range(2):
        publisher = make_publisher(balance="500")
        projects = [make_project(publisher), make_project(publisher)]
        for number in range(30):
            invoice = ODD_INVOICES[number % len(ODD_INVOICES)] if number < 20 else f"INV-{number}"
            request = OrderRequest(
                publisher_id=publisher.id,
                lines=(LineRequest(project_id=chosen.choice(projects).id, quantity=1),),
                recipient=RecipientRequest(
                    name=f"Buyer {number}",
                    address="1 Main St",
                    city="Austin",
                    state="TX",
                    postal_code="78701",
                    email="ann@example.com",
                ),
                mode=chosen.choice([Mode.PROD, Mode.TEST]),
                source="gateway",
                invoice=f"PLACED-{number}",
            )
            order = order_place(request=request, publisher=publisher)
            status = chosen.choice(list(OrderStatus))
            shipped = status == OrderStatus.SHIPPED
            Order.objects.filter(id=order.id).update(
                invoice=invoice,
                status=status,
                error_description="Street not found." if status == OrderStatus.ERROR else "",
                ship_date=date(2026, 1 + number % 12, 1 + number % 28) if shipped else None,
                tracking_id=f"9400{number:018d}" if shipped else "",
            )
        made.append(publisher)
    return made


def test_same_rows_ranks_and_types_as_the_queryset(publishers: list[Any]):
    chosen = random.Random(11)
    every = [*ODD_INVOICES, *(f"INV-{number}" for number in range(20, 30))]
    asked = [
        [],
        [""],
        ["A-1"],
        ["NOPE", "", "A-1", "A-1"],
        every,
        [*every, "NOPE", ""],
        *(chosen.sample(every, chosen.randint(1, len(every))) for _ in range(20)),
    ]
    for publisher in publishers:
        for invoices in asked:
            found = order_by_invoices(publisher_id=publisher.id, invoices=invoices)
            assert found == reference(publisher.id, invoices)
            for row in found.values():
                assert type(row) is OrderStatusRow
                assert [type(value) for value in row] == [
                    int,
                    str,
                    str,
                    str,
                    str,
                    str,
                    date if row.ship_date is not None else type(None),
                    str,
                    str,
                ]
    shipped = [
        row
        for publisher in publishers
        for row in order_by_invoices(publisher_id=publisher.id, invoices=every).values()
        if row.ship_date is not None
    ]
    assert shipped, "no shipped order drawn: the date's conversion is not checked"


def test_production_beats_test_then_newest(publishers: list[Any]):
    publisher = publishers[0]
    orders = list(Order.objects.filter(publisher=publisher).order_by("id")[:3])
    Order.objects.filter(id__in=[order.id for order in orders]).update(invoice="SAME")
    Order.objects.filter(id=orders[0].id).update(mode=Mode.PROD)
    Order.objects.filter(id__in=[orders[1].id, orders[2].id]).update(mode=Mode.TEST)
    [row] = order_by_invoices(publisher_id=publisher.id, invoices=["SAME"]).values()
    assert row.id == orders[0].id
    Order.objects.filter(id=orders[2].id).update(mode=Mode.PROD)
    [row] = order_by_invoices(publisher_id=publisher.id, invoices=["SAME"]).values()
    assert row.id == orders[2].id


def test_one_statement_per_call(publishers: list[Any]):
    with CaptureQueriesContext(connection) as captured:
        order_by_invoices(publisher_id=publishers[0].id, invoices=["A-1", "%s", "NOPE"])
    [query] = captured.captured_queries
    assert "ORDER BY" not in query["sql"]


def test_the_statement_takes_the_invoices_as_the_database_wants_them(publishers: list[Any]):
    """PostgreSQL: one array literal, the same statement for any number of invoices
    (psycopg caches its parsing of a statement of up to 50 parameters only, and adapts a list
    element by element). SQLite: one parameter per invoice, after the publisher's."""
    sent: list[tuple[str, list[Any]]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, *args: Any) -> Any:
        sent.append((sql, list(params)))
        return execute(sql, params, *args)

    many = [f"INV-{number}" for number in range(100)]
    publisher_id = publishers[0].id
    with connection.execute_wrapper(record):
        order_by_invoices(publisher_id=publisher_id, invoices=["A-1"])
        order_by_invoices(publisher_id=publisher_id, invoices=many)
    [(one_sql, one_params), (many_sql, many_params)] = sent
    if connection.vendor == "postgresql":
        assert one_sql == many_sql
        assert "= ANY(%s::varchar(" in one_sql
        assert one_params == ['{"A-1"}', publisher_id]
        literal, *rest = many_params
        assert literal[0] + literal[-1] == "{}"
        assert sorted(literal[1:-1].split(",")) == sorted(f'"{invoice}"' for invoice in many)
        assert rest == [publisher_id]
    else:
        assert one_params == ["A-1", publisher_id]
        assert sorted(many_params[:-1]) == sorted(many)
        assert many_params[-1:] == [publisher_id]
