"""Operators edit publishers in the admin: cart URLs shown, the 1ShoppingCart key sealed."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.accounts.models import Publisher

pytestmark = pytest.mark.django_db

KEY = "3B2EA25FBE9B4E31915F3CEDD74E8E78"


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


def form_data(publisher: Publisher, **overrides: str) -> dict[str, Any]:
    data = {
        "email": publisher.email,
        "company": "Acme Media",
        "default_mail_method": "standard",
        "customer_email_notifications": "on",
        "customer_address_changes": "on",
        "postage_delay_hours": "24",
        "error_email": "",
        "is_active": "on",
        "shopify_webhook_key": "",
        "shopify_topics": "orders/fulfilled",
        "oneshoppingcart_merchant_id": "407733",
        "oneshoppingcart_api_key": "",
    }
    data.update(overrides)
    return data


def test_the_api_key_is_sealed_and_never_shown_back(operator: Client, make_publisher: Any) -> None:
    publisher = make_publisher()
    url = f"/admin/accounts/publisher/{publisher.id}/change/"
    response = operator.post(url, form_data(publisher, oneshoppingcart_api_key=KEY))
    assert response.status_code == 302
    publisher.refresh_from_db()
    assert publisher.oneshoppingcart_merchant_id == "407733"
    assert publisher.oneshoppingcart_api_key == KEY
    assert KEY not in publisher.oneshoppingcart_api_key_sealed
    assert publisher.postage_delay_hours == 24

    page = operator.get(url).content.decode()
    assert KEY not in page
    assert "••••••••8E78" in page
    assert f"/carts/1shoppingcart?TSMode=test&amp;TSPub={publisher.id}" in page
    assert f"/carts/samcart?idpub={publisher.id}" in page

    # Saving again with the key left blank keeps it.
    operator.post(url, form_data(publisher, company="Acme 2"))
    publisher.refresh_from_db()
    assert (publisher.company, publisher.oneshoppingcart_api_key) == ("Acme 2", KEY)
