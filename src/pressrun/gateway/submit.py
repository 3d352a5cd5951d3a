"""SubmitProductOrder: gateway fields → `OrderRequest`, and the plain-text reply."""

from __future__ import annotations

import re
from decimal import Decimal

from pressrun.core.money import MONEY_FORMAT_HINT, MoneyFormatError, format_money, parse_money
from pressrun.gateway import errors
from pressrun.gateway.fields import GatewayFailure
from pressrun.orders.models import Order, Source
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest

MAX_PROJECT_ID = 2**63 - 1
MAX_CUSTOMER_PRICE = Decimal("100000")
# ASCII digits only (int() would also read other scripts' digits); read_fields caps a field
# at 2,000 characters.
_DIGITS = re.compile(r"[0-9]+")
_LIST_SEPARATOR = re.compile(r"[xX]")
MAIL_METHOD_ALIASES = {
    "standard": "standard",
    "rtrackstandard": "rtrackstandard",
    "standard+tracking": "rtrackstandard",
    "standardtracking": "rtrackstandard",
    "priority": "priority",
    "express": "express",
}
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def check_source(fields: dict[str, str]) -> None:
    source = fields.get("source", "").strip()
    ordermethod = fields.get("ordermethod", "").strip()
    if source.lower() != "cdfulfill":
        raise GatewayFailure(
            errors.SOURCE_INVALID,
            f"Set source=cdfulfill (even for DVD or USB orders). The value of source supplied "
            f"was '{source[:40]}'.",
        )
    if ordermethod.lower() != "url":
        raise GatewayFailure(
            errors.SOURCE_INVALID,
            f"Set ordermethod=url. The value of ordermethod supplied was '{ordermethod[:40]}'.",
        )


def parse_lines(fields: dict[str, str]) -> tuple[LineRequest, ...]:
    products_text = fields.get("productid", "").strip()
    if not products_text:
        raise GatewayFailure(
            errors.NO_PRODUCT,
            "Specify the productid field: the numeric project ID shown next to each project "
            "in your dashboard, or several joined by x (66750x66760).",
        )
    products: list[int] = []
    for position, entry in enumerate(_LIST_SEPARATOR.split(products_text), start=1):
        entry = entry.strip()
        if not entry:
            raise GatewayFailure(
                errors.PRODUCT_ENTRY_BLANK, f"Entry {position} of productid '{products_text[:80]}'."
            )
        if not _DIGITS.fullmatch(entry):
            raise GatewayFailure(
                errors.PRODUCT_ID_INVALID, f"Entry {position} of productid is '{entry[:30]}'."
            )
        value = int(entry)
        if value < 1 or value > MAX_PROJECT_ID:
            raise GatewayFailure(errors.PRODUCT_UNKNOWN, f"Product {entry[:30]} does not exist.")
        products.append(value)

    quantity_text = fields.get("quantity", "").strip()
    if not quantity_text:
        quantities = [1] * len(products)
    else:
        entries = [entry.strip() for entry in _LIST_SEPARATOR.split(quantity_text)]
        if len(entries) != len(products):
            raise GatewayFailure(
                errors.QUANTITY_COUNT_MISMATCH,
                f"productid lists {len(products)} product(s) but quantity lists "
                f"{len(entries)} quantit{'y' if len(entries) == 1 else 'ies'}. "
                "Give one quantity per product, in the same order (e.g. quantity=1x3x2).",
            )
        quantities = []
        for entry in entries:
            if not entry:
                quantities.append(1)
                continue
            if not _DIGITS.fullmatch(entry) or not 1 <= int(entry) <= 250:
                raise GatewayFailure(
                    errors.QUANTITY_INVALID,
                    f"Quantity '{entry[:30]}' must be a whole number from 1 to 250. For more "
                    "than 250, submit separate orders.",
                )
            quantities.append(int(entry))
    total = sum(quantities)
    if total > 250:
        listed = "x".join(str(q) for q in quantities)
        raise GatewayFailure(
            errors.QUANTITY_TOTAL,
            f"The quantities you submitted were {listed[:200]} which total {total}. Enter "
            "smaller quantities, or submit separate orders. The post office limits us to a "
            "total size and weight per package.",
        )
    return tuple(
        LineRequest(project_id=p, quantity=q) for p, q in zip(products, quantities, strict=True)
    )


