"""The baseline: the least a Python WSGI service does for the gateway's two calls.

Served by the same server, processes and threads as `pressrun serve`
(bench/baseline_server.py), against the same database and schema. No framework, no
authentication, no validation beyond "the fields are there", no balance, ledger or events:

- `POST /gateway/order`: parse the form body, then in one transaction insert the order row
  (PROCESSING, as pressrun writes a charged order) and its one line; reply `[SUCCESS]`.
- `POST /gateway/status`: parse the form body, split the `[*|*]` invoice list, run the same
  indexed select of the publisher's orders by invoice, and render the same XML sections.
- `POST /carts/shopify` (the webhook burst): check the URL token and the base64 HMAC-SHA256
  signature, read the order id from the JSON body, insert the delivery row (headers, raw
  body, webhook id, shop:order key) into the same table, a repeated webhook id dropped by the
  same unique constraint; reply 200. No task is queued and no order is made.

The difference between this and pressrun is the cost of Django plus pressrun's own work
(credential check, validation, pricing, charging, history) on the same hardware.

Environment: BENCH_DATABASE (`sqlite:///abs/path` or a `postgresql://` URL) and
BENCH_PUBLISHER_ID; PRESSRUN_SECRET_KEY (or PRESSRUN_FIELD_KEY) as pressrun's, to unseal the
Shopify signing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

DATABASE = os.environ.get("BENCH_DATABASE", "")
PUBLISHER_ID = int(os.environ.get("BENCH_PUBLISHER_ID", "0"))
IS_SQLITE = DATABASE.startswith("sqlite:///")
SHIPPING_COST = Decimal("1.25")
INVOICE_SEPARATOR = "[*|*]"
STATUS_COLUMNS = (
    "id, invoice, mode, status, name, error_description, ship_date, shipping_method, "
    "tracking_id, created_at"
)
ORDER_COLUMNS = (
    "publisher_id",
    "mode",
    "status",
    "invoice",
    "source",
    "external_ref",
    "email",
    "name",
    "company",
    "address",
    "city",
    "state",
    "postal_code",
    "country",
    "mail_method",
    "shipping_method",
    "special_text",
    "customer_price",
    "use_price_on_customs_form",
    "send_notification_email",
    "products_cost",
    "shipping_cost",
    "total_cost",
    "charged_at",
    "error_description",
    "ship_date",
    "tracking_id",
    "created_at",
    "updated_at",
    "customer_token",
    "store",
    "fulfillment_state",
    "fulfillment_updated_at",
    "carrier",
    "service",
    "address_check_note",
)
LINE_COLUMNS = (
    "order_id",
    "project_id",
    "position",
    "quantity",
    "unit_price",
    "mode",
    "invoice",
    "email_key",
    "created_at",
)
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})

_local = threading.local()
_prices: dict[int, Decimal] = {}


def _placeholders(count: int) -> str:
    mark = "?" if IS_SQLITE else "%s"
    return ", ".join([mark] * count)


INSERT_ORDER = (
    f"INSERT INTO orders_order ({', '.join(ORDER_COLUMNS)}) "
    f"VALUES ({_placeholders(len(ORDER_COLUMNS))})" + ("" if IS_SQLITE else " RETURNING id")
)
INSERT_LINE = (
    f"INSERT INTO orders_orderline ({', '.join(LINE_COLUMNS)}) "
    f"VALUES ({_placeholders(len(LINE_COLUMNS))})"
)


def _connect() -> Any:
    if IS_SQLITE:
        connection = sqlite3.connect(
            DATABASE.removeprefix("sqlite://"),
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
        )
        # The same settings as pressrun's SQLite connections.
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "cache_size=-65536",
            "mmap_size=0",
        ):
            connection.execute(f"PRAGMA {pragma}")
        return connection
    import psycopg

    return psycopg.connect(DATABASE)


def _connection() -> Any:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = _connect()
    return connection


def _unit_price(project_id: int) -> Decimal | None:
    if not _prices:
        rows = _connection().execute("SELECT id, price FROM catalog_project").fetchall()
        _prices.update({int(pid): Decimal(str(price)) for pid, price in rows})
        if not IS_SQLITE:
            _connection().commit()
    return _prices.get(project_id)


def _now() -> Any:
    now = datetime.now(UTC)
    # Django stores SQLite datetimes as naive UTC text.
    return now.replace(tzinfo=None).isoformat(" ") if IS_SQLITE else now


def _fields(environ: dict[str, Any]) -> dict[str, str]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key.lower(): value for key, value in pairs}


def submit(fields: dict[str, str]) -> str:
    try:
        project_id = int(fields.get("productid", ""))
        quantity = int(fields.get("quantity") or 1)
    except ValueError:
        return "[ERRORMSGBEGIN]ERRCODE#000010 [FAILURE] ProductID is not a number.[ERRORMSGEND]"
    price = _unit_price(project_id)
    name = fields.get("name", "").strip()
    if price is None or not name:
        return "[ERRORMSGBEGIN]ERRCODE#000013 [FAILURE] Product or name missing.[ERRORMSGEND]"
    products = price * quantity
    total = products + SHIPPING_COST
    now = _now()
    invoice = fields.get("invoice", "").strip()
    mode = fields.get("mode", "prod").strip().lower() or "prod"
    order_values = (
        PUBLISHER_ID,
        mode,
        "PROCESSING",
        invoice,
        "gateway",
        "",
        fields.get("email", ""),
        name,
        fields.get("co", ""),
        fields.get("addr", ""),
        fields.get("city", ""),
        fields.get("st", ""),
        fields.get("zip", ""),
        (fields.get("country") or "US")[:2].upper(),
        fields.get("typemailmethod", "standard") or "standard",
        "standard",
        "",
        None,
        False,
        None,
        str(products) if IS_SQLITE else products,
        str(SHIPPING_COST) if IS_SQLITE else SHIPPING_COST,
        str(total) if IS_SQLITE else total,
        now,
        "",
        None,
        "",
        now,
        now,
        # Unique and NOT NULL (the customer's address-change link); Django fills it in Python.
        secrets.token_urlsafe(24),
        "",
        # Paid at once, with no address-change window: ready, like pressrun's intake then.
        "ready",
        now,
        "",
        "",
        "",  # address_check_note
    )
    connection = _connection()
    try:
        if IS_SQLITE:
            connection.execute("BEGIN IMMEDIATE")
            try:
                order_id = connection.execute(INSERT_ORDER, order_values).lastrowid
                connection.execute(
                    INSERT_LINE,
                    (order_id, project_id, 1, quantity, str(price), mode, invoice, "", now),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        else:
            with connection.transaction():
                order_id = connection.execute(INSERT_ORDER, order_values).fetchone()[0]
                connection.execute(
                    INSERT_LINE, (order_id, project_id, 1, quantity, price, mode, invoice, "", now)
                )
    except Exception as exc:
        return f"[ERRORMSGBEGIN]ERRCODE#009000 [FAILURE] {type(exc).__name__}: {exc}[ERRORMSGEND]"
    return (
        f"[SUCCESS]\nOrder: {order_id}\nInvoice: {invoice}\nMode: {mode}\nStatus: PROCESSING\n"
        f"Products: {project_id}\nQuantities: {quantity}\nShippingMethod: standard\n"
        f"Total: ${total}\n"
    )


def _xml(value: object) -> str:
    return str(value).translate(_ESCAPES)


def _sections(invoices: Iterable[str], rows: list[tuple[Any, ...]]) -> str:
    found: dict[str, tuple[Any, ...]] = {}
    for row in rows:  # ordered by id: prod beats test, then the newest wins
        current = found.get(row[1])
        if current is None or (row[2] == "prod", row[0]) >= (current[2] == "prod", current[0]):
            found[row[1]] = row
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<OrderStatusResponse>\n']
    for number, invoice in enumerate(invoices, start=1):
        row = found.get(invoice)
        values: dict[str, object]
        if row is None:
            values = {"ErrorNum": 300, "ErrorDesc": "Record Not found.", "Invoice": invoice}
        else:
            _, _, _, status, name, error, ship_date, method, tracking, _ = row
            order_status, err_num, err_desc = status, 0, ""
            if status == "TEST":
                order_status, err_num, err_desc = "ERROR", 20, "Test order."
            elif status == "ERROR":
                order_status, err_num, err_desc = "ERROR", 10, f"Error with address. {error}"
            if ship_date and not isinstance(ship_date, str):
                ship_date = ship_date.strftime("%m/%d/%Y")
            elif ship_date:
                year, month, day = ship_date.split("-")
                ship_date = f"{month}/{day}/{year}"
            values = {
                "ErrorNum": 0,
                "ErrorDesc": "",
                "CustName": name,
                "Invoice": invoice,
                "OrderStatus": order_status,
                "OrderStatusErrNum": err_num,
                "OrderStatusErrDesc": err_desc,
                "ShipDate": ship_date or "",
                "ShippingMethod": method,
                "TrackingID": tracking,
            }
        parts.append(f"  <Status{number}>\n")
        parts.extend(f"    <{key}>{_xml(value)}</{key}>\n" for key, value in values.items())
        parts.append(f"  </Status{number}>\n")
    parts.append("</OrderStatusResponse>\n")
    return "".join(parts)


def status(fields: dict[str, str]) -> str:
    invoices = [i.strip() for i in fields.get("invoice", "").split(INVOICE_SEPARATOR)[:100]]
    wanted = sorted({invoice for invoice in invoices if invoice})
    rows: list[tuple[Any, ...]] = []
    if wanted:
        sql = (
            f"SELECT {STATUS_COLUMNS} FROM orders_order "
            f"WHERE publisher_id = {'?' if IS_SQLITE else '%s'} "
            f"AND invoice IN ({_placeholders(len(wanted))}) ORDER BY id"
        )
        connection = _connection()
        rows = connection.execute(sql, [PUBLISHER_ID, *wanted]).fetchall()
        if not IS_SQLITE:
            connection.commit()  # end the read transaction, as Django's autocommit does
    return _sections(invoices, rows)


DELIVERY_COLUMNS = (
    "cart",
    "publisher_id",
    "received_at",
    "headers",
    "body",
    "topic",
    "delivery_id",
    "external_key",
    "test_requested",
    "outcome",
    "reason",
    "attempts",
    "retry_queued",
    "notify_email",
    "dismissed_by",
    "body_size",
    "body_sha256",
)
INSERT_DELIVERY = (
    f"INSERT INTO carts_inbounddelivery ({', '.join(DELIVERY_COLUMNS)}) "
    f"VALUES ({_placeholders(len(DELIVERY_COLUMNS))}) ON CONFLICT DO NOTHING"
)
_shopify_secrets: dict[str, str] = {}


def unseal(sealed: str) -> str:
    """The plain value of a sealed column, as pressrun.core.sealed reads it (the same key
    derivation, from PRESSRUN_FIELD_KEY or the secret key), without Django."""
    from cryptography.fernet import Fernet

    if not sealed:
        return ""
    passphrase = os.environ.get("PRESSRUN_FIELD_KEY", "").strip() or os.environ.get(
        "PRESSRUN_SECRET_KEY", ""
    )
    digest = hashlib.sha256(b"pressrun sealed field\0" + passphrase.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest)).decrypt(sealed.encode("ascii")).decode()


def _publisher_secrets() -> dict[str, str]:
    """The publisher's cart token and Shopify signing key, read once per process."""
    if not _shopify_secrets:
        mark = "?" if IS_SQLITE else "%s"
        connection = _connection()
        token, sealed_key = connection.execute(
            "SELECT cart_token, shopify_webhook_key_sealed FROM accounts_publisher "
            f"WHERE id = {mark}",
            [PUBLISHER_ID],
        ).fetchone()
        if not IS_SQLITE:
            connection.commit()
        _shopify_secrets.update(token=token, key=unseal(sealed_key))
    return _shopify_secrets


