"""Fixtures for the dashboard's Django test-client tests."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from tests import intake
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    # Tasks run in the request (the reset email lands in mail.outbox at once).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def sign_in(client: Client, publisher: Any, password: str = PASSWORD) -> None:
    """Sign `client` in through the real sign-in form."""
    response = client.post("/sign-in", {"email": publisher.email, "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == "/home"


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    return make_publisher(email="owner@example.com", company="Owner Records")


@pytest.fixture
def client_for(db: None) -> Callable[..., Client]:
    """A new browser signed in as the given publisher."""

    def make(publisher: Any, **client_kwargs: Any) -> Client:
        client = Client(**client_kwargs)
        sign_in(client, publisher)
        return client

    return make


@pytest.fixture
def signed_in(publisher: Any, client_for: Callable[..., Client]) -> Client:
    return client_for(publisher)


@pytest.fixture
def place_order(db: None) -> Callable[..., Any]:
    """Place an order through intake (the gateway's path) for a publisher's project; the
    keyword arguments other than `quantity` and `mode` change the recipient's fields."""
    counter = iter(range(1, 100_000))

    def place(
        publisher: Any, project: Any, *, quantity: int = 1, mode: str = "prod", **recipient: Any
    ) -> Any:
        return intake.place(
            publisher,
            [(project, quantity)],
            recipient={**intake.ADA, **recipient},
            mode=mode,
            invoice=f"INV-{next(counter)}",
        )

    return place


def money(value: str) -> Decimal:
    return Decimal(value)
