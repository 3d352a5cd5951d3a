"""Listings: resolution (DropStream's rules, a property test), the CSV parser's per-row
errors, the preview, the all-or-nothing import, and the export that imports back unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.warehouses.csv_files import MAX_FILE_BYTES
from pressrun.warehouses.listings import (
    Component,
    ListingsChanged,
    ListingsInvalid,
    WarehouseLine,
    listings_csv,
    listings_for,
    listings_import,
    listings_parse,
    listings_preview,
    resolve_line,
    resolve_lines,
)
from pressrun.warehouses.models import Listing, WarehouseConnection
from pressrun.warehouses.services import warehouse_create

# --- resolution --------------------------------------------------------------------------


def test_resolution_follows_dropstreams_three_rules() -> None:
    listings = {
        "SHIRT-M": (Component("WH-SHIRT-M", 1),),
        "SET": (Component("A", 1), Component("B", 2)),
    }
    assert resolve_line(sku="BOOK", quantity=2, listings=listings) == [WarehouseLine("BOOK", 2)]
    assert resolve_line(sku="SHIRT-M", quantity=4, listings=listings) == [
        WarehouseLine("WH-SHIRT-M", 4)
    ]
    assert resolve_line(sku="SET", quantity=3, listings=listings) == [
        WarehouseLine("A", 3),
        WarehouseLine("B", 6),
    ]


def test_resolving_an_order_adds_up_a_warehouse_sku_that_several_lines_come_to() -> None:
    listings = {"SET": (Component("A", 1), Component("B", 2)), "B-SINGLE": (Component("B", 1),)}
    assert resolve_lines([("SET", 2), ("B-SINGLE", 1), ("C", 1)], listings=listings) == [
        WarehouseLine("A", 2),
        WarehouseLine("B", 5),
        WarehouseLine("C", 1),
    ]


skus = st.text(alphabet="ABCXYZ-0123", min_size=1, max_size=4)
components = st.lists(
    st.tuples(skus, st.integers(1, 50)), min_size=1, max_size=4, unique_by=lambda c: c[0]
).map(lambda parts: tuple(Component(sku, quantity) for sku, quantity in parts))
listing_maps = st.dictionaries(skus, components, max_size=6)


@given(listings=listing_maps, sku=skus, quantity=st.integers(1, 250))
def test_resolution_property(listings: dict[str, Any], sku: str, quantity: int) -> None:
    lines = resolve_line(sku=sku, quantity=quantity, listings=listings)
    listed = listings.get(sku)
    if listed is None:
        assert lines == [WarehouseLine(sku, quantity)]
    else:
        # One warehouse line per component, in order, each its quantity x the line's.
        assert [line.sku for line in lines] == [component.warehouse_sku for component in listed]
        assert all(
            line.quantity == component.quantity * quantity
            for line, component in zip(lines, listed, strict=True)
        )
    # Resolving twice the quantity is resolving once and doubling (linearity).
    doubled = resolve_line(sku=sku, quantity=quantity * 2, listings=listings)
    assert [line.quantity for line in doubled] == [line.quantity * 2 for line in lines]


@given(listings=listing_maps, lines=st.lists(st.tuples(skus, st.integers(1, 250)), max_size=6))
def test_resolving_lines_keeps_every_unit(
    listings: dict[str, Any], lines: list[tuple[str, int]]
) -> None:
    resolved = resolve_lines(lines, listings=listings)
    assert len({line.sku for line in resolved}) == len(resolved)
    expected: dict[str, int] = {}
    for sku, quantity in lines:
        for component in listings.get(sku) or (Component(sku, 1),):
            expected[component.warehouse_sku] = (
                expected.get(component.warehouse_sku, 0) + component.quantity * quantity
            )
    assert {line.sku: line.quantity for line in resolved} == expected


# --- parsing -----------------------------------------------------------------------------


def test_a_file_parses_into_products_and_bundles() -> None:
    parsed = listings_parse(
        b"\xef\xbb\xbfchannel_sku,warehouse_sku,quantity\r\n"
        b"SHIRT-M,WH-SHIRT-M,1\r\n"
        b"\r\n"
        b"SET,A,1\r\n"
        b"SET,B,2\r\n"
        b'"BOOK, 2nd ed",WH-BOOK-2,\r\n'
    )
    assert parsed.errors == []
    assert parsed.rows == 4
    assert parsed.listings == {
        "SHIRT-M": (Component("WH-SHIRT-M", 1),),
        "SET": (Component("A", 1), Component("B", 2)),
        "BOOK, 2nd ed": (Component("WH-BOOK-2", 1),),
    }


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            b"",
            [
                "The file is empty: its first line must be the header "
                "channel_sku,warehouse_sku,quantity."
            ],
        ),
        (
            b"sku,warehouse,qty\nA,B,1\n",
            [
                "Line 1: the header must be channel_sku,warehouse_sku,quantity "
                "(found: sku,warehouse,qty)."
            ],
        ),
        (
            b'"sku\nLine 9: forged",warehouse,qty\n',
            [
                "Line 1: the header must be channel_sku,warehouse_sku,quantity "
                "(found: sku Line 9: forged,warehouse,qty)."
            ],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\n ,B,1\nA, ,1\n",
            ["Line 2: channel_sku is blank.", "Line 3: warehouse_sku is blank."],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\nA,B,0\nC,D,x\nE,F,-1\nG,H,10001\n",
            [
                "Line 2: quantity '0' is not a whole number from 1 to 10,000.",
                "Line 3: quantity 'x' is not a whole number from 1 to 10,000.",
                "Line 4: quantity '-1' is not a whole number from 1 to 10,000.",
                "Line 5: quantity '10001' is not a whole number from 1 to 10,000.",
            ],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\nSET,A,1\nSET,B,1\nSET,A,2\n",
            [
                "Line 4: warehouse_sku 'A' is already listed for channel_sku 'SET' on line 2: "
                "give it once, with the total quantity."
            ],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\nA,B\nA,B,1,x\n",
            [
                "Line 2: expected 3 columns (channel_sku, warehouse_sku, quantity), found 2.",
                "Line 3: expected 3 columns (channel_sku, warehouse_sku, quantity), found 4.",
            ],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\n=HYPERLINK(1),B,1\n",
            [
                "Line 2: channel_sku '=HYPERLINK(1)' starts with '=', which a spreadsheet "
                "would run as a formula."
            ],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\nA," + b"W" * 101 + b",1\n",
            ["Line 2: warehouse_sku is longer than 100 characters."],
        ),
        (
            b"channel_sku,warehouse_sku,quantity\nA,B,1\nCaf\xe9,B,1\n",
            ["Line 3: the file is not UTF-8 text (byte 45 of the file): save it as CSV UTF-8."],
        ),
        (
            b'channel_sku,warehouse_sku,quantity\n"A\nB",C,1\n',
            ["Line 2: channel_sku contains a line break or a control character."],
        ),
        (
            b'channel_sku,warehouse_sku,quantity\n"A"x,B,1\n',
            ["Line 2: the CSV cannot be read here (',' expected after '\"')."],
        ),
    ],
)
def test_every_bad_row_is_reported_with_its_line(data: bytes, errors: list[str]) -> None:
    parsed = listings_parse(data)
    assert [str(error) for error in parsed.errors] == errors
    assert parsed.listings == {}


def test_too_large_a_file_is_refused_unread() -> None:
    parsed = listings_parse(b"x" * (MAX_FILE_BYTES + 1))
    assert [str(error) for error in parsed.errors] == [
        "The file is larger than 1,048,576 bytes (1 MB): split it in parts."
    ]


def test_errors_are_capped_and_counted() -> None:
    data = b"channel_sku,warehouse_sku,quantity\n" + b",B,1\n" * 150
    parsed = listings_parse(data)
    assert len(parsed.errors) == 100
    assert parsed.more_errors == 50


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_the_parser_never_crashes_on_bytes(data: bytes) -> None:
    parsed = listings_parse(b"channel_sku,warehouse_sku,quantity\n" + data)
    assert parsed.ok == (parsed.errors == [])
    if parsed.ok:
        assert all(parts for parts in parsed.listings.values())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_the_parser_never_crashes_on_text(text: str) -> None:
    parsed = listings_parse(text.encode("utf-8", "surrogatepass"))
    for error in parsed.errors:
        assert str(error)


# --- preview, import, export -------------------------------------------------------------


@pytest.fixture
def warehouse(publisher: Any) -> WarehouseConnection:
    return warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection


def rows(connection: WarehouseConnection) -> list[tuple[str, str, int]]:
    return list(
        Listing.objects.filter(connection=connection)
        .order_by("channel_sku", "id")
        .values_list("channel_sku", "warehouse_sku", "quantity")
    )


HEAD = b"channel_sku,warehouse_sku,quantity\n"


@pytest.mark.django_db
def test_import_replaces_the_named_channel_skus_and_keeps_the_others(
    warehouse: WarehouseConnection,
) -> None:
    first = listings_import(
        connection_id=warehouse.id,
        data=HEAD + b"SET,A,1\nSET,B,2\nSHIRT,WH-SHIRT,1\nMUG,WH-MUG,1\n",
    )
    assert [change.channel_sku for change in first.added] == ["SET", "SHIRT", "MUG"]
    data = HEAD + b"SET,A,1\nSET,C,3\nSHIRT,WH-SHIRT,1\nCAP,WH-CAP,1\n"
    preview = listings_preview(connection_id=warehouse.id, listings=listings_parse(data).listings)
    assert [change.channel_sku for change in preview.added] == ["CAP"]
    assert [(change.channel_sku, change.before, change.after) for change in preview.changed] == [
        ("SET", (Component("A", 1), Component("B", 2)), (Component("A", 1), Component("C", 3)))
    ]
    assert preview.removed == []
    assert preview.unchanged == 1
    assert rows(warehouse) == [
        ("MUG", "WH-MUG", 1),
        ("SET", "A", 1),
        ("SET", "B", 2),
        ("SHIRT", "WH-SHIRT", 1),
    ]  # a preview writes nothing
    listings_import(connection_id=warehouse.id, data=data)
    assert rows(warehouse) == [
        ("CAP", "WH-CAP", 1),
        ("MUG", "WH-MUG", 1),
        ("SET", "A", 1),
        ("SET", "C", 3),
        ("SHIRT", "WH-SHIRT", 1),
    ]


@pytest.mark.django_db
def test_replace_all_removes_what_the_file_does_not_name(warehouse: WarehouseConnection) -> None:
    listings_import(connection_id=warehouse.id, data=HEAD + b"SET,A,1\nSET,B,2\nMUG,WH-MUG,1\n")
    preview = listings_import(
        connection_id=warehouse.id, data=HEAD + b"MUG,WH-MUG,1\n", replace_all=True
    )
    assert [(change.channel_sku, change.before) for change in preview.removed] == [
        ("SET", (Component("A", 1), Component("B", 2)))
    ]
    assert rows(warehouse) == [("MUG", "WH-MUG", 1)]


@pytest.mark.django_db
def test_a_file_with_one_bad_row_imports_nothing(warehouse: WarehouseConnection) -> None:
    listings_import(connection_id=warehouse.id, data=HEAD + b"MUG,WH-MUG,1\n")
    before = rows(warehouse)
    with pytest.raises(ListingsInvalid) as caught:
        listings_import(
            connection_id=warehouse.id, data=HEAD + b"MUG,WH-MUG-2,1\nSET,A,1\nSET,A,2\n"
        )
    assert caught.value.message == "The file has 1 error(s): nothing was imported."
    assert [str(error) for error in caught.value.errors] == [
        "Line 4: warehouse_sku 'A' is already listed for channel_sku 'SET' on line 3: give "
        "it once, with the total quantity."
    ]
    assert rows(warehouse) == before


@pytest.mark.django_db
def test_confirming_a_stale_preview_is_refused(warehouse: WarehouseConnection) -> None:
    data = HEAD + b"SET,A,1\n"
    preview = listings_preview(connection_id=warehouse.id, listings=listings_parse(data).listings)
    listings_import(connection_id=warehouse.id, data=HEAD + b"MUG,WH-MUG,1\n")
    with pytest.raises(ListingsChanged):
        listings_import(connection_id=warehouse.id, data=data, expected_state=preview.state)
    assert rows(warehouse) == [("MUG", "WH-MUG", 1)]
    fresh = listings_preview(connection_id=warehouse.id, listings=listings_parse(data).listings)
    listings_import(connection_id=warehouse.id, data=data, expected_state=fresh.state)
    assert rows(warehouse) == [("MUG", "WH-MUG", 1), ("SET", "A", 1)]


@pytest.mark.django_db
def test_the_export_imports_back_unchanged(
    warehouse: WarehouseConnection, make_publisher: Callable[..., Any]
) -> None:
    data = HEAD + b'SET,A,1\nSET,B,2\n"BOOK, 2nd ed",WH-BOOK,1\nZ,"W ""quoted""",7\n'
    listings_import(connection_id=warehouse.id, data=data)
    exported = listings_csv(warehouse)
    assert exported == (
        "channel_sku,warehouse_sku,quantity\r\n"
        '"BOOK, 2nd ed",WH-BOOK,1\r\n'
        "SET,A,1\r\n"
        "SET,B,2\r\n"
        'Z,"W ""quoted""",7\r\n'
    )
    again = listings_import(connection_id=warehouse.id, data=exported.encode(), replace_all=True)
    assert again.changes == 0
    assert again.unchanged == 3
    # Another connection's listings are its own.
    other = warehouse_create(
        name="Other", publisher_id=make_publisher(email="o@example.com").id
    ).connection
    assert listings_for(other) == {}
    assert listings_csv(other) == "channel_sku,warehouse_sku,quantity\r\n"


@pytest.mark.django_db
def test_a_large_import_fits_in_one_transaction(warehouse: WarehouseConnection) -> None:
    data = HEAD + b"".join(b"SKU-%d,WH-%d,1\nSKU-%d,WH-X,2\n" % (i, i, i) for i in range(1500))
    listings_import(connection_id=warehouse.id, data=data)
    assert Listing.objects.filter(connection=warehouse).count() == 3000
    changed = data.replace(b"WH-X,2", b"WH-X,3")
    preview = listings_import(connection_id=warehouse.id, data=changed)
    assert len(preview.changed) == 1500
    assert Listing.objects.filter(connection=warehouse, quantity=3).count() == 1500
