"""Retention of raw delivery bodies: housekeeping empties the body of a delivery that made
no order once it is PRESSRUN_CART_BODY_RETENTION_DAYS old, keeping the record, its size and
its SHA-256.

Before: every body was kept for ever (28,564 fuzzed deliveries → 610 MB)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from pressrun.carts.models import InboundDelivery, Outcome
from pressrun.carts.services import (
    DeliveryActionRefused,
    delivery_bodies_expire,
    delivery_receive,
    delivery_replay,
    delivery_replay_by_publisher,
)
from pressrun.core.tasks import housekeeping
from pressrun.orders.models import Order
from tests.carts.shopify_payloads import order_json
from tests.gateway.helpers import ORDER_URL, order_fields

pytestmark = pytest.mark.django_db

BODY = order_json()


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


def delivery(publisher: Any, *, days_old: float, outcome: str, **fields: Any) -> InboundDelivery:
    received, _ = delivery_receive(
        cart="shopify",
        publisher=publisher,
        headers={},
        body=BODY,
        failure="" if outcome == Outcome.PENDING else "refused",
    )
    InboundDelivery.objects.filter(id=received.id).update(
        received_at=timezone.now() - timedelta(days=days_old), outcome=outcome, **fields
    )
    received.refresh_from_db()
    return received


def test_a_delivery_keeps_its_size_and_hash_from_the_start(publisher: Any) -> None:
    kept = delivery(publisher, days_old=0, outcome=Outcome.PENDING)
    assert (kept.body_size, kept.body_sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())


def test_housekeeping_empties_old_bodies_of_deliveries_that_made_no_order(
    publisher: Any, make_project: Any, settings: Any
) -> None:
    settings.CART_BODY_RETENTION_DAYS = 30
    old = {
        outcome: delivery(publisher, days_old=31, outcome=outcome)
        for outcome in (Outcome.FAILED, Outcome.UNMATCHED, Outcome.IGNORED, Outcome.DUPLICATE)
    }
    recent = delivery(publisher, days_old=29, outcome=Outcome.FAILED)
    pending = delivery(publisher, days_old=45, outcome=Outcome.PENDING)
    created = delivery(publisher, days_old=45, outcome=Outcome.ORDER_CREATED)
    # A legacy row stored before size and hash were kept.
    legacy = delivery(publisher, days_old=40, outcome=Outcome.FAILED)
    InboundDelivery.objects.filter(id=legacy.id).update(body_size=None, body_sha256="")

    result = housekeeping.call()

    assert result["cart_bodies_emptied"] == 5
    for row in [*old.values(), legacy]:
        row.refresh_from_db()
        assert bytes(row.body) == b""
        assert (row.body_size, row.body_sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())
        assert row.body_emptied_at is not None
        assert row.reason == "refused"  # the record itself stays
    for row in (recent, pending, created):
        row.refresh_from_db()
        assert bytes(row.body) == BODY
        assert row.body_emptied_at is None
    # Nothing left to do on the next run.
    assert delivery_bodies_expire() == 0


def test_a_delivery_linked_to_an_order_keeps_its_body(publisher: Any, make_project: Any) -> None:
    project = make_project(publisher)
    Client().post(ORDER_URL, order_fields(publisher, project, Invoice="R-1"))
    kept = delivery(publisher, days_old=60, outcome=Outcome.DUPLICATE)
    kept.orders.add(Order.objects.get())
    assert delivery_bodies_expire() == 0
    kept.refresh_from_db()
    assert bytes(kept.body) == BODY


def test_zero_days_keeps_every_body(publisher: Any, settings: Any) -> None:
    settings.CART_BODY_RETENTION_DAYS = 0
    kept = delivery(publisher, days_old=400, outcome=Outcome.FAILED)
    assert delivery_bodies_expire() == 0
    kept.refresh_from_db()
    assert bytes(kept.body) == BODY


def test_an_emptied_delivery_cannot_be_replayed_and_says_why(publisher: Any) -> None:
    emptied = delivery(publisher, days_old=31, outcome=Outcome.FAILED)
    assert delivery_bodies_expire() == 1
    emptied.refresh_from_db()
    assert delivery_replay(delivery_id=emptied.id) is False
    with pytest.raises(DeliveryActionRefused) as refused:
        delivery_replay_by_publisher(publisher=publisher, delivery_id=emptied.id)
    assert refused.value.message == (
        f"Delivery {emptied.id} can no longer be replayed: its content was removed on "
        f"{emptied.body_emptied_at:%Y-%m-%d}, 30 days after it arrived, since it made no "
        "order. Send the order again from the cart."
    )
    emptied.refresh_from_db()
    assert emptied.outcome == Outcome.FAILED


def test_the_admin_shows_what_the_emptied_body_was(publisher: Any) -> None:
    emptied = delivery(publisher, days_old=31, outcome=Outcome.FAILED)
    delivery_bodies_expire()
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    page = client.get(f"/admin/carts/inbounddelivery/{emptied.id}/change/").content.decode()
    assert f"{len(BODY)} bytes, SHA-256 {hashlib.sha256(BODY).hexdigest()}" in page
