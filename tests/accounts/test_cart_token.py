"""A publisher's cart token: random by default; a given one (the demo's documented token)
must be long and URL-safe."""

from __future__ import annotations

import pytest

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import PublisherInvalid, publisher_create

pytestmark = pytest.mark.django_db


def test_a_publisher_may_be_created_with_a_given_cart_token() -> None:
    publisher = publisher_create(
        email="demo@example.com", password="secret-pass", cart_token="demo-cart-token-66870"
    )
    assert Publisher.objects.get(id=publisher.id).cart_token == "demo-cart-token-66870"


def test_without_one_the_token_is_random() -> None:
    first = publisher_create(email="a@example.com", password="secret-pass")
    second = publisher_create(email="b@example.com", password="secret-pass")
    assert first.cart_token != second.cart_token
    assert len(first.cart_token) >= 32


@pytest.mark.parametrize("token", ["short", "has space in it!!", "x" * 65, ""])
def test_a_given_cart_token_must_be_long_and_url_safe(token: str) -> None:
    with pytest.raises(PublisherInvalid, match="A cart token is 16 to 64 letters"):
        publisher_create(email="demo@example.com", password="secret-pass", cart_token=token)
    assert not Publisher.objects.exists()
