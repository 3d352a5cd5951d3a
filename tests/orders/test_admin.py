"""Operators move orders through the admin, using the same services as everything else."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.billing.models import LedgerEntry
from pressrun.orders.models import Order, OrderEvent, OrderStatus
from pressrun.orders.services import TransitionRefused, order_transition
from tests.billing.test_credit_and_holds import place

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


def test_operator_ships_an_order_with_date_and_tracking(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher))
    reply = operator.post(
        f"/admin/orders/order/{order.id}/transition/",
        {"to_status": "SHIPPED", "ship_date": "2026-11-23", "tracking_id": " 9400111 "},
    )
    assert reply.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.ship_date, order.tracking_id) == (
        OrderStatus.SHIPPED,
        date(2026, 11, 23),
        "9400111",
    )
    event = OrderEvent.objects.filter(order=order).order_by("-id").first()
    assert event is not None
    assert (event.from_status, event.to_status, event.actor) == (
        "PROCESSING",
        "SHIPPED",
        "operator:op",
    )


def test_operator_reports_an_address_error(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher))
    operator.post(
        f"/admin/orders/order/{order.id}/transition/",
        {"to_status": "ERROR", "error_description": "No such street in Austin."},
    )
    order.refresh_from_db()
    assert (order.status, order.error_description) == ("ERROR", "No such street in Austin.")


def test_shipping_needs_a_date(operator: Client, make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher))
    reply = operator.post(f"/admin/orders/order/{order.id}/transition/", {"to_status": "SHIPPED"})
    assert reply.status_code == 200
    assert b"A ship date is required" in reply.content
    order.refresh_from_db()
    assert order.status == OrderStatus.PROCESSING


def test_hold_to_processing_charges_or_is_refused(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    order = place(publisher, make_project(publisher, price=Decimal("4.50")))
    with pytest.raises(TransitionRefused, match="balance does not cover"):
        order_transition(order_id=order.id, to_status="PROCESSING", actor="t")
    assert Order.objects.get(id=order.id).status == OrderStatus.HOLD
    publisher.balance = Decimal("0")
    publisher.save()
    # a payment recorded some other way: transition charges it exactly once
    from pressrun.billing.services import ledger_credit

    order_transition(order_id=order.id, to_status="ERROR", actor="t", error_description="x")
    ledger_credit(publisher_id=publisher.id, amount=Decimal("6"), description="", actor="t")
    order_transition(order_id=order.id, to_status="PROCESSING", actor="t")
    assert LedgerEntry.objects.filter(order=order).count() == 1
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("0.00")


def test_test_orders_cannot_move(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher), mode="test")
    with pytest.raises(TransitionRefused, match="cannot go from TEST to PROCESSING"):
        order_transition(order_id=order.id, to_status="PROCESSING", actor="t")


def test_admin_pages_render(operator: Client, make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher(balance="100")
    order = place(publisher, make_project(publisher))
    for url in (
        "/admin/",
        "/admin/orders/order/",
        f"/admin/orders/order/{order.id}/change/",
        f"/admin/orders/order/{order.id}/transition/",
        "/admin/accounts/publisher/",
        f"/admin/accounts/publisher/{publisher.id}/change/",
        f"/admin/accounts/publisher/{publisher.id}/credit/",
        "/admin/billing/ledgerentry/",
        "/admin/billing/shippingrate/",
        "/admin/catalog/project/",
    ):
        assert operator.get(url).status_code == 200, url


def test_operator_records_a_payment(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    order = place(publisher, make_project(publisher, price=Decimal("4.50")))
    reply = operator.post(
        f"/admin/accounts/publisher/{publisher.id}/credit/",
        {"amount": "6.00", "description": "Wire 123"},
    )
    assert reply.status_code == 302
    assert Order.objects.get(id=order.id).status == OrderStatus.PROCESSING


def test_anonymous_users_cannot_reach_the_admin(client: Client, make_publisher: Any) -> None:
    publisher = make_publisher()
    reply = client.get(f"/admin/accounts/publisher/{publisher.id}/credit/")
    assert reply.status_code == 302
    assert "/admin/login/" in reply["Location"]


def test_operators_see_deleted_orders_read_only(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    from pressrun.orders.changes import order_delete

    publisher = make_publisher()
    order = place(publisher, make_project(publisher), invoice="GONE-1")
    record = order_delete(publisher=publisher, order_id=order.id, actor="dashboard (x)")
    listing = operator.get("/admin/orders/orderdeletion/")
    assert listing.status_code == 200
    assert "GONE-1" in listing.content.decode()
    page = operator.get(f"/admin/orders/orderdeletion/{record.id}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert operator.get("/admin/orders/orderdeletion/add/").status_code == 403
    assert operator.post(f"/admin/orders/orderdeletion/{record.id}/delete/").status_code == 403