def shopify_webhook(environ: dict[str, Any]) -> tuple[str, str]:
    """(HTTP status line, reply text) for one Shopify delivery."""
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    secrets = _publisher_secrets()
    # As pressrun: the publisher ID, the cart token when the URL has one (with the signing
    # key saved, `pressrun carturls` prints the URL without it), and always the signature.
    if query.get("idpub") != str(PUBLISHER_ID) or (
        "token" in query
        and not hmac.compare_digest(secrets["token"].encode(), query["token"].encode())
    ):
        return "401 Unauthorized", "Unknown publisher or wrong token."
    expected = base64.b64encode(hmac.new(secrets["key"].encode(), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, environ.get("HTTP_X_SHOPIFY_HMAC_SHA256", "").encode()):
        return "401 Unauthorized", "Signature does not match."
    try:
        order_id = json.loads(body)["id"]
    except (ValueError, KeyError, TypeError):
        return "400 Bad Request", "The body is not a JSON object."
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and "HMAC" not in key
    }
    shop = environ.get("HTTP_X_SHOPIFY_SHOP_DOMAIN", "").strip().lower()
    values = (
        "shopify",
        PUBLISHER_ID,
        _now(),
        json.dumps(headers),
        body,
        environ.get("HTTP_X_SHOPIFY_TOPIC", ""),
        environ.get("HTTP_X_SHOPIFY_WEBHOOK_ID", "").strip(),
        f"{shop}:{order_id}",
        False,
        "pending",
        "",
        0,
        False,
        "",
        "",
        len(body),
        hashlib.sha256(body).hexdigest(),
    )
    connection = _connection()
    try:
        if IS_SQLITE:
            connection.execute("BEGIN IMMEDIATE")
            try:
                stored = connection.execute(INSERT_DELIVERY, values).rowcount
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        else:
            from psycopg.types.json import Jsonb

            with connection.transaction():
                stored = connection.execute(
                    INSERT_DELIVERY, (*values[:3], Jsonb(headers), *values[4:])
                ).rowcount
    except Exception as exc:
        return "503 Service Unavailable", f"{type(exc).__name__}: {exc}"
    return "200 OK", "ok" if stored else "ok (repeat)"


def application(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        body, content_type = "ok\n", "text/plain"
    elif path == "/gateway/order":
        body, content_type = submit(_fields(environ)), "text/plain; charset=utf-8"
    elif path == "/gateway/status":
        body, content_type = status(_fields(environ)), "application/xml; charset=utf-8"
    elif path == "/carts/shopify":
        status_line, text = shopify_webhook(environ)
        data = (text + "\n").encode("utf-8")
        start_response(
            status_line,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
        )
        return [data]
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    data = body.encode("utf-8")
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]
