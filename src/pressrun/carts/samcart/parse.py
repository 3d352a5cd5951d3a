"""SamCart Notify URL bodies → a plain dict, and a group of them → one `OrderRequest`.

SamCart does not document the exact body: it may arrive as JSON or as a form
(application/x-www-form-urlencoded). Form keys written `order[id]`, `order.id` or
`items[0][product_id]` are unfolded into the same nested shape a JSON body has, so the rest
of the code reads one shape. Integers stay decimal text, never floats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from pressrun.carts.payload import MAX_NESTING_DEPTH, NESTED_TOO_DEEPLY, JsonInvalid, load_json
from pressrun.carts.payload import text as _text
from pressrun.carts.routing import CartLine, CartOrderSnapshot
from pressrun.carts.shipping import mail_method_for_descriptions
from pressrun.carts.unmatched import CartProduct
from pressrun.catalog.selectors import projects_for_cart_ids
from pressrun.orders.models import Mode, Source
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest

MAX_INVOICE_LENGTH = 50
# SamCart's Notify URL names its event in `type` ("Order" for the Product Purchased trigger,
# "Refund", "Cancel", ...); the other keys are read in case a newer format moves it.
EVENT_KEYS = ("type", "event", "event_type", "eventType", "trigger", "notification_type", "topic")
# The only events that create orders, as `_event_key` writes them: SamCart's "Order", and the
# trigger's own name should a body carry that instead.
ORDER_EVENTS = frozenset({"order", "product purchased"})
_EVENT_SEPARATORS = re.compile(r"[\s_.-]+")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_KEY_PART = re.compile(r"[^.\[\]]+")


class PayloadInvalid(ValueError):
    """The body is neither a JSON object nor a form, or it is an order notification that
    names no order."""


def _unfold(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The nested dict the form's keys describe. Raises PayloadInvalid for a key nested deeper
    than MAX_NESTING_DEPTH, which also bounds `_listify`'s recursion."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _KEY_PART.findall(key)
        if not parts:
            continue
        if len(parts) > MAX_NESTING_DEPTH:
            raise PayloadInvalid(NESTED_TOO_DEEPLY)
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    unfolded = _listify(root)
    return unfolded if isinstance(unfolded, dict) else {}


def _listify(value: Any) -> Any:
    """Dicts whose keys are all digits (from `items[0][...]`) become lists in key order."""
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def load_notification(body: bytes, content_type: str = "") -> dict[str, Any]:
    """Decode a JSON or form body into a dict. Raises PayloadInvalid for a body that is
    neither, and for an order notification (`creates_order`) without an order id; other
    events (a lead, a refund) need none, since they create nothing."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadInvalid(f"The body is not UTF-8 text: {exc}") from exc
    is_form = content_type.split(";", maxsplit=1)[0].strip().lower() == FORM_CONTENT_TYPE
    if is_form and not text.lstrip().startswith("{"):
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError as exc:
            raise PayloadInvalid(f"The body is not a valid form: {exc}") from exc
        data = _unfold(pairs)
    else:
        try:
            data = load_json(text)
        except JsonInvalid as exc:
            raise PayloadInvalid(str(exc)) from exc
        if not isinstance(data, dict):
            raise PayloadInvalid("The body is JSON but not an object.")
    if creates_order(data) and not order_id(data):
        raise PayloadInvalid("The body names no order (order.id).")
    return data


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def order_id(data: dict[str, Any]) -> str:
    return _text(_dict(data.get("order")).get("id")) or _text(data.get("order_id"))


def event(data: dict[str, Any]) -> str:
    """The event type as sent (SamCart's field name is undocumented: several are read)."""
    for key in EVENT_KEYS:
        text = _text(data.get(key))
        if text:
            return text
    return ""


def _event_key(text: str) -> str:
    """The event as compared: lower case, runs of spaces, _ . - as one space."""
    return _EVENT_SEPARATORS.sub(" ", text).strip().lower()


