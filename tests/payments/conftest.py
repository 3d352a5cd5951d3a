"""Stripe played by the local emulator (in a thread) for the Django test-client tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from tests.dashboard.conftest import sign_in
from tests.payments import stripe_emulator
from tests.payments.stripe_emulator import Emulator


@pytest.fixture
def stripe(settings: Any) -> Iterator[Emulator]:
    """Online payment configured against a fresh emulator; its webhooks are held (the tests
    deliver them through the test client with `deliver`)."""
    with stripe_emulator.running(Emulator(hold_webhooks=True)) as emulator:
        settings.STRIPE_SECRET_KEY = emulator.secret_key
        settings.STRIPE_WEBHOOK_SECRET = emulator.webhook_secret
        settings.STRIPE_API_BASE = emulator.base_url
        settings.STRIPE_CHECKOUT_ORIGIN = emulator.base_url
        yield emulator


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    """The publisher who pays (and is refunded) by card."""
    return make_publisher(email="owner@example.com", company="Owner Records")


@pytest.fixture
def browser(publisher: Any) -> Client:
    """The publisher signed in."""
    client = Client()
    sign_in(client, publisher)
    return client
