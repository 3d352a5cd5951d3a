"""Fixtures for the fulfillment tests: a paying publisher, a CD, and orders placed through
intake (the gateway's path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pressrun.core import events
from pressrun.core.events import DomainEvent
from pressrun.orders import events as order_events
from pressrun.orders.models import Order
from tests import intake


@pytest.fixture(autouse=True)
def _quiet_tasks(settings: Any) -> None:
    # Placing and shipping orders queues emails; these tests look at the moves.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    return make_publisher(balance="100", company="Acme Discs")


@pytest.fixture
def cd(make_project: Callable[..., Any], publisher: Any) -> Any:
    return make_project(publisher)


@pytest.fixture
def place(db: None) -> Callable[..., Order]:
    counter = iter(range(1, 100_000))

    def place(publisher: Any, project: Any, *, quantity: int = 1, **kwargs: Any) -> Order:
        invoice = kwargs.pop("invoice", f"F-{next(counter)}")
        return intake.place(publisher, [(project, quantity)], invoice=invoice, **kwargs)

    return place


@pytest.fixture
def paid(place: Callable[..., Order], publisher: Any, cd: Any) -> Callable[..., Order]:
    """A new paid order of the fixture publisher (waiting for its 12-hour window)."""

    def make(**kwargs: Any) -> Order:
        order = place(publisher, cd, **kwargs)
        assert order.status == "PROCESSING"
        return order

    return make


@pytest.fixture
def published() -> Iterator[list[DomainEvent]]:
    """Every order event published during the test, in order."""
    seen: list[DomainEvent] = []
    types = [
        order_events.OrderPaid,
        order_events.FulfillmentMoved,
        order_events.OrderReady,
        order_events.OrderShipped,
        order_events.AddressErrorRaised,
        order_events.OrderCancelled,
        order_events.ShipmentCorrected,
    ]
    for event_type in types:
        events.subscribe(event_type, seen.append)
    yield seen
    for event_type in types:
        events.unsubscribe(event_type, seen.append)
