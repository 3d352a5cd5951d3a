"""orders 0009 gives the orders placed before fulfillment existed their physical state."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from pressrun.orders.models import Order

pytestmark = pytest.mark.django_db

migration = importlib.import_module("pressrun.orders.migrations.0009_fill_fulfillment_state")


def as_before(order: Order, **fields: Any) -> None:
    """The order as stored before the migration: no physical state."""
    Order.objects.filter(id=order.id).update(
        fulfillment_state="", fulfillment_updated_at=None, **fields
    )


def test_existing_orders_get_their_physical_state(
    place: Callable[..., Order], publisher: Any, cd: Any, make_publisher: Any, make_project: Any
) -> None:
    now = timezone.now()
    placed = now - timedelta(days=2)
    in_window = place(publisher, cd)
    as_before(in_window, created_at=now - timedelta(hours=1), charged_at=now - timedelta(hours=1))
    window_over = place(publisher, cd)
    deadline = now - timedelta(hours=3)
    as_before(window_over, created_at=placed, charged_at=placed, address_changes_until=deadline)
    paid_late = place(publisher, cd)  # paid after its window had ended
    as_before(
        paid_late,
        created_at=placed,
        charged_at=now - timedelta(hours=1),
        address_changes_until=deadline,
    )
    no_window = place(publisher, cd)
    as_before(no_window, created_at=placed, charged_at=placed, address_changes_until=None)
    shipped = place(publisher, cd)
    as_before(
        shipped, status="SHIPPED", ship_date=date(2026, 11, 30), tracking_id="9400111", carrier=""
    )
    error = place(publisher, cd)
    as_before(error, status="ERROR", error_description="No such street.")
    broke = make_publisher()
    hold = place(broke, make_project(broke))
    test = place(broke, make_project(broke), mode="test")
    unpaid_error = place(broke, make_project(broke))
    as_before(unpaid_error, status="ERROR", error_description="Bad zip.")

    migration.fill_fulfillment_state(apps, None)

    def state(order: Order) -> tuple[Any, ...]:
        order = Order.objects.get(id=order.id)
        return (order.status, order.fulfillment_state, order.fulfillment_updated_at)

    fresh = {o.id: o for o in Order.objects.all()}
    assert state(in_window) == ("PROCESSING", "waiting", fresh[in_window.id].charged_at)
    assert state(window_over) == ("PROCESSING", "ready", deadline)
    assert state(paid_late) == ("PROCESSING", "ready", fresh[paid_late.id].charged_at)
    assert state(no_window) == ("PROCESSING", "ready", placed)
    assert state(shipped) == ("SHIPPED", "shipped", fresh[shipped.id].updated_at)
    assert (fresh[shipped.id].ship_date, fresh[shipped.id].tracking_id) == (
        date(2026, 11, 30),
        "9400111",
    )
    assert (fresh[shipped.id].carrier, fresh[shipped.id].service) == ("", "")
    assert state(error) == ("ERROR", "address_error", fresh[error.id].updated_at)
    assert fresh[error.id].error_description == "No such street."
    assert state(unpaid_error)[:2] == ("ERROR", "address_error")
    assert fresh[unpaid_error.id].charged_at is None
    assert state(hold) == ("HOLD", "", None)
    assert state(test) == ("TEST", "", None)

    # Running it again changes nothing; going back clears what it set.
    before = sorted(Order.objects.values_list("id", "fulfillment_state", "fulfillment_updated_at"))
    migration.fill_fulfillment_state(apps, None)
    after = sorted(Order.objects.values_list("id", "fulfillment_state", "fulfillment_updated_at"))
    assert after == before
    migration.clear_fulfillment_state(apps, None)
    assert set(Order.objects.values_list("fulfillment_state", "fulfillment_updated_at")) == {
        ("", None)
    }
