"""Fixtures for the webhook tests: a publisher with an endpoint pointing at a local receiver
(loopback allowed, as PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK does), orders placed through intake,
and tasks kept in the database queue so a test runs each attempt itself, at a time it
chooses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from pressrun.orders.models import Order
from pressrun.webhooks.models import WebhookEventType
from pressrun.webhooks.services import webhook_endpoint_save
from tests import intake
from tests.webhooks import receiver as receiver_module
from tests.webhooks.receiver import Receiver


@pytest.fixture(autouse=True)
def _webhook_settings(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://press.example"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_module.running() as running:
        yield running


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    return make_publisher(email="label@example.com", company="Acme Discs", balance="100")


@pytest.fixture
def cd(make_project: Callable[..., Any], publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits", price=Decimal("4.50"))


@pytest.fixture
def connect(receiver: Receiver) -> Callable[..., str]:
    """Point `publisher`'s webhooks at the receiver (all events unless given); returns the
    secret, which the receiver then checks signatures with."""

    def make(publisher: Any, *, event_types: list[str] | None = None) -> str:
        _, secret = webhook_endpoint_save(
            publisher=publisher,
            url=receiver.url,
            event_types=event_types or list(WebhookEventType.values),
            enabled=True,
        )
        receiver.secret = secret
        return secret

    return make


@pytest.fixture
def place() -> Callable[..., Order]:
    counter = iter(range(1, 100_000))

    def make(publisher: Any, project: Any, quantity: int = 2, **kwargs: Any) -> Order:
        invoice = kwargs.pop("invoice", f"INV-{next(counter)}")
        return intake.place(publisher, [(project, quantity)], invoice=invoice, **kwargs)

    return make
