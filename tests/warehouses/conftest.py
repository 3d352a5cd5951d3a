"""Fixtures for the shipping-station tests: the fulfillment tests' publisher, CD and orders
placed through intake, and a shipping station with a Basic-auth test client."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from pressrun.orders.models import Order
from pressrun.warehouses.services import NewConnection, warehouse_create
from tests.fulfillment.conftest import _quiet_tasks, cd, place, published, publisher

__all__ = ["_quiet_tasks", "cd", "place", "published", "publisher"]

URL = "/warehouses/shipstation"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class Station:
    created: NewConnection
    client: Client

    @property
    def id(self) -> int:
        return self.created.connection.id

    @property
    def auth(self) -> str:
        return basic(self.created.connection.username, self.created.password)

    def get(self, query: dict[str, str] | str, **extra: Any) -> Any:
        extra.setdefault("HTTP_AUTHORIZATION", self.auth)
        if isinstance(query, dict):
            return self.client.get(URL, query, **extra)
        return self.client.get(f"{URL}?{query}", **extra)

    def export(self, start: str, end: str, page: int = 1, **extra: Any) -> Any:
        return self.get(
            {"action": "export", "start_date": start, "end_date": end, "page": str(page)}, **extra
        )

    def notify(self, body: bytes | str, query: dict[str, str] | None = None, **extra: Any) -> Any:
        from urllib.parse import urlencode

        params = {"action": "shipnotify", **(query or {})}
        extra.setdefault("HTTP_AUTHORIZATION", self.auth)
        data = body.encode() if isinstance(body, str) else body
        return self.client.generic(
            "POST", f"{URL}?{urlencode(params)}", data, content_type="application/xml", **extra
        )


@pytest.fixture
def paid(place: Callable[..., Order], publisher: Any, cd: Any) -> Callable[..., Order]:
    """A new paid order of the fixture publisher (waiting for its 12-hour window) whose
    address has passed the address check, as the worker's check task records it (tasks do
    not run in these tests): the export hands only checked orders to shipping."""

    def make(*, checked: bool = True, **kwargs: Any) -> Order:
        order = place(publisher, cd, **kwargs)
        assert order.status == "PROCESSING"
        if checked:
            Order.objects.filter(id=order.id).update(address_checked_at=order.created_at)
            order.refresh_from_db()
        return order

    return make


@pytest.fixture
def make_station(db: None) -> Callable[..., Station]:
    def make(**kwargs: Any) -> Station:
        kwargs.setdefault("name", "Main station")
        return Station(created=warehouse_create(**kwargs), client=Client())

    return make


@pytest.fixture
def station(make_station: Callable[..., Station]) -> Station:
    return make_station()
