"""Two confirmations of previews made against the same listings, at the same moment, on
PostgreSQL: imports into one connection are serialised on its row, so exactly one is
imported and the other is refused as stale, with nothing of it written."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from django.db import connection

from pressrun.warehouses.listings import (
    ListingsChanged,
    listings_import,
    listings_parse,
    listings_preview,
)
from pressrun.warehouses.models import Listing
from pressrun.warehouses.services import warehouse_create
from tests.threads import run_together

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 4
THREADS = 4
HEAD = b"channel_sku,warehouse_sku,quantity\n"


def test_stale_confirmations_at_once_import_exactly_one(publisher: Any) -> None:
    warehouse = warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection
    for round_number in range(ROUNDS):
        files = [
            HEAD + f"SET,A-{round_number}-{n},1\nSET,B,{n + 1}\n".encode() for n in range(THREADS)
        ]
        state = listings_preview(
            connection_id=warehouse.id, listings=listings_parse(files[0]).listings
        ).state
        outcomes: list[str] = []

        def confirm(data: bytes, outcomes: list[str] = outcomes, state: str = state) -> None:
            try:
                listings_import(connection_id=warehouse.id, data=data, expected_state=state)
                outcomes.append(data.decode())
            except ListingsChanged:
                outcomes.append("stale")

        assert run_together(*(partial(confirm, data) for data in files)) == []
        assert outcomes.count("stale") == THREADS - 1
        [winner] = [outcome for outcome in outcomes if outcome != "stale"]
        rows = list(
            Listing.objects.filter(connection=warehouse)
            .order_by("id")
            .values_list("channel_sku", "warehouse_sku", "quantity")
        )
        expected = [
            (sku, component, int(quantity))
            for sku, component, quantity in (line.split(",") for line in winner.splitlines()[1:])
        ]
        assert rows == expected
