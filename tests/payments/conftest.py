"""Stripe played by the local emulator (in a thread) for the Django test-client tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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
