"""Intake refuses a customer price that is not whole cents, whichever channel built it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pressrun.orders.models import Order
from pressrun.orders.services import OrderRefused, Refusal
from tests.billing.test_credit_and_holds import place

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("price", ["19.955", "0.001", "-1", "100000", "NaN"])
def test_a_price_that_is_not_whole_cents_in_range_is_refused(
    make_publisher: Any, make_project: Any, price: str
) -> None:
    publisher = make_publisher()
    project = make_project(publisher)
    with pytest.raises(OrderRefused) as caught:
        place(publisher, project, customer_price=Decimal(price))
    assert caught.value.reason == Refusal.PRICE_INVALID
    assert not Order.objects.exists()


def test_a_whole_cents_price_is_kept(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    order = place(publisher, make_project(publisher), customer_price=Decimal("19.950"))
    order.refresh_from_db()
    assert order.customer_price == Decimal("19.95")
