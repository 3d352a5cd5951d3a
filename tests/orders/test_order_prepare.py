"""`order_prepare` lays an order out before a caller's transaction (a cart's delivery, whose
transaction holds SQLite's write lock), and `order_place(prepared=...)` writes it inside:
the same order as `order_place` alone, prepared again whenever what was prepared no longer
stands, and refused exactly as without preparing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import transaction

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.catalog.models import Project
from pressrun.orders import services as intake
from pressrun.orders.models import Order, OrderLine
from pressrun.orders.requests import LineRequest, OrderRequest
from pressrun.orders.services import OrderRefused, Refusal, order_place, order_prepare
from tests.intake import ANN, order_request

pytestmark = pytest.mark.django_db(transaction=True)


def request_for(
    publisher: Any,
    project: Any,
    *,
    invoice: str,
    quantity: int = 2,
    source: str = "shopify",
    email: str = "",
) -> OrderRequest:
    return order_request(
        publisher,
        [(project, quantity)],
        recipient={**ANN, "email": email},
        source=source,
        invoice=invoice,
    )


def written(order: Order) -> tuple[str, Decimal, Decimal, list[tuple[int, int, Decimal]]]:
    stored = Order.objects.get(id=order.id)
    lines = list(
        OrderLine.objects.filter(order=stored)
        .order_by("position")
        .values_list("project_id", "quantity", "unit_price")
    )
    return stored.status, stored.products_cost, stored.total_cost, lines


@pytest.fixture
def preparing() -> Any:
    """Counts intake's preparations of an order."""
    with mock.patch.object(intake, "_prepare", wraps=intake._prepare) as spy:
        yield spy


def test_a_prepared_order_is_written_as_order_place_writes_it(
    make_publisher: Any, make_project: Any, preparing: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    alone = order_place(request=request_for(publisher, project, invoice="A-1"), publisher=publisher)
    preparing.reset_mock()

    request = request_for(publisher, project, invoice="A-2")
    prepared = order_prepare(request=request, publisher=publisher)
    assert prepared is not None
    with transaction.atomic():
        order = order_place(request=request, publisher=publisher, prepared=prepared)
    assert preparing.call_count == 1
    assert written(order) == written(alone)
    assert written(order) == (
        "PROCESSING",
        Decimal("9.00"),
        order.total_cost,
        [(project.id, 2, Decimal("4.50"))],
    )
    assert LedgerEntry.objects.filter(order_id=order.id).count() == 1


def test_a_prepared_order_for_another_request_is_not_used(
    make_publisher: Any, make_project: Any, preparing: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    prepared = order_prepare(
        request=request_for(publisher, project, invoice="B-1"), publisher=publisher
    )
    request = request_for(publisher, project, invoice="B-1", quantity=3)
    with transaction.atomic():
        order = order_place(request=request, publisher=publisher, prepared=prepared)
    assert preparing.call_count == 2
    assert written(order)[3] == [(project.id, 3, Decimal("4.50"))]


def test_an_order_that_would_be_refused_is_not_prepared_and_is_refused_when_placed(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    other = make_publisher()
    not_yours = make_project(other)
    request = request_for(publisher, not_yours, invoice="C-1")
    assert order_prepare(request=request, publisher=publisher) is None
    with pytest.raises(OrderRefused) as refused:
        order_place(request=request, publisher=publisher, prepared=None)
    assert refused.value.reason == Refusal.PRODUCT_NOT_YOURS
    assert not Order.objects.exists()


def test_a_prepared_duplicate_is_refused_and_writes_nothing(
    make_publisher: Any, make_project: Any, preparing: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    request = request_for(publisher, project, invoice="D-1")
    prepared = order_prepare(request=request, publisher=publisher)
    # The same invoice is placed by someone else between the preparing and the write.
    first = order_place(request=request, publisher=publisher)
    preparing.reset_mock()
    with pytest.raises(OrderRefused) as refused, transaction.atomic():
        order_place(request=request, publisher=publisher, prepared=prepared)
    assert preparing.call_count == 0  # refused by the prepared write itself
    assert refused.value.reason == Refusal.DUPLICATE
    assert list(Order.objects.values_list("id", flat=True)) == [first.id]
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("100") - first.total_cost


def test_prices_changed_after_an_order_of_two_products_was_prepared_are_the_ones_charged(
    make_publisher: Any, make_project: Any, preparing: Any
) -> None:
    publisher = make_publisher(balance="100")
    first, second = make_project(publisher), make_project(publisher, price=Decimal("2.00"))
    request = replace(
        request_for(publisher, first, invoice="F-1", quantity=1),
        lines=(LineRequest(first.id, 1), LineRequest(second.id, 1)),
    )
    prepared = order_prepare(request=request, publisher=publisher)
    Project.objects.filter(id=second.id).update(price=Decimal("6.25"))
    with transaction.atomic():
        order = order_place(request=request, publisher=publisher, prepared=prepared)
    assert preparing.call_count == 2  # the prepared write found the row changed
    assert written(order)[1:] == (
        Decimal("10.75"),
        order.total_cost,
        [(first.id, 1, Decimal("4.50")), (second.id, 1, Decimal("6.25"))],
    )


def test_a_publisher_setting_changed_after_the_order_was_prepared_is_the_one_used(
    make_publisher: Any, make_project: Any, preparing: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    request = request_for(publisher, project, invoice="G-1", quantity=1)
    assert request.mail_method is None  # the publisher's default decides
    prepared = order_prepare(request=request, publisher=publisher)
    assert prepared is not None
    assert prepared.rows["fields"]["mail_method"] == publisher.default_mail_method
    Publisher.objects.filter(id=publisher.id).update(default_mail_method="rtrackstandard")
    publisher.refresh_from_db()
    with transaction.atomic():
        order = order_place(request=request, publisher=publisher, prepared=prepared)
    assert preparing.call_count == 2
    assert Order.objects.get(id=order.id).mail_method == "rtrackstandard"


def test_a_prepared_order_is_written_once(
    make_publisher: Any, make_project: Any, preparing: Any
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    request = request_for(publisher, project, invoice="H-1")
    prepared = order_prepare(request=request, publisher=publisher)
    order_place(request=request, publisher=publisher, prepared=prepared)
    # Given again (say a caller's retry): prepared afresh, and refused as the duplicate.
    with pytest.raises(OrderRefused) as refused:
        order_place(request=request, publisher=publisher, prepared=prepared)
    assert refused.value.reason == Refusal.DUPLICATE
    assert preparing.call_count == 2
    assert Order.objects.count() == 1
