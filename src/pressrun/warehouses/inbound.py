"""The push protocol's inbound messages, read: a warehouse's shipment confirmation
(`POST /warehouses/<connection>/shipments`) and stock report
(`POST /warehouses/<connection>/inventory`). Pure functions from the body's bytes to a
value or `MessageInvalid` with the sentence the warehouse is answered (400); the schema is
in docs/warehouses.md. What is done with them: `shipments.warehouse_shipment_record` and
`stock.warehouse_stock_report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pressrun.core.errors import DomainError
from pressrun.core.text import is_one_line
from pressrun.warehouses.shipstation import MAX_ITEM_QUANTITY, MAX_NOTICE_ITEMS, Notice, NoticeItem
from pressrun.warehouses.signing import TOLERANCE_SECONDS

MAX_SHIPMENT_BYTES = 1_000_000
MAX_INVENTORY_BYTES = 2_000_000
MAX_INVENTORY_ITEMS = 10_000
MAX_STOCK_QUANTITY = 1_000_000_000
MAX_SKU_LENGTH = 255


class MessageInvalid(DomainError):
    """The body is not a message of the protocol; the message says what is wrong."""


@dataclass(frozen=True)
class ShipmentConfirmation:
    confirmation_id: str
    notice: Notice


@dataclass(frozen=True)
class StockItem:
    sku: str
    quantity: int


@dataclass(frozen=True)
class StockReport:
    as_of: datetime | None
    items: tuple[StockItem, ...]


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageInvalid("The body must be JSON in UTF-8.") from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise MessageInvalid(f"The body is not JSON: send the {what} as a JSON object.") from None
    if not isinstance(value, dict):
        raise MessageInvalid(f"The body must be a JSON object: the {what}.")
    return value


def _text(
    message: dict[str, Any], key: str, *, required: bool, length: int, where: str = ""
) -> str:
    value = message.get(key)
    name = f"{where}{key}"
    if value is None:
        if required:
            raise MessageInvalid(f"{name} is required.")
        return ""
    if not isinstance(value, str):
        raise MessageInvalid(f"{name} must be a string.")
    value = value.strip()
    if required and not value:
        raise MessageInvalid(f"{name} is required.")
    if len(value) > length:
        raise MessageInvalid(f"{name} is longer than {length} characters.")
    if not is_one_line(value):
        raise MessageInvalid(f"{name} must be one line without control characters.")
    return value


def _whole(
    message: dict[str, Any], key: str, *, low: int, high: int, where: str = ""
) -> int | None:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MessageInvalid(f"{where}{key} must be a whole number from {low} to {high:,}.")
    return int(value)


def parse_shipment(body: bytes) -> ShipmentConfirmation:
    """A shipment confirmation: `order_id` (`WH-<id>`), `tracking_number`, optional
    `confirmation_id`, `carrier`, `service`, `ship_date` (YYYY-MM-DD) and `lines` (each
    `line_item_id` and/or `sku`, and `quantity`; none: everything left to ship)."""
    message = _object(body, "shipment confirmation")
    order_id = _text(message, "order_id", required=True, length=100)
    tracking = _text(message, "tracking_number", required=True, length=200)
    confirmation_id = _text(message, "confirmation_id", required=False, length=100)
    carrier = _text(message, "carrier", required=False, length=100)
    service = _text(message, "service", required=False, length=100)
    ship_date: date | None = None
    raw_date = _text(message, "ship_date", required=False, length=10)
    if raw_date:
        try:
            ship_date = date.fromisoformat(raw_date)
        except ValueError:
            raise MessageInvalid("ship_date must be a date: YYYY-MM-DD.") from None
        if len(raw_date) != 10:
            raise MessageInvalid("ship_date must be a date: YYYY-MM-DD.")
    lines = message.get("lines")
    items: list[NoticeItem] = []
    if lines is not None:
        if not isinstance(lines, list):
            raise MessageInvalid("lines must be a list (or left out: everything left to ship).")
        if len(lines) > MAX_NOTICE_ITEMS:
            raise MessageInvalid(f"lines has more than {MAX_NOTICE_ITEMS} entries.")
        for number, line in enumerate(lines, start=1):
            where = f"lines[{number}]."
            if not isinstance(line, dict):
                raise MessageInvalid(f"lines[{number}] must be an object.")
            raw_id = line.get("line_item_id")
            if isinstance(raw_id, int) and not isinstance(raw_id, bool) and raw_id >= 0:
                line_item_id = str(raw_id)[:50]
            else:
                line_item_id = _text(line, "line_item_id", required=False, length=50, where=where)
            sku = _text(line, "sku", required=False, length=MAX_SKU_LENGTH, where=where)
            if not line_item_id and not sku:
                raise MessageInvalid(f"{where}line_item_id or {where}sku is required.")
            quantity = _whole(line, "quantity", low=1, high=MAX_ITEM_QUANTITY, where=where)
            if quantity is None:
                raise MessageInvalid(f"{where}quantity is required.")
            items.append(NoticeItem(sku=sku, quantity=quantity, line_item_id=line_item_id))
        if not items:
            raise MessageInvalid("lines is empty: leave it out to ship everything left.")
    notice = Notice(
        order_id=order_id,
        order_number=order_id,
        ship_date=ship_date,
        carrier=carrier,
        service=service,
        tracking_number=tracking,
        shipping_cost=None,
        items=tuple(items),
    )
    return ShipmentConfirmation(confirmation_id=confirmation_id, notice=notice)


def _as_of(message: dict[str, Any], now: datetime | None) -> datetime | None:
    raw = _text(message, "as_of", required=False, length=40)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise MessageInvalid(
            "as_of must be a time in ISO 8601 with its offset, e.g. 2026-11-04T10:00:00Z."
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise MessageInvalid("as_of needs its offset (Z for UTC), e.g. 2026-11-04T10:00:00Z.")
    # A count from the future would hide every real one after it.
    if now is not None and value > now + timedelta(seconds=TOLERANCE_SECONDS):
        raise MessageInvalid("as_of is in the future: send the time the stock was counted.")
    return value


def parse_inventory(body: bytes, *, now: datetime | None = None) -> StockReport:
    """A stock report: `items`, each `sku` and `quantity` (units available, 0 or more), and
    an optional `as_of` (when they were counted; default: when received; not after `now`
    beyond the signature's tolerance). A SKU given twice is refused."""
    message = _object(body, "stock report")
    as_of = _as_of(message, now)
    raw_items = message.get("items")
    if not isinstance(raw_items, list):
        raise MessageInvalid('items is required: a list of {"sku": …, "quantity": …}.')
    if len(raw_items) > MAX_INVENTORY_ITEMS:
        raise MessageInvalid(f"items has more than {MAX_INVENTORY_ITEMS:,} entries: split it.")
    items: list[StockItem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_items, start=1):
        where = f"items[{number}]."
        if not isinstance(raw, dict):
            raise MessageInvalid(f"items[{number}] must be an object.")
        sku = _text(raw, "sku", required=True, length=MAX_SKU_LENGTH, where=where)
        quantity = _whole(raw, "quantity", low=0, high=MAX_STOCK_QUANTITY, where=where)
        if quantity is None:
            raise MessageInvalid(f"{where}quantity is required.")
        if sku in seen:
            raise MessageInvalid(f"{where}sku {sku[:60]!r} is already items[{seen[sku]}].")
        seen[sku] = number
        items.append(StockItem(sku=sku, quantity=quantity))
    return StockReport(as_of=as_of, items=tuple(items))


__all__ = [
    "MAX_INVENTORY_BYTES",
    "MAX_SHIPMENT_BYTES",
    "MessageInvalid",
    "ShipmentConfirmation",
    "StockItem",
    "StockReport",
    "parse_inventory",
    "parse_shipment",
]
