"""Tracking without a shipping station: the operator's CSV import of shipments.

One row per parcel: `invoice or order id, carrier, service, tracking number, ship date,
cost` (a header row is recognised and skipped; the ship date is MM/DD/YYYY or YYYY-MM-DD;
the cost is what the postage cost, optional). Each row names its order as a shipping
station's notice does (`selectors.order_by_number`: an order id, an invoice, or
`invoice-orderid`) and moves it to shipped through `fulfillment_move`; a row for an order
already shipped with other details corrects its shipment (`correction=True`), one with the
same details changes nothing. The tracking number may be blank only for a letter-rate order
(shipping method standard: the spec's TrackingID is blank for those).

`tracking_import_preview` runs exactly what `tracking_import_apply` would, in a
transaction that is rolled back, so the preview's "what will change" and its per-row errors
are the real outcome of the same code. `tracking_import_apply` is all or nothing: one
transaction, rows in order-id order (the lock order); any row refused → nothing is saved.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction

from pressrun.core.errors import DomainError
from pressrun.core.money import MoneyFormatError, format_money, parse_money
from pressrun.core.text import one_line
from pressrun.fulfillment.services import FulfillmentRefused, fulfillment_move
from pressrun.orders.models import FulfillmentState, Order, ShippingMethod
from pressrun.warehouses.models import WarehouseConnection
from pressrun.warehouses.selectors import order_by_number
from pressrun.warehouses.shipstation import ProtocolError, parse_notice_date

S = FulfillmentState
COLUMNS = ("invoice or order id", "carrier", "service", "tracking number", "ship date", "cost")
MAX_ROWS = 2000
MAX_BYTES = 1024 * 1024


class ImportInvalid(DomainError):
    """The file as a whole cannot be read (no rows, too large, not text)."""


@dataclass
class ImportRow:
    line: int
    reference: str
    carrier: str = ""
    service: str = ""
    tracking_number: str = ""
    ship_date: date | None = None
    cost: Decimal | None = None
    order_id: int | None = None
    change: str = ""  # what the row does, in words (preview and result)
    error: str = ""


@dataclass
class ImportResult:
    rows: list[ImportRow] = field(default_factory=list)
    applied: bool = False

    @property
    def errors(self) -> list[ImportRow]:
        return [row for row in self.rows if row.error]

    @property
    def changes(self) -> int:
        return sum(
            1
            for row in self.rows
            if not row.error and row.change and not row.change.startswith("No change")
        )


class _RollBack(Exception):
    pass


def _is_header(cells: list[str]) -> bool:
    first = cells[0].strip().lower() if cells else ""
    return "invoice" in first or first in {"order", "order id", "order_id", "reference"}


def parse_rows(text: str) -> list[ImportRow]:
    """The file's rows, read but not resolved (syntax errors recorded on the row)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ImportInvalid(f"The file is larger than {MAX_BYTES // 1024} KB.")
    text = text.lstrip("\ufeff")
    try:
        records = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ImportInvalid(f"The file is not CSV: {exc}.") from exc
    rows: list[ImportRow] = []
    for number, cells in enumerate(records, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        if not rows and number == 1 and _is_header(cells):
            continue
        cells = [one_line(cell) for cell in cells]
        row = ImportRow(line=number, reference=cells[0] if cells else "")
        rows.append(row)
        if len(rows) > MAX_ROWS:
            raise ImportInvalid(f"The file has more than {MAX_ROWS} rows; split it.")
        if len(cells) != len(COLUMNS):
            row.error = (
                f"{len(cells)} columns; expected {len(COLUMNS)}: " + ", ".join(COLUMNS) + "."
            )
            continue
        row.carrier, row.service, row.tracking_number = cells[1], cells[2], cells[3]
        if not row.reference:
            row.error = "The invoice or order id is missing."
            continue
        try:
            row.ship_date = parse_notice_date(cells[4])
        except ProtocolError:
            row.error = f"Ship date {cells[4][:30]!r} is not MM/DD/YYYY or YYYY-MM-DD."
            continue
        if row.ship_date is None:
            row.error = "The ship date is missing."
            continue
        if cells[5]:
            try:
                row.cost = parse_money(cells[5])
            except MoneyFormatError as exc:
                row.error = f"Cost: {exc}"
                continue
    if not rows:
        raise ImportInvalid("The file has no rows to import.")
    return rows


def _resolve(rows: list[ImportRow]) -> None:
    # The operator ships what pressrun's own station ships: every publisher's orders.
    connection = WarehouseConnection(name="operator")
    seen: dict[int, int] = {}
    for row in rows:
        if row.error:
            continue
        lookup = order_by_number(connection, row.reference)
        if lookup.order is None:
            row.error = (
                f"{row.reference[:50]!r} matches several orders "
                f"({', '.join(map(str, lookup.candidates))}); write it as invoice-orderid."
                if lookup.candidates
                else f"No order {row.reference[:50]!r}."
            )
            continue
        order = lookup.order
        if order.id in seen:
            row.error = f"Order {order.id} is on line {seen[order.id]} already."
            continue
        seen[order.id] = row.line
        row.order_id = order.id
        if not row.tracking_number and order.shipping_method != ShippingMethod.STANDARD:
            row.error = (
                f"Order {order.id} ships {order.get_shipping_method_display().lower()}: "
                "it needs a tracking number (only letter-rate orders ship without)."
            )


def _apply_rows(rows: list[ImportRow], *, actor: str) -> None:
    for row in sorted((r for r in rows if not r.error), key=lambda r: r.order_id or 0):
        assert row.order_id is not None
        assert row.ship_date is not None
        before = Order.objects.get(id=row.order_id)
        correction = before.fulfillment_state == S.SHIPPED
        try:
            result = fulfillment_move(
                order_id=row.order_id,
                to=S.SHIPPED,
                actor=actor,
                ship_date=row.ship_date,
                tracking_id=row.tracking_number,
                carrier=row.carrier,
                service=row.service,
                postage_cost=row.cost,
                note="Imported from a tracking file.",
                correction=correction,
            )
        except FulfillmentRefused as exc:
            row.error = exc.message
            continue
        tracking = row.tracking_number or "no tracking (letter)"
        if not result.changed:
            row.change = f"No change: order {row.order_id} already has this shipment."
        elif correction:
            row.change = (
                f"Corrects order {row.order_id}'s shipment: {before.carrier or '—'} "
                f"{before.tracking_id or 'no tracking'} → {row.carrier or '—'} {tracking}."
            )
        else:
            row.change = (
                f"Order {row.order_id} ({before.fulfillment_state.replace('_', ' ')}) → shipped "
                f"{row.ship_date:%m/%d/%Y}, {row.carrier or '—'} {row.service} {tracking}"
                + (f", postage {format_money(row.cost)}" if row.cost is not None else "")
                + "."
            )


def _run(text: str, *, actor: str, commit: bool) -> ImportResult:
    result = ImportResult(rows=parse_rows(text))
    _resolve(result.rows)
    try:
        with transaction.atomic():
            _apply_rows(result.rows, actor=actor)
            if not commit or result.errors:
                raise _RollBack
    except _RollBack:
        return result
    result.applied = True
    return result


def tracking_import_preview(*, text: str, actor: str) -> ImportResult:
    """What importing `text` would do, row by row; nothing is saved. Raises ImportInvalid
    for a file that cannot be read at all."""
    return _run(text, actor=actor, commit=False)


def tracking_import_apply(*, text: str, actor: str) -> ImportResult:
    """Import `text`: every row, or (when any row is refused) none; `applied` says which.
    Raises ImportInvalid for a file that cannot be read at all."""
    return _run(text, actor=actor, commit=True)
