"""The same ShipNotice posted twice at the same moment (a station retrying while the first
is still being answered), on PostgreSQL: the order is shipped once, with one history entry,
and the notice is kept once, counted twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from pressrun.warehouses.models import ShipNotice
from tests.fulfillment.support import close_window
from tests.warehouses.conftest import Station
from tests.warehouses.test_shipnotify import notice, query

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 4
THREADS = 4


def test_duplicate_notices_at_once_ship_once(
    make_station: Callable[..., Station], paid: Callable[..., Order]
) -> None:
    station = make_station()
    for _ in range(ROUNDS):
        order = paid()
        close_window(order)
        body, params = notice(order), query(order)
        barrier = threading.Barrier(THREADS)
        statuses: list[int] = []
        errors: list[BaseException] = []

        def post(
            body: str = body,
            params: dict[str, Any] = params,
            barrier: threading.Barrier = barrier,
            statuses: list[int] = statuses,
            errors: list[BaseException] = errors,
        ) -> None:
            client = Client()
            barrier.wait()
            try:
                statuses.append(
                    Station(created=station.created, client=client).notify(body, params).status_code
                )
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=post) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert statuses == [200] * THREADS
        assert (
            OrderEvent.objects.filter(
                order=order, kind="fulfillment", to_state=FulfillmentState.SHIPPED
            ).count()
            == 1
        )
        [kept] = ShipNotice.objects.filter(order=order)
        assert (kept.outcome, kept.times_received) == ("applied", THREADS)
