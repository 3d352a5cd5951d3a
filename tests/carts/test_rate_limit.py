"""Rate limits of the cart endpoints (carts/rate_limit.py, counted by core/rate_limit.py):
per cart and publisher for verified senders, per client address for senders that do not
check out; 429 with Retry-After, nothing stored.

Before: every request was stored, however many (28,564 fuzzed deliveries → 610 MB)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from pressrun.carts.models import InboundDelivery
from pressrun.core import rate_limit
from pressrun.core.models import RateWindow
from tests.carts.samcart_payloads import as_json, notification
from tests.carts.shopify_payloads import order_json, shopify_headers
from tests.threads import skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


def samcart(publisher: Any, order_id: str, *, token: str | None = None, address: str = "") -> Any:
    token = publisher.cart_token if token is None else token
    return Client(REMOTE_ADDR=address or "203.0.113.5").post(
        f"/carts/samcart?idpub={publisher.id}&token={token}",
        data=as_json(notification(order_id=order_id)),
        content_type="application/json",
    )


def assert_throttled(response: Any) -> int:
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= 60
    assert response.content.decode() == f"Too many requests; retry after {seconds} seconds.\n"
    return seconds


def test_the_defaults_leave_room_for_a_flash_sale(settings: Any) -> None:
    assert settings.CART_DELIVERIES_PER_MINUTE == 1200
    assert settings.CART_UNVERIFIED_PER_MINUTE == 60


def test_a_publisher_over_its_budget_gets_429_and_nothing_is_stored(
    publisher: Any, make_publisher: Any, settings: Any
) -> None:
    settings.CART_DELIVERIES_PER_MINUTE = 3
    with mock.patch.object(rate_limit.timezone, "now", return_value=timezone.now()):
        assert [samcart(publisher, f"S-{n}").status_code for n in range(3)] == [200] * 3
        assert_throttled(samcart(publisher, "S-4"))
        assert_throttled(samcart(publisher, "S-5"))
        assert InboundDelivery.objects.filter(publisher=publisher).count() == 3

        # Another cart of the same publisher, and another publisher, have their own budgets.
        shopify = Client().post(
            f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
            data=order_json(),
            content_type="application/json",
            **shopify_headers(),
        )
        assert shopify.status_code == 200
        other = make_publisher(balance="10")
        assert samcart(other, "O-1").status_code == 200
    assert InboundDelivery.objects.count() == 5


def test_the_budget_comes_back_with_the_next_minute(publisher: Any, settings: Any) -> None:
    settings.CART_DELIVERIES_PER_MINUTE = 1
    start = timezone.now().replace(second=10, microsecond=0)
    with mock.patch.object(rate_limit.timezone, "now", return_value=start):
        assert samcart(publisher, "W-1").status_code == 200
        assert assert_throttled(samcart(publisher, "W-2")) == 50
    with mock.patch.object(rate_limit.timezone, "now", return_value=start + timedelta(minutes=1)):
        assert samcart(publisher, "W-2").status_code == 200


def test_unverified_requests_are_limited_per_address_and_never_use_the_publishers_budget(
    publisher: Any, settings: Any
) -> None:
    settings.CART_DELIVERIES_PER_MINUTE = 2
    settings.CART_UNVERIFIED_PER_MINUTE = 2
    forger = "198.51.100.7"
    with mock.patch.object(rate_limit.timezone, "now", return_value=timezone.now()):
        statuses = [samcart(publisher, "F", token="wrong", address=forger).status_code]
        statuses += [samcart(publisher, "F", token="wrong", address=forger).status_code]
        assert statuses == [401, 401]
        assert_throttled(samcart(publisher, "F", token="wrong", address=forger))
        # Another address still gets its plain 401.
        assert samcart(publisher, "F", token="wrong", address="198.51.100.8").status_code == 401
        # The publisher's own deliveries pass, from anywhere, the forger's address included.
        assert samcart(publisher, "R-1", address=forger).status_code == 200
        assert samcart(publisher, "R-2").status_code == 200
    assert list(InboundDelivery.objects.values_list("external_key", flat=True)) == ["R-2", "R-1"]


def test_zero_turns_the_limit_off(publisher: Any, settings: Any) -> None:
    settings.CART_DELIVERIES_PER_MINUTE = 0
    assert [samcart(publisher, f"Z-{n}").status_code for n in range(3)] == [200] * 3
    assert not RateWindow.objects.exists()


def test_old_windows_are_pruned(publisher: Any) -> None:
    now = timezone.now()
    RateWindow.objects.create(scope="a", window_start=now - timedelta(hours=2), count=5)
    recent = RateWindow.objects.create(scope="a", window_start=now - timedelta(minutes=5), count=5)
    assert rate_limit.rate_windows_prune(now=now) == 1
    assert list(RateWindow.objects.all()) == [recent]


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_pass_exactly_up_to_the_limit(
    make_publisher: Any, settings: Any
) -> None:
    """Twenty deliveries at once against a limit of seven: exactly seven are stored. The count
    is taken under the window row's lock, so no two requests see the same number."""
    skip_unless_threads_share_the_database()
    settings.CART_DELIVERIES_PER_MINUTE = 7
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    publisher = make_publisher(balance="10")
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    errors: list[BaseException] = []
    now = timezone.now().replace(second=5)

    def deliver(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(samcart(publisher, f"C-{number}").status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(rate_limit.timezone, "now", return_value=now):
        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert sorted(statuses) == [200] * 7 + [429] * 13
    assert InboundDelivery.objects.filter(publisher=publisher).count() == 7
    assert RateWindow.objects.get().count == 20
