"""1ShoppingCart XML → values. Translation only: intake applies every rule.

Two kinds of XML arrive from 1ShoppingCart, both read with defusedxml (no entities, no DTDs):
- the notification POSTed to our Notification URL: a root element naming the event
  (`NewOrder`, or a test notification) holding only a `<Token>`, which is the order id;
- the API's replies: `<Response success="true">` holding `OrderInfo` and
  `OrderShippingProfileInfo` (an order) or `ClientInfo` (a client), or `success="false"` with
  an `<Error>`.
Element names are matched without regard to letter case or namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import fromstring

from pressrun.accounts.models import MailMethod
from pressrun.carts.payload import text as _text
from pressrun.carts.routing import CartLine, CartOrderSnapshot, line_keys
from pressrun.carts.shipping import mail_method_for
from pressrun.carts.unmatched import CartProduct
from pressrun.catalog.selectors import projects_for_cart_ids
from pressrun.orders.models import Mode, Source
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest

NEW_ORDER_EVENT = "neworder"
# The spec: "By default, we ship standard first class + tracking". Only a shipping method
# that a publisher's rule or the keyword rule reads changes it; the publisher's own default
# mail method does not apply to 1ShoppingCart orders.
DEFAULT_MAIL_METHOD = MailMethod.RTRACKSTANDARD
MAX_TOKEN_LENGTH = 50
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_INVOICE_LENGTH = 50
ACCEPTED_STATUS = "accepted"
# Digits, optionally with a zero fraction; at most 9 digits, so int() can never be slow or
# overflow whatever the reply holds.
QUANTITY_PATTERN = re.compile(r"(\d{1,9})(?:\.0*)?", re.ASCII)


class PayloadInvalid(ValueError):
    """The XML cannot be read, or lacks what it must carry."""


class DtdRefused(PayloadInvalid):
    """The XML declares a DTD (<!DOCTYPE …>): never read, since a DTD is how entity bombs and
    external entities arrive. `doctype` is the declared root name."""

    def __init__(self, doctype: str) -> None:
        self.doctype = doctype
        super().__init__(
            f"The XML declares a DTD (<!DOCTYPE {doctype[:40]}>), which pressrun never reads: "
            "a DTD is how entity bombs and external entities arrive."
        )


def _local(tag: object) -> str:
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1].lower()


def load_xml(body: bytes) -> Element:
    """Parse untrusted XML safely. Raises DtdRefused for any DTD (so no entity is ever
    expanded or fetched: bombs and external entities included), PayloadInvalid for anything
    else that is not well-formed XML."""
    if not body.strip():
        raise PayloadInvalid("The body is empty.")
    try:
        root = fromstring(body, forbid_dtd=True)
    except DTDForbidden as exc:
        raise DtdRefused(str(exc.name or "")) from exc
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise PayloadInvalid(f"The body is not well-formed XML: {exc}") from exc
    if not isinstance(root, Element):
        raise PayloadInvalid("The body is not XML.")
    return root


def child(parent: Element | None, *path: str) -> Element | None:
    """The first descendant along `path` (case-insensitive local names)."""
    node = parent
    for name in path:
        if node is None:
            return None
        wanted = name.lower()
        node = next((c for c in node if _local(c.tag) == wanted), None)
    return node


def children(parent: Element | None, name: str) -> list[Element]:
    wanted = name.lower()
    return [c for c in parent if _local(c.tag) == wanted] if parent is not None else []


def value(parent: Element | None, *path: str) -> str:
    node = child(parent, *path)
    return _text("".join(node.itertext())) if node is not None else ""


@dataclass(frozen=True)
class Notification:
    event: str  # the root element's name, e.g. "NewOrder"
    token: str  # the order id

    @property
    def is_new_order(self) -> bool:
        return self.event.lower() == NEW_ORDER_EVENT


def parse_notification(body: bytes) -> Notification:
    """The event and token of a Notification URL POST. Raises PayloadInvalid."""
    root = load_xml(body)
    token = value(root, "Token")
    if not token:
        raise PayloadInvalid("The notification has no <Token>.")
    if len(token) > MAX_TOKEN_LENGTH or not TOKEN_PATTERN.match(token):
        raise PayloadInvalid("The notification's <Token> is not an order id.")
    event = root.tag if isinstance(root.tag, str) else ""
    return Notification(event=event.rsplit("}", 1)[-1][:100], token=token)


TEST_KEY_PREFIX = "test:"


def delivery_key(*, token: str, test: bool) -> str:
    """The delivery's key, which allows one order per key: the order id, and for a test-mode
    notification "test:" + the order id. A test order never blocks the production order of
    the same 1ShoppingCart order (as an invoice in test mode never blocks it in production),
    so a test-mode notification, genuine or forged, cannot keep a real order from being made.
    """
    return f"{TEST_KEY_PREFIX}{token}" if test else token


def order_token(key: str) -> str:
    """The 1ShoppingCart order id a delivery key names (`delivery_key` undone)."""
    return key.removeprefix(TEST_KEY_PREFIX)


class ApiRefused(Exception):
    """1ShoppingCart answered success="false"; the message is its <Error> text."""


def load_api_reply(body: bytes) -> Element:
    """Parse a reply of 1ShoppingCart's API. Raises DtdRefused for XML declaring a DTD (an
    entity bomb, an external entity: never an honest reply, so not worth asking again), and
    PayloadInvalid for a body that is not XML at all, such as a proxy's or a maintenance web
    page; an HTML page's own `<!DOCTYPE html>` counts as the latter."""
    try:
        return load_xml(body)
    except DtdRefused as exc:
        if exc.doctype.strip().lower() == "html":
            raise PayloadInvalid("The reply is a web page (<!DOCTYPE html>).") from exc
        raise


