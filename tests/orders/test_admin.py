"""The operators' admin pages for orders, publishers, billing and catalog render and use the
same services as everything else (the order's "Change status": tests/fulfillment/test_admin.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.orders.models import Order, OrderStatus
from tests.billing.test_credit_and_holds import place

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


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
