"""Operators see checkouts and Stripe events in the admin, read-only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from pressrun.payments.models import (
    Checkout,
    CheckoutStatus,
    EventOutcome,
    StripeDispute,
    StripeEvent,
)

pytestmark = pytest.mark.django_db


def test_checkouts_and_events_are_listed_and_cannot_be_changed(
    client: Client, make_publisher: Any
) -> None:
    client.force_login(get_user_model().objects.create_superuser("op", "", "operator-pass"))
    publisher = make_publisher(email="payer@example.com")
    checkout = Checkout.objects.create(
        publisher=publisher,
        amount=Decimal("25.00"),
        status=CheckoutStatus.MISMATCH,
        stripe_session_id="cs_test_abc",
        note="Paid but not credited: amount_total 400, not 2500 ($25.00).",
        created_at=timezone.now(),
    )
    event = StripeEvent.objects.create(
        event_id="evt_123",
        type="checkout.session.completed",
        created=timezone.now(),
        received_at=timezone.now(),
        payload="{}",
        checkout=checkout,
        outcome=EventOutcome.MISMATCH,
    )
    listing = client.get("/admin/payments/checkout/").content.decode()
    assert "payer@example.com" in listing
    assert "Paid, but not as asked" in listing
    detail = client.get(f"/admin/payments/checkout/{checkout.id}/change/").content.decode()
    assert "amount_total 400, not 2500" in detail
    assert "evt_123" in client.get("/admin/payments/stripeevent/").content.decode()
    assert client.get(f"/admin/payments/stripeevent/{event.id}/change/").status_code == 200
    assert client.get("/admin/payments/checkout/add/").status_code == 403
    response = client.post(f"/admin/payments/checkout/{checkout.id}/change/", {"amount": "999"})
    assert response.status_code == 403
    assert client.post(f"/admin/payments/checkout/{checkout.id}/delete/").status_code == 403
    checkout.refresh_from_db()
    assert checkout.amount == Decimal("25.00")


def test_checkouts_show_what_was_refunded_and_disputes_are_listed(
    client: Client, make_publisher: Any
) -> None:
    client.force_login(get_user_model().objects.create_superuser("op", "", "operator-pass"))
    publisher = make_publisher(email="payer@example.com")
    checkout = Checkout.objects.create(
        publisher=publisher,
        amount=Decimal("80.00"),
        status=CheckoutStatus.PAID,
        stripe_session_id="cs_test_refunded",
        stripe_payment_intent="pi_refunded",
        refunded=Decimal("35.50"),
        taken_back=Decimal("60.50"),
        created_at=timezone.now(),
    )
    StripeDispute.objects.create(
        dispute_id="du_listed",
        checkout=checkout,
        amount=Decimal("25.00"),
        status="needs_response",
        withdrawn=Decimal("25.00"),
        taken=Decimal("25.00"),
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    listing = client.get("/admin/payments/checkout/").content.decode()
    assert "Refunded in Stripe" in listing
    assert "35.50" in listing
    assert "60.50" in listing
    detail = client.get(f"/admin/payments/checkout/{checkout.id}/change/").content.decode()
    assert "35.50" in detail
    disputes = client.get("/admin/payments/stripedispute/").content.decode()
    assert "du_listed" in disputes
    assert client.get("/admin/payments/stripedispute/add/").status_code == 403