def is_response(root: Element) -> bool:
    return _local(root.tag) == "response"


def response_body(root: Element) -> Element:
    """The <Response> element of an API reply, checked for success. Raises ApiRefused or
    PayloadInvalid."""
    if _local(root.tag) != "response":
        raise PayloadInvalid(f"The reply's root is <{_local(root.tag)}>, not <Response>.")
    success = next((v for k, v in root.attrib.items() if k.lower() == "success"), "")
    if success.strip().lower() != "true":
        raise ApiRefused(value(root, "Error") or "1ShoppingCart refused the request.")
    return root


@dataclass(frozen=True)
class OrderLineItem:
    sku: str
    product_id: str
    quantity: int
    name: str


@dataclass(frozen=True)
class ApiOrder:
    order_id: str
    client_id: str
    status: str
    shipping_method: str
    lines: tuple[OrderLineItem, ...]
    ship_to: RecipientRequest | None  # None: no shipping profile; use the client's address

    @property
    def accepted(self) -> bool:
        return self.status.lower() == ACCEPTED_STATUS


def _quantity(text: str, *, line: int, ref: str) -> int:
    """A line's copies: a whole number of at least 1, as digits (the API may write "2.00").
    Raises PayloadInvalid for anything else ("1.5", "-1", "0", "1e999", "inf", "nan", ""), so
    a line is never guessed at; intake then applies its own limits."""
    match = QUANTITY_PATTERN.fullmatch(text)
    quantity = int(match.group(1)) if match else 0
    if quantity < 1:
        raise PayloadInvalid(
            f"Line {line} (SKU '{ref}') has quantity '{text[:40]}', which is not a whole "
            "number of copies of at least 1."
        )
    return quantity


def parse_order(root: Element) -> ApiOrder:
    """An order reply (`Orders/{id}`). Raises ApiRefused or PayloadInvalid."""
    response = response_body(root)
    info = child(response, "OrderInfo")
    if info is None:
        raise PayloadInvalid("The order reply has no <OrderInfo>.")
    lines = tuple(
        OrderLineItem(
            sku=value(item, "Sku"),
            product_id=value(item, "ProductId"),
            quantity=_quantity(
                value(item, "Quantity"),
                line=number,
                ref=value(item, "Sku") or value(item, "ProductId"),
            ),
            name=value(item, "ProductName") or value(item, "Name"),
        )
        for number, item in enumerate(children(child(info, "LineItems"), "LineItemInfo"), 1)
    )
    profile = child(response, "OrderShippingProfileInfo")
    ship_to = None
    if profile is not None and value(profile, "Address1"):
        street = (value(profile, "Address1"), value(profile, "Address2"))
        ship_to = RecipientRequest(
            name=value(profile, "Name"),
            address=", ".join(part for part in street if part),
            city=value(profile, "City"),
            state=value(profile, "StateName"),
            postal_code=value(profile, "Zip"),
            country=value(profile, "CountryName"),
        )
    return ApiOrder(
        order_id=value(info, "Id"),
        client_id=value(info, "ClientId"),
        status=value(info, "OrderStatusType"),
        shipping_method=value(info, "ShippingInfo", "ShippingMethodName"),
        lines=lines,
        ship_to=ship_to,
    )


