"""Listings: what a cart's SKU (the channel SKU) is called at a publisher's warehouse.

Resolution follows DropStream's rules (`resolve_line`, pure):

- no listing for the SKU → the line goes to the warehouse unchanged;
- a product listing (one warehouse SKU, quantity 1) → the warehouse SKU replaces it;
- a bundle (several warehouse SKUs, or one with a quantity above 1) → the line becomes its
  components, each quantity multiplied by the line's (`SET x 3` with `SET = A + 2 x B` →
  `A x 3` + `B x 6`).

Listings are imported and exported as CSV with the header `channel_sku,warehouse_sku,quantity`:
one row per component, several rows with one channel SKU make a bundle, a blank quantity is 1.
An import replaces the listings of every channel SKU it names and leaves the others alone
(`replace_all`: the connection's listings become exactly the file's; the others are removed).
It is parsed in full first (`listings_parse`: every row's error, with its line number), shown
as a preview (`listings_preview`: added, changed, removed, unchanged) and applied all at once
(`listings_import`) or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.warehouses.csv_files import (
    CsvReport,
    RowError,
    cell_error,
    csv_rows,
)
from pressrun.warehouses.models import (
    MAX_COMPONENT_QUANTITY,
    MAX_SKU_LENGTH,
    Listing,
    ListingUpload,
    WarehouseConnection,
)

COLUMNS = ("channel_sku", "warehouse_sku", "quantity")
HEADER = ",".join(COLUMNS)
# The most rows a file may have (header not counted).
MAX_ROWS = 10_000
# Rows deleted or inserted per statement (SQLite limits a statement's parameters).
_CHUNK = 500


@dataclass(frozen=True)
class Component:
    """`quantity` x `warehouse_sku`: one row of a listing."""

    warehouse_sku: str
    quantity: int


# A channel SKU's listing: its components in order (one, quantity 1: a product listing).
Listings = Mapping[str, tuple[Component, ...]]


@dataclass(frozen=True)
class WarehouseLine:
    """A line as the warehouse is sent it."""

    sku: str
    quantity: int


def resolve_line(*, sku: str, quantity: int, listings: Listings) -> list[WarehouseLine]:
    """The warehouse lines one cart line of `quantity` x `sku` becomes (see the module
    docstring). Pure: `listings` is the connection's listings by channel SKU
    (`listings_for`)."""
    components = listings.get(sku)
    if not components:
        return [WarehouseLine(sku=sku, quantity=quantity)]
    return [
        WarehouseLine(sku=component.warehouse_sku, quantity=component.quantity * quantity)
        for component in components
    ]


def resolve_lines(lines: Iterable[tuple[str, int]], *, listings: Listings) -> list[WarehouseLine]:
    """Every cart line (sku, quantity) resolved, in order; a warehouse SKU that several
    lines (or bundles) come to is sent once, its quantities added, where it first appears."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        for line in resolve_line(sku=sku, quantity=quantity, listings=listings):
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [WarehouseLine(sku=sku, quantity=quantity) for sku, quantity in totals.items()]


# --- reading -----------------------------------------------------------------------------


def listings_for(
    connection: WarehouseConnection | int, *, channel_skus: Iterable[str] | None = None
) -> dict[str, tuple[Component, ...]]:
    """A connection's listings by channel SKU, components in order (only those of
    `channel_skus` when given: what one order needs)."""
    connection_id = connection if isinstance(connection, int) else connection.id
    found: dict[str, list[Component]] = {}
    listed = Listing.objects.filter(connection_id=connection_id)
    if channel_skus is not None:
        listed = listed.filter(channel_sku__in=sorted(set(channel_skus)))
    rows = listed.order_by("channel_sku", "id").values_list(
        "channel_sku", "warehouse_sku", "quantity"
    )
    for channel_sku, warehouse_sku, quantity in rows:
        found.setdefault(channel_sku, []).append(Component(warehouse_sku, quantity))
    return {sku: tuple(components) for sku, components in found.items()}


def connections_listing(*, publisher_id: int, channel_skus: Iterable[str]) -> dict[str, list[int]]:
    """For each given channel SKU, the publisher's enabled connections that list it (ids in
    order; [] when none does). One query."""
    wanted = sorted({sku for sku in channel_skus if sku and len(sku) <= MAX_SKU_LENGTH})
    found: dict[str, list[int]] = {sku: [] for sku in channel_skus}
    if not wanted:
        return found
    rows = (
        Listing.objects.filter(
            connection__publisher_id=publisher_id,
            connection__enabled=True,
            channel_sku__in=wanted,
        )
        .order_by("connection_id")
        .values_list("channel_sku", "connection_id")
        .distinct()
    )
    for sku, connection_id in rows:
        if connection_id not in found[sku]:
            found[sku].append(connection_id)
    return found