def _flag(fields: dict[str, str], name: str, label: str) -> bool | None:
    value = fields.get(name, "").strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise GatewayFailure(errors.FLAG_INVALID, f"{label} is '{value[:20]}'; use 1 or 0.")


def _price(fields: dict[str, str]) -> Decimal | None:
    """nprice, read strictly (`core.money.parse_money`): `19,95` is refused, never stored as
    $1,995.00; `$19.95` is accepted."""
    text = fields.get("nprice", "").strip()
    if not text:
        return None
    try:
        value = parse_money(text)
    except MoneyFormatError:
        value = None
    if value is None or value >= MAX_CUSTOMER_PRICE:
        raise GatewayFailure(
            errors.PRICE_INVALID,
            f"nprice is '{text[:20]}'; {MONEY_FORMAT_HINT}, from 0.00 to 99999.99.",
        )
    return value


def build_order_request(fields: dict[str, str], publisher_id: int) -> OrderRequest:
    mode = fields.get("mode", "").strip().lower() or "prod"
    if mode not in {"test", "prod"}:
        raise GatewayFailure(errors.MODE_INVALID, f"mode is '{mode[:20]}'; use test or prod.")
    mail_text = fields.get("typemailmethod", "").strip().lower()
    mail_method = MAIL_METHOD_ALIASES.get(mail_text) if mail_text else None
    if mail_text and mail_method is None:
        raise GatewayFailure(
            errors.MAIL_METHOD_INVALID,
            f"typeMailMethod is '{mail_text[:30]}'; use standard, rtrackstandard, priority or "
            "express.",
        )
    lines = parse_lines(fields)
    use_price = _flag(fields, "busepriceoncustomsform", "bUsePriceOnCustomsForm")
    return OrderRequest(
        publisher_id=publisher_id,
        lines=lines,
        recipient=RecipientRequest(
            name=fields.get("name", ""),
            company=fields.get("co", ""),
            address=fields.get("addr", ""),
            city=fields.get("city", ""),
            state=fields.get("st", ""),
            postal_code=fields.get("zip", ""),
            country=fields.get("country", ""),
            email=fields.get("email", ""),
        ),
        mode=mode,
        source=Source.GATEWAY,
        invoice=fields.get("invoice", "").strip(),
        mail_method=mail_method,
        special_text=fields.get("specialtext", "").strip(),
        customer_price=_price(fields),
        use_price_on_customs_form=bool(use_price),
        send_notification_email=_flag(
            fields, "bsendordernotificationemail", "bSendOrderNotificationEmail"
        ),
        actor="gateway",
    )


def render_success(order: Order) -> str:
    lines = list(order.lines.all())
    return "\n".join(
        [
            "[SUCCESS]",
            f"Order: {order.id}",
            f"Invoice: {order.invoice}",
            f"Mode: {order.mode}",
            f"Status: {order.status}",
            f"Products: {'x'.join(str(line.project_id) for line in lines)}",
            f"Quantities: {'x'.join(str(line.quantity) for line in lines)}",
            f"ShippingMethod: {order.shipping_method}",
            f"Total: {format_money(order.total_cost)}",
            "",
        ]
    )


def render_failure(failure: GatewayFailure) -> str:
    summary, detail = failure.error.summary, failure.detail
    # Intake's own messages often already say what the summary says; do not repeat it.
    if detail.lower().startswith(summary.lower()):
        message = summary + detail[len(summary) :]  # the summary's exact text always starts it
    else:
        message = f"{summary} {detail}".strip()
    # The format is fixed by the gateway document: scripts parse between these markers.
    message = message.replace("[ERRORMSGEND]", "").replace("[ERRORMSGBEGIN]", "")
    return f"[ERRORMSGBEGIN]ERRCODE#{failure.error.code} [FAILURE] {message}[ERRORMSGEND]"
