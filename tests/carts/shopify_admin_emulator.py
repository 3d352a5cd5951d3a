"""A local stand-in for Shopify's GraphQL Admin API, for the tracking post-back tests.

It answers `POST /{shop}/admin/api/{version}/graphql.json` (point
PRESSRUN_SHOPIFY_ADMIN_API_BASE at `{base_url}/{shop}`) the way Shopify does, and checks what
a real shop would check before answering:

- the `X-Shopify-Access-Token` header is the shop's token (else HTTP 401 with Shopify's
  `{"errors": "[API] Invalid API key or access token ..."}`), the body is JSON with `query`
  and `variables`, and the API version in the path is the one expected;
- the operation is one it knows, read from the document: the `order(id:)` query asking for
  `fulfillmentOrders`, the `fulfillmentCreate(fulfillment: FulfillmentInput!)` mutation or
  `fulfillmentTrackingInfoUpdate`; their variables are checked against the input types'
  fields (FulfillmentInput: lineItemsByFulfillmentOrder [{fulfillmentOrderId, ...}],
  notifyCustomer, trackingInfo {number, url, company}; an unknown field is a GraphQL error,
  as Shopify answers);
- `fulfillmentCreate` on a fulfillment order that is not open answers `userErrors`; one that
  succeeds adds a SUCCESS fulfillment with the tracking and the line items it fulfilled.
  Fulfillment orders hold line items (`add_order(..., lines=...)`: each a fulfillment order
  line item with the order line item it stands for, its SKU, its total and remaining
  quantity). A pair naming `fulfillmentOrderLineItems` ([{id, quantity}],
  FulfillmentOrderLineItemInput) fulfils only those quantities: an id not of that
  fulfillment order, or a quantity above what is left, is a userError, as Shopify answers;
  what is left keeps the fulfillment order IN_PROGRESS. A pair without them fulfils all that
  is left. A fulfillment order with nothing left is CLOSED. The order query answers
  `lineItems` {id totalQuantity remainingQuantity lineItem {id sku}} and each fulfillment's
  `fulfillmentLineItems` {quantity lineItem {id}}.
- stock: `locations(first:)` lists `locations`; `productVariants(first:, query:)` searches
  `variants` (SKU → inventory item id) with Shopify's `sku:"A" OR sku:"B"` syntax;
  `inventorySetQuantities(input: InventorySetQuantitiesInput!)` checks its input (name
  "available", a reason, ignoreCompareQuantity or a compareQuantity per quantity, at most 250
  quantities) and applies all or nothing: an unknown inventory item or location is a userError
  whose field names the quantity's index. What was set is in `quantities`
  ((inventory item, location) → quantity) and each call's input in `set_calls`.

Faults: `fail_next` (a list consumed one per request) of "503", "429:<seconds>" (with
Retry-After), "throttled" (HTTP 200 with a THROTTLED GraphQL error) or "drop" (the
connection closed without an answer); `down = True` answers 503 to everything.
Every request is kept in `requests` (operation name, variables) and in `mutations`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "2025-07"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
PATH = re.compile(r"^/(?P<shop>[a-z0-9-]+)/admin/api/(?P<version>[0-9]{4}-[0-9]{2})/graphql\.json$")
OPERATION = re.compile(r"^\s*(query|mutation)\b[^{(]*(\([^)]*\))?\s*\{\s*(?P<root>\w+)\s*\(", re.S)
FULFILLMENT_INPUT_FIELDS = {
    "lineItemsByFulfillmentOrder",
    "notifyCustomer",
    "trackingInfo",
    "originAddress",
}
TRACKING_INPUT_FIELDS = {"number", "url", "company", "numbers", "urls"}
SET_INPUT_FIELDS = {"name", "reason", "referenceDocumentUri", "ignoreCompareQuantity", "quantities"}
SET_QUANTITY_FIELDS = {"inventoryItemId", "locationId", "quantity", "compareQuantity"}
REASONS = {"correction", "cycle_count_available", "damaged", "movement_created", "received"}
SKU_TERM = re.compile(r'sku:(?:"((?:[^"\\]|\\.)*)"|(\S+))')


@dataclass
class EmulatedFulfillment:
    id: str
    status: str = "SUCCESS"
    tracking: list[dict[str, str]] = field(default_factory=list)
    # (order line item gid, quantity) it fulfilled
    line_items: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class EmulatedLineItem:
    id: str  # gid://shopify/FulfillmentOrderLineItem/<n>
    line_item_id: str  # gid://shopify/LineItem/<n>: the order's line item
    sku: str
    total: int
    remaining: int


@dataclass
class EmulatedFulfillmentOrder:
    id: str
    status: str = "OPEN"
    fulfillments: list[EmulatedFulfillment] = field(default_factory=list)
    line_items: list[EmulatedLineItem] = field(default_factory=list)


@dataclass
class Request:
    shop: str
    operation: str  # the root field: order, fulfillmentCreate, fulfillmentTrackingInfoUpdate
    query: str
    variables: dict[str, Any]


@dataclass
class ShopifyAdminEmulator:
    tokens: dict[str, str] = field(default_factory=dict)  # shop handle → access token
    # order gid → its fulfillment orders
    orders: dict[str, list[EmulatedFulfillmentOrder]] = field(default_factory=dict)
    version: str = VERSION
    requests: list[Request] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)
    down: bool = False
    # The version named in X-Shopify-API-Version ("": the one asked for); Shopify answers a
    # request for a version it no longer supports with the oldest one it does.
    answered_version: str = ""
    base_url: str = ""
    # Stock: location gid → (name, active); SKU → inventory item gid; what was set.
    locations: dict[str, tuple[str, bool]] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    quantities: dict[tuple[str, str], int] = field(default_factory=dict)
    set_calls: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(5_000_000_001, 10**12)))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_order(
        self,
        order_id: str,
        *,
        statuses: tuple[str, ...] = ("OPEN",),
        lines: tuple[tuple[tuple[int | str, str, int], ...], ...] = (),
    ) -> str:
        """An order with a fulfillment order per status; `lines[i]` are the line items of
        the i-th, each (order line item id, SKU, quantity)."""
        gid = f"gid://shopify/Order/{order_id}"
        self.orders[gid] = []
        for index, status in enumerate(statuses):
            items = lines[index] if index < len(lines) else ()
            self.orders[gid].append(
                EmulatedFulfillmentOrder(
                    id=f"gid://shopify/FulfillmentOrder/{next(self._ids)}",
                    status=status,
                    line_items=[
                        EmulatedLineItem(
                            id=f"gid://shopify/FulfillmentOrderLineItem/{next(self._ids)}",
                            line_item_id=f"gid://shopify/LineItem/{line_id}",
                            sku=sku,
                            total=quantity,
                            remaining=quantity if status in ("OPEN", "IN_PROGRESS") else 0,
                        )
                        for line_id, sku, quantity in items
                    ],
                )
            )
        return gid

    def fulfilled(self, order_gid: str) -> list[tuple[tuple[str, ...], list[tuple[str, int]]]]:
        """Each fulfillment of the order once: (its tracking numbers, its line items as
        (order line item gid, quantity)), in the order they were made."""
        seen: dict[str, EmulatedFulfillment] = {}
        for fo in self.orders[order_gid]:
            for fulfillment in fo.fulfillments:
                seen.setdefault(fulfillment.id, fulfillment)
        ordered = sorted(seen.values(), key=lambda f: int(f.id.rsplit("/", 1)[1]))
        return [
            (tuple(t.get("number", "") for t in f.tracking), sorted(f.line_items)) for f in ordered
        ]

    def add_location(self, name: str, *, active: bool = True) -> str:
        gid = f"gid://shopify/Location/{next(self._ids)}"
        self.locations[gid] = (name, active)
        return gid

    def add_variant(self, sku: str) -> str:
        gid = f"gid://shopify/InventoryItem/{next(self._ids)}"
        self.variants[sku] = gid
        return gid

    def available(self, location_id: str) -> dict[str, int]:
        """SKU → the quantity set at the location."""
        sku_of = {item: sku for sku, item in self.variants.items()}
        return {
            sku_of.get(item, item): quantity
            for (item, location), quantity in self.quantities.items()
            if location == location_id
        }

    @property
    def mutations(self) -> list[Request]:
        return [
            r for r in self.requests if r.operation not in ("order", "locations", "productVariants")
        ]

    # --- the API ----------------------------------------------------------------------------

    def answer(self, shop: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        match = OPERATION.match(query)
        if match is None:
            return _errors("syntax error, unexpected end of file")
        root = match.group("root")
        self.requests.append(Request(shop, root, query, variables))
        if root == "order":
            return self._order(query, variables)
        if root == "fulfillmentCreate":
            return self._fulfillment_create(query, variables)
        if root == "fulfillmentTrackingInfoUpdate":
            return self._tracking_update(query, variables)
        if root == "locations":
            return self._locations(query, variables)
        if root == "productVariants":
            return self._variants(query, variables)
        if root == "inventorySetQuantities":
            return self._set_quantities(query, variables)
        return _errors(f"Field '{root}' doesn't exist on type 'QueryRoot'")

    def _order(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if "$id: ID!" not in query or "fulfillmentOrders" not in query:
            return _errors("query must select order(id: $id) { fulfillmentOrders }")
        gid = variables.get("id")
        if set(variables) != {"id"} or not isinstance(gid, str):
            return _errors("Variable $id of type ID! was provided invalid value")
        fulfillment_orders = self.orders.get(gid)
        if fulfillment_orders is None:
            return {"data": {"order": None}}
        nodes = [
            {
                "id": fo.id,
                "status": fo.status,
                "supportedActions": (
                    [{"action": "CREATE_FULFILLMENT"}, {"action": "HOLD"}]
                    if fo.status in ("OPEN", "IN_PROGRESS")
                    else []
                ),
                "lineItems": {
                    "nodes": [
                        {
                            "id": item.id,
                            "totalQuantity": item.total,
                            "remainingQuantity": item.remaining,
                            "lineItem": {"id": item.line_item_id, "sku": item.sku or None},
                        }
                        for item in fo.line_items
                    ]
                },
                "fulfillments": {
                    "nodes": [
                        {
                            "id": f.id,
                            "status": f.status,
                            "trackingInfo": list(f.tracking),
                            "fulfillmentLineItems": {
                                "nodes": [
                                    {"quantity": quantity, "lineItem": {"id": line_item}}
                                    for line_item, quantity in f.line_items
                                ]
                            },
                        }
                        for f in fo.fulfillments
                    ]
                },
            }
            for fo in fulfillment_orders
        ]
        return {"data": {"order": {"id": gid, "fulfillmentOrders": {"nodes": nodes}}}}

    def _find_fo(self, gid: str) -> EmulatedFulfillmentOrder | None:
        for fulfillment_orders in self.orders.values():
            for fo in fulfillment_orders:
                if fo.id == gid:
                    return fo
        return None

    def _fulfillment_create(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if "$fulfillment: FulfillmentInput!" not in query:
            return _errors("fulfillmentCreate takes fulfillment: FulfillmentInput!")
        value = variables.get("fulfillment")
        if set(variables) != {"fulfillment"} or not isinstance(value, dict):
            return _errors(
                "Variable $fulfillment of type FulfillmentInput! was provided invalid value"
            )
        unknown = set(value) - FULFILLMENT_INPUT_FIELDS
        if unknown:
            return _errors(f"Field is not defined on FulfillmentInput: {sorted(unknown)}")
        pairs = value.get("lineItemsByFulfillmentOrder")
        if not isinstance(pairs, list) or not pairs:
            return _errors("Expected value to not be null (lineItemsByFulfillmentOrder)")
        if "notifyCustomer" in value and not isinstance(value["notifyCustomer"], bool):
            return _errors("notifyCustomer: Could not coerce value to Boolean")
        tracking = value.get("trackingInfo")
        if tracking is not None:
            if not isinstance(tracking, dict) or set(tracking) - TRACKING_INPUT_FIELDS:
                return _errors("Field is not defined on FulfillmentTrackingInput")
            if not all(isinstance(v, str) for v in tracking.values()):
                return _errors("FulfillmentTrackingInput: Could not coerce value to String")
        chosen: list[tuple[EmulatedFulfillmentOrder, dict[str, int] | None]] = []
        for pair in pairs:
            if not isinstance(pair, dict) or set(pair) - {
                "fulfillmentOrderId",
                "fulfillmentOrderLineItems",
            }:
                return _errors("Field is not defined on FulfillmentOrderLineItemsInput")
            fo = self._find_fo(str(pair.get("fulfillmentOrderId")))
            if fo is None:
                return _user_error("fulfillmentCreate", "Fulfillment order does not exist.")
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                return _user_error(
                    "fulfillmentCreate",
                    f"Fulfillment order {fo.id} has an unfulfillable status= {fo.status.lower()}.",
                )
            items = pair.get("fulfillmentOrderLineItems")
            if items is None:
                chosen.append((fo, None))
                continue
            if not isinstance(items, list):
                return _errors("fulfillmentOrderLineItems: expected a list")
            wanted: dict[str, int] = {}
            own = {item.id: item for item in fo.line_items}
            for item in items:
                if not isinstance(item, dict) or set(item) != {"id", "quantity"}:
                    return _errors("FulfillmentOrderLineItemInput takes id: ID!, quantity: Int!")
                quantity = item["quantity"]
                if not isinstance(quantity, int) or isinstance(quantity, bool):
                    return _errors("FulfillmentOrderLineItemInput: Could not coerce quantity")
                line = own.get(str(item["id"]))
                if line is None:
                    return _user_error(
                        "fulfillmentCreate",
                        "Fulfillment order line item does not belong to the fulfillment order.",
                    )
                wanted[line.id] = wanted.get(line.id, 0) + quantity
                if quantity < 1 or wanted[line.id] > line.remaining:
                    return _user_error(
                        "fulfillmentCreate",
                        "Invalid fulfillment order line item quantity requested.",
                    )
            chosen.append((fo, wanted))
        fulfillment = EmulatedFulfillment(
            id=f"gid://shopify/Fulfillment/{next(self._ids)}",
            tracking=(
                [
                    {
                        "number": tracking.get("number", ""),
                        "company": tracking.get("company", ""),
                        "url": tracking.get("url", ""),
                    }
                ]
                if tracking
                else []
            ),
        )
        for fo, wanted in chosen:
            for line in fo.line_items:
                quantity = line.remaining if wanted is None else wanted.get(line.id, 0)
                if quantity:
                    line.remaining -= quantity
                    fulfillment.line_items.append((line.line_item_id, quantity))
            left = any(line.remaining for line in fo.line_items)
            fo.status = "IN_PROGRESS" if left else "CLOSED"
            fo.fulfillments.append(fulfillment)
        return {
            "data": {
                "fulfillmentCreate": {"fulfillment": _fulfillment(fulfillment), "userErrors": []}
            }
        }

    def _tracking_update(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if "$trackingInfoInput: FulfillmentTrackingInput!" not in query:
            return _errors(
                "fulfillmentTrackingInfoUpdate takes trackingInfoInput: FulfillmentTrackingInput!"
            )
        if set(variables) - {"fulfillmentId", "trackingInfoInput", "notifyCustomer"}:
            return _errors("Variable is not defined")
        tracking = variables.get("trackingInfoInput")
        if not isinstance(tracking, dict) or set(tracking) - TRACKING_INPUT_FIELDS:
            return _errors("Field is not defined on FulfillmentTrackingInput")
        for fulfillment_orders in self.orders.values():
            for fo in fulfillment_orders:
                for fulfillment in fo.fulfillments:
                    if fulfillment.id == variables.get("fulfillmentId"):
                        fulfillment.tracking = [dict(tracking)]
                        return {
                            "data": {
                                "fulfillmentTrackingInfoUpdate": {
                                    "fulfillment": _fulfillment(fulfillment),
                                    "userErrors": [],
                                }
                            }
                        }
        return _user_error("fulfillmentTrackingInfoUpdate", "Fulfillment does not exist.")

    def _locations(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        first = variables.get("first")
        if "$first: Int!" not in query or not isinstance(first, int) or not 0 < first <= 250:
            return _errors("locations: first must be between 1 and 250")
        nodes = [
            {"id": gid, "name": name, "isActive": active}
            for gid, (name, active) in list(self.locations.items())[:first]
        ]
        return {"data": {"locations": {"nodes": nodes}}}

    def _variants(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        first = variables.get("first")
        search = variables.get("query")
        if not isinstance(first, int) or not 0 < first <= 250 or not isinstance(search, str):
            return _errors("productVariants takes first: Int (1..250) and query: String")
        wanted = []
        for quoted, bare in SKU_TERM.findall(search):
            wanted.append(re.sub(r"\\(.)", r"\1", quoted) if quoted or not bare else bare)
        nodes = [
            {
                "id": f"gid://shopify/ProductVariant/{item.rsplit('/', 1)[-1]}",
                "sku": sku,
                "inventoryItem": {"id": item},
            }
            for sku, item in self.variants.items()
            if sku in wanted
        ][:first]
        return {"data": {"productVariants": {"nodes": nodes}}}

    def _set_quantities(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if "$input: InventorySetQuantitiesInput!" not in query:
            return _errors("inventorySetQuantities takes input: InventorySetQuantitiesInput!")
        value = variables.get("input")
        if set(variables) != {"input"} or not isinstance(value, dict):
            return _errors("Variable $input of type InventorySetQuantitiesInput! was invalid")
        if set(value) - SET_INPUT_FIELDS:
            return _errors(
                f"Field is not defined on InventorySetQuantitiesInput: "
                f"{sorted(set(value) - SET_INPUT_FIELDS)}"
            )
        quantities = value.get("quantities")
        if value.get("name") != "available" and value.get("name") != "on_hand":
            return _set_error(["input", "name"], "The quantity name must be available or on_hand.")
        if value.get("reason") not in REASONS:
            return _set_error(["input", "reason"], "The specified reason is invalid.")
        if not isinstance(quantities, list) or not quantities:
            return _errors("Expected value to not be null (quantities)")
        if len(quantities) > 250:
            return _set_error(["input", "quantities"], "At most 250 quantities at once.")
        ignore = value.get("ignoreCompareQuantity") is True
        errors = []
        for index, entry in enumerate(quantities):
            if not isinstance(entry, dict) or set(entry) - SET_QUANTITY_FIELDS:
                return _errors("Field is not defined on InventoryQuantityInput")
            if not isinstance(entry.get("quantity"), int):
                return _errors("InventoryQuantityInput.quantity: Could not coerce value to Int")
            where = ["input", "quantities", str(index)]
            if entry.get("inventoryItemId") not in self.variants.values():
                errors.append(
                    {
                        "field": [*where, "inventoryItemId"],
                        "message": "The specified inventory item could not be found.",
                        "code": "INVALID_INVENTORY_ITEM",
                    }
                )
            elif entry.get("locationId") not in self.locations:
                errors.append(
                    {
                        "field": [*where, "locationId"],
                        "message": "The specified location could not be found.",
                        "code": "INVALID_LOCATION",
                    }
                )
            elif not ignore and "compareQuantity" not in entry:
                errors.append(
                    {
                        "field": [*where, "compareQuantity"],
                        "message": "The compareQuantity argument must be given to each quantity "
                        "or ignored using ignoreCompareQuantity.",
                        "code": "COMPARE_QUANTITY_REQUIRED",
                    }
                )
        self.set_calls.append(value)
        if errors:
            return {
                "data": {
                    "inventorySetQuantities": {
                        "inventoryAdjustmentGroup": None,
                        "userErrors": errors,
                    }
                }
            }
        for entry in quantities:
            self.quantities[(entry["inventoryItemId"], entry["locationId"])] = entry["quantity"]
        group = {"id": f"gid://shopify/InventoryAdjustmentGroup/{next(self._ids)}"}
        return {
            "data": {
                "inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}
            }
        }


def _set_error(path: list[str], message: str) -> dict[str, Any]:
    return {
        "data": {
            "inventorySetQuantities": {
                "inventoryAdjustmentGroup": None,
                "userErrors": [{"field": path, "message": message, "code": "INVALID"}],
            }
        }
    }


def _fulfillment(fulfillment: EmulatedFulfillment) -> dict[str, Any]:
    return {
        "id": fulfillment.id,
        "status": fulfillment.status,
        "trackingInfo": list(fulfillment.tracking),
    }


def _errors(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "locations": [{"line": 1, "column": 1}]}]}


def _user_error(name: str, message: str) -> dict[str, Any]:
    return {
        "data": {
            name: {
                "fulfillment": None,
                "userErrors": [{"field": ["fulfillment"], "message": message}],
            }
        }
    }


class _Handler(BaseHTTPRequestHandler):
    emulator: ShopifyAdminEmulator

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        match = PATH.match(self.path)
        asked = match.group("version") if match else self.emulator.version
        self.send_header("X-Shopify-API-Version", self.emulator.answered_version or asked)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        emulator = self.emulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with emulator.lock:
            fault = emulator.fail_next.pop(0) if emulator.fail_next else ""
            if emulator.down or fault == "503":
                self._send(503, {"errors": "Service Unavailable"})
                return
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault.startswith("429"):
                wait = fault.partition(":")[2] or "2.0"
                self._send(
                    429,
                    {"errors": "Exceeded 2 calls per second for api client."},
                    {"Retry-After": wait},
                )
                return
            match = PATH.match(self.path)
            if match is None:
                self._send(404, {"errors": "Not Found"})
                return
            shop = match.group("shop")
            token = emulator.tokens.get(shop)
            if token is None or self.headers.get("X-Shopify-Access-Token") != token:
                self._send(
                    401,
                    {"errors": INVALID_TOKEN},
                )
                return
            if match.group("version") != emulator.version and not emulator.answered_version:
                self._send(404, {"errors": "Not Found"})
                return
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                self._send(415, {"errors": "Unsupported Media Type"})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"errors": {"query": "Required parameter missing or invalid"}})
                return
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                self._send(400, {"errors": {"query": "Required parameter missing or invalid"}})
                return
            if fault == "throttled":
                self._send(
                    200,
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": {
                            "cost": {
                                "requestedQueryCost": 62,
                                "actualQueryCost": None,
                                "throttleStatus": {
                                    "maximumAvailable": 2000.0,
                                    "currentlyAvailable": 2,
                                    "restoreRate": 100.0,
                                },
                            }
                        },
                    },
                )
                return
            variables = body.get("variables") or {}
            self._send(200, emulator.answer(shop, body["query"], variables))


@contextmanager
def shopify_admin_api(**kwargs: Any) -> Iterator[ShopifyAdminEmulator]:
    emulator = ShopifyAdminEmulator(**kwargs)
    handler = type("Handler", (_Handler,), {"emulator": emulator})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    emulator.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield emulator
    finally:
        server.shutdown()
        server.server_close()
