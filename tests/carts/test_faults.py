"""A delivery that cannot be stored gets a 503 (the cart retries), never a 500."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from pressrun.carts.models import InboundDelivery

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("cart", ["shopify", "samcart"])
@pytest.mark.parametrize("error", [OperationalError("database is locked"), RuntimeError("bug")])
def test_unstored_delivery_is_503(make_publisher: Any, cart: str, error: Exception) -> None:
    publisher = make_publisher()
    target = f"/carts/{cart}?idpub={publisher.id}&token={publisher.cart_token}"
    with mock.patch("pressrun.carts.views.delivery_receive", side_effect=error):
        reply = Client().post(target, data=b"{}", content_type="application/json")
    assert reply.status_code == 503
    assert reply.content == b"Temporarily unavailable; please retry.\n"
    assert not InboundDelivery.objects.exists()