def listings_csv(connection: WarehouseConnection | int) -> str:
    """The connection's listings as the CSV an import takes (importing it changes nothing)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for channel_sku, components in listings_for(connection).items():
        for component in components:
            writer.writerow((channel_sku, component.warehouse_sku, component.quantity))
    return out.getvalue()


def listings_state(listings: Listings) -> str:
    """A digest of `listings`: a preview carries it, and confirming that preview is refused
    once the listings changed in between."""
    digest = hashlib.sha256()
    for channel_sku in sorted(listings):
        for component in listings[channel_sku]:
            digest.update(
                f"{channel_sku}\x00{component.warehouse_sku}\x00{component.quantity}\x01".encode()
            )
    return digest.hexdigest()


# --- parsing -----------------------------------------------------------------------------


@dataclass
class ParsedListings(CsvReport):
    """A file's listings by channel SKU (in the file's order), or its errors."""

    listings: dict[str, tuple[Component, ...]] = field(default_factory=dict)


def _quantity(text: str) -> int | None:
    text = text.strip()
    if not text:
        return 1
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_COMPONENT_QUANTITY else None


def listings_parse(data: bytes) -> ParsedListings:
    """Read a listings CSV (`csv_files`: UTF-8, header `channel_sku,warehouse_sku,quantity`,
    in any case). Every row is checked; an error names its line (the file's physical line,
    the header being line 1)."""
    parsed = ParsedListings()
    components: dict[str, list[Component]] = {}
    first_line: dict[tuple[str, str], int] = {}
    rows = csv_rows(data, parsed, columns=COLUMNS, max_rows=MAX_ROWS, header_ignores_case=True)
    for line, (channel_sku, warehouse_sku, quantity_text) in rows:
        problems = [
            problem
            for problem in (
                cell_error("channel_sku", channel_sku, MAX_SKU_LENGTH, required=True),
                cell_error("warehouse_sku", warehouse_sku, MAX_SKU_LENGTH, required=True),
            )
            if problem
        ]
        quantity = _quantity(quantity_text)
        if quantity is None:
            problems.append(
                f"quantity {quantity_text[:20]!r} is not a whole number from 1 to "
                f"{MAX_COMPONENT_QUANTITY:,}."
            )
        if problems:
            for problem in problems:
                parsed.error(line, problem)
            continue
        assert quantity is not None
        key = (channel_sku, warehouse_sku)
        if key in first_line:
            parsed.error(
                line,
                f"warehouse_sku {warehouse_sku!r} is already listed for channel_sku "
                f"{channel_sku!r} on line {first_line[key]}: give it once, with the "
                "total quantity.",
            )
            continue
        first_line[key] = line
        components.setdefault(channel_sku, []).append(Component(warehouse_sku, quantity))
    if parsed.ok:
        parsed.listings = {sku: tuple(parts) for sku, parts in components.items()}
    return parsed


# --- preview and import ------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    channel_sku: str
    before: tuple[Component, ...]  # empty: added
    after: tuple[Component, ...]  # empty: removed


@dataclass(frozen=True)
class Preview:
    added: list[Change]
    changed: list[Change]
    removed: list[Change]
    unchanged: int
    # The digest of the listings this preview was made against (`listings_state`).
    state: str

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


def _preview(current: Listings, incoming: Listings, *, replace_all: bool, state: str) -> Preview:
    added: list[Change] = []
    changed: list[Change] = []
    unchanged = 0
    for sku, after in incoming.items():
        before = current.get(sku, ())
        if not before:
            added.append(Change(sku, (), after))
        elif before != after:
            changed.append(Change(sku, before, after))
        else:
            unchanged += 1
    removed = (
        [Change(sku, before, ()) for sku, before in current.items() if sku not in incoming]
        if replace_all
        else []
    )
    return Preview(added, changed, removed, unchanged, state)


def listings_preview(
    *, connection_id: int, listings: Listings, replace_all: bool = False
) -> Preview:
    """What importing `listings` (a parsed file) would change for the connection."""
    current = listings_for(connection_id)
    return _preview(current, listings, replace_all=replace_all, state=listings_state(current))


class ListingsInvalid(DomainError):
    """The file has errors (`errors`): nothing was imported."""

    def __init__(self, message: str, errors: list[RowError], more_errors: int = 0) -> None:
        super().__init__(message)
        self.errors = errors
        self.more_errors = more_errors


class ListingsChanged(DomainError):
    """The listings changed since the preview was made: nothing was imported."""


def listings_import(
    *,
    connection_id: int,
    data: bytes,
    replace_all: bool = False,
    expected_state: str | None = None,
) -> Preview:
    """Import a listings CSV into the connection, all or nothing, and return what changed.

    Raises ListingsInvalid (any row error) or ListingsChanged (`expected_state` given and
    the listings are no longer those the preview was made against). Concurrent imports into
    one connection are serialised on the connection's row.
    """
    parsed = listings_parse(data)
    if not parsed.ok:
        raise ListingsInvalid(
            f"The file has {len(parsed.errors) + parsed.more_errors} error(s): nothing was "
            "imported.",
            parsed.errors,
            parsed.more_errors,
        )
    with transaction.atomic():
        WarehouseConnection.objects.select_for_update().get(id=connection_id)
        current = listings_for(connection_id)
        state = listings_state(current)
        if expected_state is not None and state != expected_state:
            raise ListingsChanged(
                "The listings changed since this preview was made: look at the new preview "
                "and confirm again."
            )
        preview = _preview(current, parsed.listings, replace_all=replace_all, state=state)
        replaced = [change.channel_sku for change in (*preview.changed, *preview.removed)]
        for start in range(0, len(replaced), _CHUNK):
            Listing.objects.filter(
                connection_id=connection_id, channel_sku__in=replaced[start : start + _CHUNK]
            ).delete()
        Listing.objects.bulk_create(
            [
                Listing(
                    connection_id=connection_id,
                    channel_sku=change.channel_sku,
                    warehouse_sku=component.warehouse_sku,
                    quantity=component.quantity,
                )
                for change in (*preview.added, *preview.changed)
                for component in change.after
            ],
            batch_size=_CHUNK,
        )
    return preview


# --- one listing at a time (the unmatched-products page's "add a listing") ---------------


class ListingRefused(DomainError):
    """The listing cannot be added (`field` names the SKU at fault); nothing was written."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def listing_add(*, connection_id: int, channel_sku: str, warehouse_sku: str) -> bool:
    """List `channel_sku` at the connection as one `warehouse_sku` (a product listing; a
    blank warehouse SKU means the same SKU). Returns False, writing nothing, when the channel
    SKU already has a listing there (it routes there already). Raises ListingRefused for a
    SKU an import would refuse. Serialised with imports on the connection's row."""
    warehouse_sku = warehouse_sku.strip() or channel_sku
    for column, label, value in (
        ("channel_sku", "The cart's SKU", channel_sku),
        ("warehouse_sku", "The warehouse SKU", warehouse_sku),
    ):
        problem = cell_error(label, value, MAX_SKU_LENGTH, required=True)
        if problem:
            raise ListingRefused(problem, column)
    with transaction.atomic():
        WarehouseConnection.objects.select_for_update().get(id=connection_id)
        if Listing.objects.filter(connection_id=connection_id, channel_sku=channel_sku).exists():
            return False
        Listing.objects.create(
            connection_id=connection_id,
            channel_sku=channel_sku,
            warehouse_sku=warehouse_sku,
            quantity=1,
        )
    return True


