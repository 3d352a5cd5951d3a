"""The billing page's "what a payment would release" preview agrees with what a payment does.

`billing.selectors.holds_released_by` predicts the walk of `billing.services
.order_release_holds` (oldest first, an order the money cannot cover is skipped and a later,
smaller one may still be paid) without writing anything; this keeps the two from drifting.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.accounts.models import Publisher
from pressrun.billing.selectors import hold_summary, holds_released_by
from pressrun.billing.services import ledger_credit
from pressrun.orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db

cents = st.integers(min_value=1, max_value=5_000).map(lambda c: Decimal(c) / 100)


# The fixtures are factories; each example rolls its rows back itself.
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    totals=st.lists(cents, min_size=1, max_size=6),
    balance=st.integers(min_value=0, max_value=3_000).map(lambda c: Decimal(c) / 100),
    payment=cents,
)
def test_the_preview_releases_exactly_what_the_payment_releases(
    *,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
    totals: list[Decimal],
    balance: Decimal,
    payment: Decimal,
) -> None:
    with transaction.atomic():
        publisher = make_publisher()
        project = make_project(publisher)
        orders = [place_order(publisher, project) for _ in totals]
        for order, total in zip(orders, totals, strict=True):
            assert order.status == OrderStatus.HOLD
            Order.objects.filter(id=order.id).update(total_cost=total)
        Publisher.objects.filter(id=publisher.id).update(balance=balance)

        predicted = [
            o.id
            for o in holds_released_by(summary=hold_summary(publisher=publisher), payment=payment)
        ]
        result = ledger_credit(
            publisher_id=publisher.id, amount=payment, description="test", actor="test"
        )
        assert [o.id for o in result.released] == predicted
        transaction.set_rollback(True)