@dataclass(frozen=True)
class ApiClient:
    email: str
    name: str
    address: RecipientRequest


def parse_client(root: Element) -> ApiClient:
    """A client reply (`Clients/{id}`). Raises ApiRefused or PayloadInvalid."""
    info = child(response_body(root), "ClientInfo")
    if info is None:
        raise PayloadInvalid("The client reply has no <ClientInfo>.")
    name = " ".join(p for p in (value(info, "FirstName"), value(info, "LastName")) if p)
    street = value(info, "Address1") or value(info, "Address")
    return ApiClient(
        email=value(info, "Email"),
        name=name,
        address=RecipientRequest(
            name=name,
            company=value(info, "CompanyName") or value(info, "Company"),
            address=", ".join(p for p in (street, value(info, "Address2")) if p),
            city=value(info, "City"),
            state=value(info, "StateName"),
            postal_code=value(info, "Zip"),
            country=value(info, "CountryName"),
        ),
    )


@dataclass(frozen=True)
class ParsedOrder:
    request: OrderRequest | None  # None: no line matches a project
    unmatched: tuple[CartProduct, ...]
    # Every line, for routing (carts/routing.py), and the order as routing keeps it.
    cart_lines: tuple[CartLine, ...] = ()
    snapshot: CartOrderSnapshot | None = None


def build_request(
    *, publisher_id: int, order: ApiOrder, client: ApiClient, test: bool
) -> ParsedOrder:
    """The `OrderRequest` for a 1ShoppingCart order and its client. Lines are matched by SKU
    through the eCommerce ID String (a SKU listed by several projects orders all of them; a
    line without a SKU by its product id); others are returned in `unmatched`. The mail
    method follows the publisher's shipping rules, then the keyword rule, else
    DEFAULT_MAIL_METHOD (standard + tracking, whatever the publisher's own default). Reads the
    publisher's projects and rules; writes nothing."""
    # Lines are mapped by SKU; a line without a SKU by its 1ShoppingCart product id.
    # (Quantities are whole numbers of at least 1: `_quantity` refuses anything else.)
    refs = sorted({line.sku or line.product_id for line in order.lines} - {""})
    by_ref = projects_for_cart_ids(publisher_id=publisher_id, cart_ids=refs)
    lines: list[LineRequest] = []
    unmatched: list[CartProduct] = []
    cart_lines: list[CartLine] = []
    refs_in_order = [line.sku or line.product_id for line in order.lines]
    keys = line_keys(["" for _ in order.lines], refs_in_order)
    for item, key in zip(order.lines, keys, strict=True):
        ref = item.sku or item.product_id
        projects = by_ref.get(ref, []) if ref else []
        cart_lines.append(
            CartLine(
                key=key,
                ref=ref,
                title=item.name,
                quantity=item.quantity,
                project_ids=tuple(p.id for p in projects),
                has_sku=bool(item.sku),
            )
        )
        if not projects:
            unmatched.append(CartProduct(ref=ref, title=item.name))
            continue
        lines.extend(LineRequest(project_id=p.id, quantity=item.quantity) for p in projects)
    if not cart_lines:
        return ParsedOrder(request=None, unmatched=tuple(unmatched))
    ship_to = order.ship_to or client.address
    recipient = RecipientRequest(
        name=ship_to.name or client.name,
        company=ship_to.company,
        address=ship_to.address,
        city=ship_to.city,
        state=ship_to.state,
        postal_code=ship_to.postal_code,
        country=ship_to.country,
        email=client.email,
    )
    request = OrderRequest(
        publisher_id=publisher_id,
        lines=(),
        recipient=recipient,
        mode=Mode.TEST if test else Mode.PROD,
        source=Source.ONESHOPPINGCART,
        invoice=order.order_id[:MAX_INVOICE_LENGTH],
        mail_method=(
            mail_method_for(publisher_id=publisher_id, description=order.shipping_method)
            or DEFAULT_MAIL_METHOD
        ),
        external_ref=order.order_id,
        actor="1shoppingcart",
    )
    return ParsedOrder(
        request=replace(request, lines=tuple(lines)) if lines else None,
        unmatched=tuple(unmatched),
        cart_lines=tuple(cart_lines),
        snapshot=CartOrderSnapshot(
            name=order.order_id, shipping_description=order.shipping_method, request=request
        ),
    )