# --- the dashboard's upload → preview → confirm ------------------------------------------

# An upload not confirmed within this time is refused (and removed at the next upload).
UPLOAD_VALID_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class Upload:
    """A parsed file: its errors, or its preview and the stored upload to confirm."""

    parsed: ParsedListings
    preview: Preview | None = None
    upload: ListingUpload | None = None


def listings_upload(*, connection_id: int, data: bytes, replace_all: bool = False) -> Upload:
    """Parse a file for the connection; when it has no error, keep it as a `ListingUpload`
    and return its preview (nothing is imported until `listings_confirm`)."""
    parsed = listings_parse(data)
    if not parsed.ok:
        return Upload(parsed=parsed)
    now = timezone.now()
    preview = listings_preview(
        connection_id=connection_id, listings=parsed.listings, replace_all=replace_all
    )
    with transaction.atomic():
        ListingUpload.objects.filter(
            connection_id=connection_id, created_at__lt=now - UPLOAD_VALID_FOR
        ).delete()
        upload = ListingUpload.objects.create(
            connection_id=connection_id,
            data=data,
            replace_all=replace_all,
            state=preview.state,
            created_at=now,
        )
    return Upload(parsed=parsed, preview=preview, upload=upload)


def listings_confirm(*, connection_id: int, upload_id: int) -> Preview:
    """Import the upload the publisher confirmed, as previewed.

    Raises ListingsChanged when the upload is unknown for this connection, already
    imported, older than `UPLOAD_VALID_FOR`, or the listings changed since its preview.
    """
    with transaction.atomic():
        upload = (
            ListingUpload.objects.select_for_update()
            .filter(id=upload_id, connection_id=connection_id)
            .first()
        )
        if upload is None or upload.applied_at is not None:
            raise ListingsChanged("This file was imported already, or is not this warehouse's.")
        if upload.created_at < timezone.now() - UPLOAD_VALID_FOR:
            raise ListingsChanged("This preview is more than an hour old: upload the file again.")
        preview = listings_import(
            connection_id=connection_id,
            data=bytes(upload.data),
            replace_all=upload.replace_all,
            expected_state=upload.state,
        )
        upload.applied_at = timezone.now()
        upload.save(update_fields=["applied_at"])
    return preview


__all__ = [
    "COLUMNS",
    "Change",
    "Component",
    "ListingRefused",
    "ListingsChanged",
    "ListingsInvalid",
    "ParsedListings",
    "Preview",
    "RowError",
    "Upload",
    "WarehouseLine",
    "connections_listing",
    "listing_add",
    "listings_confirm",
    "listings_csv",
    "listings_for",
    "listings_import",
    "listings_parse",
    "listings_preview",
    "listings_state",
    "listings_upload",
    "resolve_line",
    "resolve_lines",
]
