"""Shopify order JSON → `OrderRequest`. Translation only: intake applies every rule.

Order ids can exceed 2^53, so bodies are decoded with `load_order`, which keeps every integer
as its decimal text (never a float).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pressrun.carts.payload import JsonInvalid, load_json
from pressrun.carts.payload import text as _text
from pressrun.carts.routing import CartLine, CartOrderSnapshot, line_keys
from pressrun.carts.shipping import mail_method_for_descriptions
from pressrun.carts.unmatched import CartProduct
from pressrun.catalog.selectors import project_for_sku_method2, projects_for_cart_ids
from pressrun.orders.models import Mode, Source
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest

MAX_INVOICE_LENGTH = 50
SHOP_DOMAIN_HEADER = "x-shopify-shop-domain"
MYSHOPIFY_SUFFIX = ".myshopify.com"
MAX_SHOP_DOMAIN_LENGTH = 255
# A quantity as Shopify writes it: a JSON integer (load_order keeps its digits as text). At
# most 9 digits, so int() is always cheap; intake then applies its own limit.
QUANTITY_PATTERN = re.compile(r"-?\d{1,9}", re.ASCII)


ORDER_ID_MISSING = (
    "The required field 'id' (the order id) is missing or empty; without it a repeat of the "
    "order could not be recognised, so it was not imported."
)


class PayloadInvalid(ValueError):
    """The body is not a Shopify order (not JSON, or not an object with an id)."""


def load_order(body: bytes) -> dict[str, Any]:
    """Decode a webhook body; integers stay strings. Raises PayloadInvalid for a body that is
    not UTF-8 JSON, nests too deeply, is not an object, or has no order `id` (the key every
    repeat and topic of one order is recognised by)."""
    try:
        data = load_json(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadInvalid(f"The body is not valid JSON: {exc}") from exc
    except JsonInvalid as exc:
        raise PayloadInvalid(str(exc)) from exc
    if not isinstance(data, dict):
        raise PayloadInvalid("The body is JSON but not an object.")
    if not order_id(data):
        raise PayloadInvalid(ORDER_ID_MISSING)
    return data


def order_id(data: dict[str, Any]) -> str:
    value = data.get("id")
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value).strip()


def clean_shop_domain(value: str) -> str:
    """The shop domain as it is kept: trimmed, lower case (X-Shopify-Shop-Domain)."""
    return value.strip().lower()[:MAX_SHOP_DOMAIN_LENGTH]


def shop_domain_from_headers(headers: Mapping[str, Any]) -> str:
    """The X-Shopify-Shop-Domain of stored headers (names in any letter case), cleaned."""
    for name, value in headers.items():
        if str(name).lower() == SHOP_DOMAIN_HEADER:
            return clean_shop_domain(str(value))
    return ""


def external_key(*, shop_domain: str, data: dict[str, Any]) -> str:
    """ "shop-domain:order-id", or "" when the body has no order id."""
    identifier = order_id(data)
    return f"{clean_shop_domain(shop_domain)}:{identifier}" if identifier else ""


def shopify_invoice(*, name: str, shop_domain: str) -> str:
    """The invoice of a Shopify order: its name and its shop, "#1040@artist-a" (the shop's
    handle: its domain without ".myshopify.com").

    Shopify numbers orders per shop, so a publisher with two stores gets a "#1040" from each:
    Shopify identifies an order by (shop, order), and so must the invoice, or intake's
    invoice rule would drop the second store's order as a duplicate. Without a shop (an old
    delivery without the header) it is the name alone. At most MAX_INVOICE_LENGTH
    characters: a longer one keeps its start and ends in "~" and 8 hex digits of a SHA-256
    of the whole (name, shop), so it still names one order.
    """
    if not shop_domain:
        return name[:MAX_INVOICE_LENGTH]
    handle = shop_domain.removesuffix(MYSHOPIFY_SUFFIX) or shop_domain
    invoice = f"{name}@{handle}"
    if len(invoice) <= MAX_INVOICE_LENGTH:
        return invoice
    digest = hashlib.sha256(f"{name}@{shop_domain}".encode()).hexdigest()[:8]
    return f"{invoice[: MAX_INVOICE_LENGTH - 9]}~{digest}"


@dataclass(frozen=True)
class ParsedOrder:
    request: OrderRequest | None  # None: no line matches a project
    # Lines naming no project. `ref` is what a mapping must list: the SKU, or for a line
    # without SKU its variant id (else product id); "" for a custom line with neither.
    unmatched: tuple[CartProduct, ...]
    # Lines that name a project but ask for no copies (quantity below 1).
    no_quantity: tuple[CartProduct, ...] = ()
    # Lines that name a project with a quantity that is not a whole number of copies
    # ("1e308", 2.5, "9" * 400, null): (product, the value as received).
    invalid_quantity: tuple[tuple[CartProduct, str], ...] = ()
    # Every line, for routing (carts/routing.py), and the order as routing keeps it.
    cart_lines: tuple[CartLine, ...] = ()
    snapshot: CartOrderSnapshot | None = None


def _quantity(value: Any) -> int | None:
    """A line's quantity as a whole number (it may be below 1), or None when it is not one:
    a fraction (2.5), an exponent (1e3, 1e308: decoded as floats), more than 9 digits,
    text, true, null. Never guesses: 1e3 is not read as 1000, nor 2.5 as 2."""
    if not isinstance(value, str):  # floats, booleans, null, objects: never a count
        return None
    text = value.strip()
    return int(text) if QUANTITY_PATTERN.fullmatch(text) else None


def describe_value(value: Any) -> str:
    """A received value for a reason, at most 40 characters."""
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _shipping_descriptions(data: dict[str, Any]) -> list[str]:
    lines = data.get("shipping_lines")
    descriptions: list[str] = []
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, dict):
            descriptions.extend((_text(line.get("title")), _text(line.get("code"))))
    return descriptions


def _mail_method(publisher_id: int, data: dict[str, Any]) -> str | None:
    return mail_method_for_descriptions(
        publisher_id=publisher_id, descriptions=_shipping_descriptions(data)
    )


def _recipient(data: dict[str, Any]) -> RecipientRequest:
    address = data.get("shipping_address")
    if not isinstance(address, dict):
        address = data.get("billing_address")
    if not isinstance(address, dict):
        address = {}
    name = _text(address.get("name")) or " ".join(
        part for part in (_text(address.get("first_name")), _text(address.get("last_name"))) if part
    )
    street = ", ".join(
        part for part in (_text(address.get("address1")), _text(address.get("address2"))) if part
    )
    customer = data.get("customer")
    email = (
        _text(data.get("email"))
        or _text(data.get("contact_email"))
        or (_text(customer.get("email")) if isinstance(customer, dict) else "")
    )
    return RecipientRequest(
        name=name,
        company=_text(address.get("company")),
        address=street,
        city=_text(address.get("city")),
        state=_text(address.get("province_code")) or _text(address.get("province")),
        postal_code=_text(address.get("zip")),
        country=_text(address.get("country_code")) or _text(address.get("country")),
        email=email,
    )


def _refs(item: dict[str, Any]) -> tuple[str, ...]:
    """The cart IDs a line is looked up by: its SKU; without SKU, its variant id then its
    product id (so a product without SKU can still be mapped in the eCommerce ID String)."""
    sku = _text(item.get("sku"))
    if sku:
        return (sku,)
    return tuple(
        ref for ref in (_text(item.get("variant_id")), _text(item.get("product_id"))) if ref
    )


@dataclass
class _Lines:
    lines: list[LineRequest]
    unmatched: list[CartProduct]
    no_quantity: list[CartProduct]
    invalid_quantity: list[tuple[CartProduct, str]]
    cart_lines: list[CartLine]

    def parsed(
        self, request: OrderRequest | None, snapshot: CartOrderSnapshot | None = None
    ) -> ParsedOrder:
        return ParsedOrder(
            request=request,
            unmatched=tuple(self.unmatched),
            no_quantity=tuple(self.no_quantity),
            invalid_quantity=tuple(self.invalid_quantity),
            cart_lines=tuple(self.cart_lines),
            snapshot=snapshot,
        )


def _lines(publisher_id: int, items: list[dict[str, Any]]) -> _Lines:
    refs = [_refs(item) for item in items]
    by_cart_id = projects_for_cart_ids(
        publisher_id=publisher_id, cart_ids=sorted({ref for line in refs for ref in line})
    )
    found = _Lines(lines=[], unmatched=[], no_quantity=[], invalid_quantity=[], cart_lines=[])
    keys = line_keys(
        [_text(item.get("id")) for item in items], [line[0] if line else "" for line in refs]
    )
    for item, line_refs, key in zip(items, refs, keys, strict=True):
        has_sku = bool(_text(item.get("sku")))
        title = _text(item.get("title"))
        project_ids: list[int] = []
        for ref in line_refs:
            project_ids = [p.id for p in by_cart_id.get(ref, [])]
            if project_ids:
                break
        if has_sku and not project_ids:
            # Method 2 applies to SKUs only: a variant or product id is never a project ID.
            project = project_for_sku_method2(publisher_id=publisher_id, sku=line_refs[0])
            if project is not None:
                project_ids = [project.id]
        quantity = _quantity(item.get("quantity"))
        found.cart_lines.append(
            CartLine(
                key=key,
                ref=line_refs[0] if line_refs else "",
                title=title,
                quantity=quantity,
                project_ids=tuple(project_ids),
                has_sku=has_sku,
            )
        )
        if not project_ids:
            found.unmatched.append(CartProduct(ref=line_refs[0] if line_refs else "", title=title))
            continue
        product = CartProduct(ref=line_refs[0], title=title)
        if quantity is None:
            found.invalid_quantity.append((product, describe_value(item.get("quantity"))))
            continue
        if quantity < 1:
            found.no_quantity.append(product)
            continue
        # A cart ID listed by several projects (a bonus disc) orders all of them.
        found.lines.extend(LineRequest(project_id=pid, quantity=quantity) for pid in project_ids)
    return found


def parse_order(
    *, publisher_id: int, data: dict[str, Any], test_requested: bool, shop_domain: str = ""
) -> ParsedOrder:
    """The `OrderRequest` for a Shopify order resource (as decoded by `load_order`) from the
    shop `shop_domain` (X-Shopify-Shop-Domain).

    The order keeps Shopify's identity of it, (shop, order id): the invoice is
    `shopify_invoice` of its name (else its number, else its id) and shop, the store is the
    shop domain and the external reference the order id.

    Lines whose SKU matches no project (eCommerce ID String, or Method 2: the project ID) are
    left out and listed in `unmatched`; a line without SKU is matched by its variant id, then
    its product id, in the eCommerce ID String. Lines of a matched product with a quantity
    below 1 are left out and listed in `no_quantity`, those whose quantity is not a whole
    number at all in `invalid_quantity`. With no line left, `request` is None.
    The mail method follows the publisher's shipping rules, then the keyword rule.
    `cart_lines` are every line (its key, SKU, quantity and projects) and `snapshot` the
    order as routing keeps it (carts/routing.py).
    Reads the publisher's projects and shipping rules; writes nothing.
    """
    raw_items = data.get("line_items")
    items = [i for i in raw_items if isinstance(i, dict)] if isinstance(raw_items, list) else []
    found = _lines(publisher_id, items)
    if not found.cart_lines:
        return found.parsed(None)
    test = test_requested or data.get("test") is True
    shop = clean_shop_domain(shop_domain)
    name = _text(data.get("name")) or _text(data.get("order_number")) or order_id(data)
    request = OrderRequest(
        publisher_id=publisher_id,
        lines=(),
        recipient=_recipient(data),
        mode=Mode.TEST if test else Mode.PROD,
        source=Source.SHOPIFY,
        invoice=shopify_invoice(name=name, shop_domain=shop),
        mail_method=_mail_method(publisher_id, data),
        external_ref=order_id(data),
        store=shop,
        actor="shopify",
    )
    snapshot = CartOrderSnapshot(
        name=name,
        shipping_description=next((d for d in _shipping_descriptions(data) if d), ""),
        request=request,
    )
    return found.parsed(
        replace(request, lines=tuple(found.lines)) if found.lines else None, snapshot
    )
