"""The operator's money forms in the admin: a payment and an adjustment, read strictly,
through the billing services (which release HOLD orders)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.orders.models import Order, OrderStatus
from tests.billing.test_credit_and_holds import place

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


@pytest.mark.parametrize("amount", ["1e3", "0.001", "19,95", "١٢", "-5", "0"])
def test_record_a_payment_refuses_what_is_not_plainly_an_amount(
    operator: Client, make_publisher: Any, amount: str
) -> None:
    publisher = make_publisher()
    url = f"/admin/accounts/publisher/{publisher.id}/credit/"
    response = operator.post(url, {"amount": amount, "description": "Check"})
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert not LedgerEntry.objects.exists()


def test_the_change_page_offers_payment_and_adjustment(
    operator: Client, make_publisher: Any
) -> None:
    publisher = make_publisher()
    page = operator.get(f"/admin/accounts/publisher/{publisher.id}/change/").content.decode()
    assert f'href="/admin/accounts/publisher/{publisher.id}/credit/"' in page
    assert f'href="/admin/accounts/publisher/{publisher.id}/adjust/"' in page


def test_an_adjustment_either_way_with_its_reason_releases_holds(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    project = make_project(publisher, price=Decimal("4.50"))
    order = place(publisher, project)  # $6.00, HOLD
    url = f"/admin/accounts/publisher/{publisher.id}/adjust/"
    response = operator.post(
        url, {"direction": "credit", "amount": "6", "reason": "Shipping refund"}, follow=True
    )
    assert "Adjusted by $6.00; balance $0.00. Released HOLD orders: " in response.content.decode()
    assert Order.objects.get(id=order.id).status == OrderStatus.PROCESSING
    operator.post(url, {"direction": "debit", "amount": "2.50", "reason": "Refund by check"})
    entries = LedgerEntry.objects.filter(kind=LedgerKind.ADJUSTMENT).order_by("id")
    assert [(e.amount, e.description) for e in entries] == [
        (Decimal("6.00"), "Shipping refund"),
        (Decimal("-2.50"), "Refund by check"),
    ]
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("-2.50")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"direction": "credit", "amount": "1e3", "reason": "x"}, "amount"),
        ({"direction": "credit", "amount": "5", "reason": ""}, "reason"),
        ({"direction": "sideways", "amount": "5", "reason": "x"}, "direction"),
    ],
)
def test_a_bad_adjustment_writes_nothing(
    operator: Client, make_publisher: Any, data: dict[str, str], field: str
) -> None:
    publisher = make_publisher()
    response = operator.post(f"/admin/accounts/publisher/{publisher.id}/adjust/", data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not LedgerEntry.objects.exists()


def test_shipping_rates_are_read_strictly(operator: Client, make_publisher: Any) -> None:
    from pressrun.billing.models import ShippingRate

    make_publisher()  # puts the default price list back
    rate = ShippingRate.objects.get(shipping_method="standard", region="domestic")
    url = f"/admin/billing/shippingrate/{rate.id}/change/"
    data = {"shipping_method": "standard", "region": "domestic", "each_additional_unit": "0.50"}
    response = operator.post(url, {**data, "first_unit": "1e3"})
    assert response.status_code == 200
    assert "is not an amount" in str(response.context["adminform"].form.errors["first_unit"])
    rate.refresh_from_db()
    assert rate.first_unit == Decimal("1.50")
    assert operator.post(url, {**data, "first_unit": "$1.75"}).status_code == 302
    rate.refresh_from_db()
    assert rate.first_unit == Decimal("1.75")
