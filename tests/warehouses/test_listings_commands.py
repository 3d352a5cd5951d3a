"""`pressrun createwarehouse --publisher` and `pressrun importlistings`: output, exit status
and nothing written on a refusal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError

from pressrun.warehouses.models import Listing, WarehouseConnection
from pressrun.warehouses.services import warehouse_create

pytestmark = pytest.mark.django_db


def test_createwarehouse_for_a_publisher_starts_disabled(publisher: Any, capsys: Any) -> None:
    call_command("createwarehouse", "--name", "Their 3PL", "--publisher", str(publisher.id))
    out = capsys.readouterr().out
    match = re.fullmatch(r"id=(\d+) username=(station-[0-9a-f]{12}) password=(\S+)\n", out)
    assert match, out
    connection = WarehouseConnection.objects.get(id=int(match.group(1)))
    assert (connection.name, connection.publisher_id, connection.enabled) == (
        "Their 3PL",
        publisher.id,
        False,
    )
    assert check_password(match.group(3), connection.password)


def test_createwarehouse_enabled_is_enabled_at_once(publisher: Any, capsys: Any) -> None:
    call_command(
        "createwarehouse", "--name", "Set up", "--publisher", str(publisher.id), "--enabled"
    )
    out = capsys.readouterr().out
    match = re.fullmatch(r"id=(\d+) username=(station-[0-9a-f]{12}) password=(\S+)\n", out)
    assert match, out
    assert WarehouseConnection.objects.get(id=int(match.group(1))).enabled is True


def test_createwarehouse_for_an_unknown_publisher_writes_nothing(publisher: Any) -> None:
    with pytest.raises(CommandError, match=r"^There is no publisher 999999\.$"):
        call_command("createwarehouse", "--name", "X", "--publisher", "999999")
    assert not WarehouseConnection.objects.exists()


@pytest.fixture
def warehouse(publisher: Any) -> WarehouseConnection:
    return warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "listings.csv"
    path.write_bytes(data)
    return str(path)


def test_importlistings_prints_what_changed(
    warehouse: WarehouseConnection, tmp_path: Path, capsys: Any
) -> None:
    first = write(tmp_path, b"channel_sku,warehouse_sku,quantity\nSET,A,1\nSET,B,2\nMUG,WH-MUG,\n")
    call_command("importlistings", "--warehouse", str(warehouse.id), "--dry-run", first)
    assert capsys.readouterr().out == (
        "add     SET -> 1 x A + 2 x B\n"
        "add     MUG -> 1 x WH-MUG\n"
        "2 added, 0 changed, 0 removed, 0 unchanged\n"
        "Dry run: nothing was changed.\n"
    )
    assert not Listing.objects.exists()
    call_command("importlistings", "--warehouse", str(warehouse.id), first)
    assert capsys.readouterr().out == (
        "add     SET -> 1 x A + 2 x B\n"
        "add     MUG -> 1 x WH-MUG\n"
        "2 added, 0 changed, 0 removed, 0 unchanged\n"
    )
    second = write(tmp_path, b"channel_sku,warehouse_sku,quantity\nSET,A,3\n")
    call_command("importlistings", "--warehouse", str(warehouse.id), "--replace-all", second)
    assert capsys.readouterr().out == (
        "change  SET: 1 x A + 2 x B -> 3 x A\n"
        "remove  MUG (was 1 x WH-MUG)\n"
        "0 added, 1 changed, 1 removed, 0 unchanged\n"
    )
    assert list(Listing.objects.values_list("channel_sku", "warehouse_sku", "quantity")) == [
        ("SET", "A", 3)
    ]


def test_importlistings_with_errors_prints_them_and_imports_nothing(
    warehouse: WarehouseConnection, tmp_path: Path, capsys: Any
) -> None:
    path = write(tmp_path, b"channel_sku,warehouse_sku,quantity\nSET,A,1\n,B,1\nSET,A,two\n")
    for extra in ([], ["--dry-run"]):
        with pytest.raises(CommandError, match=r"^2 error\(s\): nothing was imported\.$"):
            call_command("importlistings", "--warehouse", str(warehouse.id), *extra, path)
        assert capsys.readouterr().err == (
            "Line 3: channel_sku is blank.\n"
            "Line 4: quantity 'two' is not a whole number from 1 to 10,000.\n"
        )
    assert not Listing.objects.exists()


def test_importlistings_refuses_unknown_and_own_connections(
    warehouse: WarehouseConnection, tmp_path: Path
) -> None:
    path = write(tmp_path, b"channel_sku,warehouse_sku,quantity\nSET,A,1\n")
    with pytest.raises(CommandError, match=r"^There is no warehouse connection 999999\.$"):
        call_command("importlistings", "--warehouse", "999999", path)
    own = warehouse_create(name="Main desk").connection
    with pytest.raises(CommandError, match="is pressrun's own shipping station"):
        call_command("importlistings", "--warehouse", str(own.id), path)
    with pytest.raises(CommandError, match=r"^Cannot read .*missing\.csv: No such file"):
        call_command(
            "importlistings", "--warehouse", str(warehouse.id), str(tmp_path / "missing.csv")
        )
    assert not Listing.objects.exists()