def creates_order(data: dict[str, Any]) -> bool:
    """Whether the notification is recognisably an order: its event is SamCart's "Order"
    (or "Product Purchased"), in any case. The spec: "An order is created ... when the type
    of notify is 'Order'." Anything else creates nothing: refunds, cancels, leads, events
    pressrun does not know, and a body naming no event at all (SamCart always names one, so
    such a body is not a purchase SamCart sent)."""
    return _event_key(event(data)) in ORDER_EVENTS


def not_an_order_reason(data: dict[str, Any]) -> str:
    """Why a notification that `creates_order` refuses created nothing (the delivery's
    reason)."""
    name = event(data)
    if not name:
        return (
            "The notification names no event type (SamCart sends type=Order for a purchase), "
            "so it is not recognisably an order; nothing was created."
        )
    return (
        f"Event '{name[:100]}' is not an order; only SamCart's 'Order' notifications (the "
        "Product Purchased trigger) create orders."
    )


def _quantity(value: Any, default: int = 1) -> int:
    text = _text(value)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        return 0


def items(data: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(product id, quantity, name) of each product the notification carries."""
    raw = data.get("items")
    if not isinstance(raw, list):
        raw = _dict(data.get("order")).get("items")
    found: list[tuple[str, int, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            product_id = _text(item.get("product_id")) or _text(item.get("id"))
            name = _text(item.get("product_name")) or _text(item.get("name"))
            found.append((product_id, _quantity(item.get("quantity")), name))
    if found:
        return found
    product = _dict(data.get("product"))
    product_id = _text(product.get("id")) or _text(data.get("product_id"))
    quantity = _quantity(product.get("quantity") or data.get("quantity"))
    name = _text(product.get("name")) or _text(data.get("product_name"))
    return [(product_id, quantity, name)] if product_id or name else []


def _mail_method(publisher_id: int, data: dict[str, Any]) -> str | None:
    return mail_method_for_descriptions(
        publisher_id=publisher_id, descriptions=_shipping_descriptions(data)
    )


def _shipping_descriptions(data: dict[str, Any]) -> list[str]:
    order = _dict(data.get("order"))
    shipping = _dict(data.get("shipping")) or _dict(order.get("shipping"))
    return [
        _text(value)
        for value in (
            data.get("shipping_method"),
            data.get("shipping_description"),
            order.get("shipping_method"),
            order.get("shipping_description"),
            shipping.get("description"),
            shipping.get("name"),
            shipping.get("method"),
        )
    ]


def _recipient(data: dict[str, Any]) -> RecipientRequest:
    customer = _dict(data.get("customer"))
    order = _dict(data.get("order"))
    address = (
        _dict(data.get("shipping_address"))
        or _dict(customer.get("shipping_address"))
        or _dict(order.get("shipping_address"))
        or _dict(data.get("billing_address"))
        or _dict(customer.get("billing_address"))
    )
    first = _text(address.get("first_name")) or _text(customer.get("first_name"))
    last = _text(address.get("last_name")) or _text(customer.get("last_name"))
    street = ", ".join(
        part
        for part in (_text(address.get("address_line_1")), _text(address.get("address_line_2")))
        if part
    )
    return RecipientRequest(
        name=" ".join(part for part in (first, last) if part),
        address=street,
        city=_text(address.get("city")),
        state=_text(address.get("region")) or _text(address.get("state")),
        postal_code=_text(address.get("postal_code")) or _text(address.get("zip")),
        country=_text(address.get("country")),
        email=_text(customer.get("email")) or _text(data.get("email")),
    )


def is_test(data: dict[str, Any]) -> bool:
    order = _dict(data.get("order"))
    for value in (
        data.get("test_mode"),
        data.get("test"),
        order.get("test_mode"),
        order.get("test"),
    ):
        if value is True or _text(value).lower() in {"true", "1", "yes"}:
            return True
    return _text(data.get("mode")).lower() == "test" or _text(order.get("mode")).lower() == "test"


def products(data: dict[str, Any]) -> list[CartProduct]:
    """The products one notification carries, as the cart names them (id and name)."""
    return [CartProduct(ref=product_id, title=name) for product_id, _, name in items(data)]


@dataclass(frozen=True)
class ParsedGroup:
    request: OrderRequest | None  # None: no product matches a project
    # Products naming no project (ref "" when the notification names no product id).
    unmatched: tuple[CartProduct, ...]
    # Products that name a project but ask for no copies (quantity below 1).
    no_quantity: tuple[CartProduct, ...] = ()
    # Every product (one line per product id), for routing (carts/routing.py), and the
    # order as routing keeps it.
    cart_lines: tuple[CartLine, ...] = ()
    snapshot: CartOrderSnapshot | None = None


def describe(products: Iterable[CartProduct]) -> str:
    """Products for a delivery's reason: "product '294010' (Greatest Hits); ..."."""
    return "; ".join(f"product {product.describe()}" for product in products)


def parse_group(
    *, publisher_id: int, notifications: list[dict[str, Any]], test_requested: bool
) -> ParsedGroup:
    """One `OrderRequest` for the notifications of one SamCart order (one per product).

    Quantities are summed per product; the address, customer and shipping come from the first
    notification; the mail method follows the publisher's shipping rules, then the keyword
    rule. Reads the publisher's projects and shipping rules; writes nothing.
    """
    quantities: dict[str, int] = {}
    names: dict[str, str] = {}
    unmatched: list[CartProduct] = []
    for data in notifications:
        for product_id, quantity, name in items(data):
            if not product_id:
                unmatched.append(CartProduct(ref="", title=name))
                continue
            # A quantity below 1 adds nothing (and a negative one must not cancel others).
            quantities[product_id] = quantities.get(product_id, 0) + max(quantity, 0)
            names[product_id] = names.get(product_id) or name
    by_cart_id = projects_for_cart_ids(publisher_id=publisher_id, cart_ids=sorted(quantities))
    lines: list[LineRequest] = []
    no_quantity: list[CartProduct] = []
    cart_lines: list[CartLine] = []
    for product_id, quantity in quantities.items():
        projects = by_cart_id.get(product_id, [])
        product = CartProduct(ref=product_id, title=names[product_id])
        cart_lines.append(
            CartLine(
                key=f"product:{product_id}"[:300],
                ref=product_id,
                title=names[product_id],
                quantity=quantity,
                project_ids=tuple(p.id for p in projects),
            )
        )
        if not projects:
            unmatched.append(product)
        elif quantity < 1:
            no_quantity.append(product)
        else:
            # A product ID listed by several projects (a bonus disc) orders all of them.
            lines.extend(LineRequest(project_id=p.id, quantity=quantity) for p in projects)
    if not cart_lines or not notifications:
        return ParsedGroup(request=None, unmatched=tuple(unmatched), no_quantity=tuple(no_quantity))
    first = notifications[0]
    identifier = order_id(first)
    test = test_requested or any(is_test(data) for data in notifications)
    request = OrderRequest(
        publisher_id=publisher_id,
        lines=(),
        recipient=_recipient(first),
        mode=Mode.TEST if test else Mode.PROD,
        source=Source.SAMCART,
        invoice=identifier[:MAX_INVOICE_LENGTH],
        mail_method=_mail_method(publisher_id, first),
        external_ref=identifier,
        actor="samcart",
    )
    return ParsedGroup(
        request=replace(request, lines=tuple(lines)) if lines else None,
        unmatched=tuple(unmatched),
        no_quantity=tuple(no_quantity),
        cart_lines=tuple(cart_lines),
        snapshot=CartOrderSnapshot(
            name=identifier,
            shipping_description=next((d for d in _shipping_descriptions(first) if d), ""),
            request=request,
        ),
    )
