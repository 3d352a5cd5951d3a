"""Carrier-code imports into one connection at the same moment, on PostgreSQL: they are
serialised on the connection's row, so confirmations of previews made against the same table
import exactly one (the others refused as stale, nothing of them written), and plain imports
of the same new code never collide on its uniqueness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from pressrun.warehouses.carrier_codes import (
    CarrierCodesChanged,
    carrier_codes_import,
    carrier_codes_parse,
    carrier_codes_preview,
)
from pressrun.warehouses.models import CarrierCode
from pressrun.warehouses.services import warehouse_create
from tests.threads import run_together

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 4
HEAD = b"Carrier,Code,Description\n"


def at_once(files: list[bytes], run: Callable[[bytes], str]) -> list[str]:
    outcomes: list[str] = []
    assert run_together(*(lambda data=data: outcomes.append(run(data)) for data in files)) == []
    return outcomes


def test_stale_confirmations_at_once_import_exactly_one(publisher: Any) -> None:
    warehouse = warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection
    files = [HEAD + f"USPS,CODE_{n},file {n}\n".encode() for n in range(THREADS)]
    state = carrier_codes_preview(
        connection_id=warehouse.id, codes=carrier_codes_parse(files[0]).codes
    ).state

    def confirm(data: bytes) -> str:
        try:
            carrier_codes_import(connection_id=warehouse.id, data=data, expected_state=state)
        except CarrierCodesChanged:
            return "stale"
        return data.decode()

    outcomes = at_once(files, confirm)
    assert outcomes.count("stale") == THREADS - 1
    [winner] = [outcome for outcome in outcomes if outcome != "stale"]
    rows = list(
        CarrierCode.objects.filter(connection=warehouse).values_list(
            "carrier", "code", "description"
        )
    )
    assert [",".join(row) for row in rows] == winner.splitlines()[1:]


def test_imports_of_one_new_code_at_once_never_collide(publisher: Any) -> None:
    warehouse = warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection
    files = [HEAD + f"UPS,UPS_GROUND,take {n}\n".encode() for n in range(THREADS)]

    def run(data: bytes) -> str:
        preview = carrier_codes_import(connection_id=warehouse.id, data=data)
        return f"{len(preview.added)} {len(preview.changed)}"

    outcomes = at_once(files, run)
    assert sorted(outcomes) == ["0 1"] * (THREADS - 1) + ["1 0"]
    [row] = CarrierCode.objects.filter(connection=warehouse).values_list("code", "description")
    assert row[0] == "UPS_GROUND"
    assert row[1] in {f"take {n}" for n in range(THREADS)}
