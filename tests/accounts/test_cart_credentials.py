"""Saving cart credentials: all checked before any is set."""

from __future__ import annotations

from typing import Any

import pytest

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import PublisherInvalid, publisher_set_cart_credentials

pytestmark = pytest.mark.django_db


def test_a_refused_value_leaves_the_instance_and_the_row_as_they_were(
    make_publisher: Any,
) -> None:
    publisher = make_publisher()
    publisher_set_cart_credentials(publisher=publisher, oneshoppingcart_merchant_id="111")
    with pytest.raises(PublisherInvalid, match="Shopify webhook key"):
        publisher_set_cart_credentials(
            publisher=publisher,
            oneshoppingcart_merchant_id="222",
            oneshoppingcart_api_key="KEY",
            shopify_webhook_key="has spaces in it",
        )
    assert (publisher.oneshoppingcart_merchant_id, publisher.oneshoppingcart_api_key) == ("111", "")
    stored = Publisher.objects.get(id=publisher.id)
    assert (stored.oneshoppingcart_merchant_id, stored.oneshoppingcart_api_key) == ("111", "")
