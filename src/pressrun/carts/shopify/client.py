"""The only code that calls Shopify's Admin API: the GraphQL queries of tracking post-back
and of the stock sync (locations, variants by SKU, inventorySetQuantities).

`POST {base}/admin/api/{version}/graphql.json` with the shop's Admin API access token in
`X-Shopify-Access-Token` and a JSON body `{"query": ..., "variables": ...}`. The base is the
setting PRESSRUN_SHOPIFY_ADMIN_API_BASE (default `https://{shop}.myshopify.com`, `{shop}` the
shop's handle), the version PRESSRUN_SHOPIFY_ADMIN_API_VERSION. The token is only ever sent to
that base, for a shop domain ending in `.myshopify.com` (the store kept on the order comes from
a webhook header, so it is checked, never trusted).

Errors are two kinds: `ShopifyUnavailable` (worth retrying: the network, a 5xx, a 429 — with
Shopify's Retry-After —, a THROTTLED GraphQL answer) and `ShopifyRefused` (asking again brings
the same: a refused token, missing scopes, an unknown order, a mutation's userErrors).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0
MAX_REPLY_BYTES = 2_000_000
MAX_RETRY_AFTER_SECONDS = 3600.0
USER_AGENT = "pressrun/1 (+order fulfillment)"
MYSHOPIFY_DOMAIN = re.compile(r"^(?P<handle>[a-z0-9][a-z0-9-]{0,99})\.myshopify\.com$")
# Shopify's names for the carriers of orders.tracking it knows (trackingInfo.company).
SHOPIFY_COMPANY = {"USPS": "USPS", "UPS": "UPS", "FedEx": "FedEx", "DHL": "DHL Express"}

ORDER_FULFILLMENT_QUERY = """
query PressrunOrderFulfillment($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 50) {
      nodes {
        id
        status
        supportedActions { action }
        lineItems(first: 250) {
          nodes { id totalQuantity remainingQuantity lineItem { id sku } }
        }
        fulfillments(first: 50) {
          nodes {
            id
            status
            trackingInfo(first: 10) { number company url }
            fulfillmentLineItems(first: 250) { nodes { quantity lineItem { id } } }
          }
        }
      }
    }
  }
}
""".strip()

FULFILLMENT_CREATE_MUTATION = """
mutation PressrunFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 10) { number company url } }
    userErrors { field message }
  }
}
""".strip()

TRACKING_UPDATE_MUTATION = """
mutation PressrunTrackingUpdate($fulfillmentId: ID!, $trackingInfoInput: FulfillmentTrackingInput!, $notifyCustomer: Boolean) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput, notifyCustomer: $notifyCustomer) {
    fulfillment { id status trackingInfo(first: 10) { number company url } }
    userErrors { field message }
  }
}
""".strip()  # noqa: E501 - one GraphQL operation, as sent


LOCATIONS_QUERY = """
query PressrunLocations($first: Int!) {
  locations(first: $first) {
    nodes { id name isActive }
  }
}
""".strip()

VARIANTS_BY_SKU_QUERY = """
query PressrunVariantsBySku($first: Int!, $query: String!) {
  productVariants(first: $first, query: $query) {
    nodes { id sku inventoryItem { id } }
  }
}
""".strip()

INVENTORY_SET_QUANTITIES_MUTATION = """
mutation PressrunInventorySet($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { field message code }
  }
}
""".strip()

# At most this many quantities in one inventorySetQuantities (Shopify's limit), and this many
# SKUs in one productVariants search (its query string stays short).
MAX_SET_QUANTITIES = 250
MAX_SKUS_PER_SEARCH = 50


class ShopifyUnavailable(Exception):
    """Shopify could not answer now; `retry_after` (seconds) when it said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ShopifyRefused(Exception):
    """Shopify answered, and asking again would bring the same answer."""


@dataclass(frozen=True)
class TrackingInfo:
    number: str
    company: str
    url: str

    def as_input(self) -> dict[str, str]:
        """The FulfillmentTrackingInput: number, company and (when known) url."""
        values = {"number": self.number, "company": self.company}
        if self.url:
            values["url"] = self.url
        return values


@dataclass(frozen=True)
class Fulfillment:
    id: str
    status: str  # SUCCESS, CANCELLED, ERROR, FAILURE, OPEN, PENDING
    numbers: tuple[str, ...]  # the tracking numbers it carries
    # (order line item gid, quantity) of each of its fulfillment line items
    line_items: tuple[tuple[str, int], ...] = ()
    # (number, company) of each of its tracking infos
    tracking: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FulfillmentOrderLine:
    """A fulfillment order's line item: its own id (what fulfillmentCreate names), the order
    line item it stands for, and how many of it are left to fulfil."""

    id: str
    line_item_id: str  # gid://shopify/LineItem/<id>
    sku: str
    total_quantity: int
    remaining_quantity: int


@dataclass(frozen=True)
class FulfillmentOrder:
    id: str
    status: str  # OPEN, IN_PROGRESS, CLOSED, CANCELLED, INCOMPLETE, ON_HOLD, SCHEDULED
    can_create_fulfillment: bool
    fulfillments: tuple[Fulfillment, ...]
    line_items: tuple[FulfillmentOrderLine, ...] = ()


@dataclass(frozen=True)
class Location:
    id: str  # gid://shopify/Location/…
    name: str
    active: bool


@dataclass(frozen=True)
class QuantityError:
    """A userError of inventorySetQuantities: `index` is the quantity it names (None: the
    whole input)."""

    index: int | None
    message: str


def sku_search(skus: list[str]) -> str:
    """The productVariants search for exactly these SKUs: `sku:"A" OR sku:"B"` (quoted, with
    backslashes and quotes escaped, so a SKU with spaces or a colon is searched whole)."""
    quoted = ('"' + sku.replace("\\", "\\\\").replace('"', '\\"') + '"' for sku in skus)
    return " OR ".join(f"sku:{value}" for value in quoted)


def shop_handle(shop_domain: str) -> str:
    """The handle of a `*.myshopify.com` domain; ShopifyRefused for anything else (the
    access token is never sent to another host)."""
    match = MYSHOPIFY_DOMAIN.match(shop_domain.strip().lower())
    if match is None:
        raise ShopifyRefused(
            f"'{shop_domain[:80]}' is not a shop's myshopify.com domain; tracking is only "
            "posted to the shop the order came from."
        )
    return match.group("handle")


def admin_api_url(shop_domain: str) -> str:
    """The GraphQL Admin API endpoint of the shop."""
    base = str(settings.PRESSRUN_SHOPIFY_ADMIN_API_BASE).replace("{shop}", shop_handle(shop_domain))
    if not base.startswith(("https://", "http://")):
        raise ShopifyRefused("PRESSRUN_SHOPIFY_ADMIN_API_BASE must start with https://.")
    version = settings.PRESSRUN_SHOPIFY_ADMIN_API_VERSION
    return f"{base.rstrip('/')}/admin/api/{version}/graphql.json"


def line_item_gid(line_item_id: str) -> str:
    """The gid of an order's line item from the numeric id its webhook carries."""
    return f"gid://shopify/LineItem/{line_item_id}"


def order_gid(order_id: str) -> str:
    """Shopify's GraphQL id of an order from its numeric (REST) id."""
    if not order_id.isdigit() or len(order_id) > 30:
        raise ShopifyRefused(f"'{order_id[:40]}' is not a Shopify order id.")
    return f"gid://shopify/Order/{order_id}"


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header's wait in seconds (a number, or an HTTP date), capped at an hour;
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _throttled_wait(body: dict[str, Any]) -> float:
    """How long a THROTTLED query should wait: what it asked for minus what is available,
    at the bucket's restore rate (Shopify's `extensions.cost`), at least a second."""
    try:
        cost = body["extensions"]["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        wait = missing / max(float(status["restoreRate"]), 1.0)
    except (KeyError, TypeError, ValueError, OverflowError):
        return 2.0
    if not math.isfinite(wait):
        return 2.0
    return min(max(wait, 1.0), 60.0)


def parse_answer(raw: bytes) -> dict[str, Any]:
    """The `data` of a GraphQL answer (HTTP 200). Raises ShopifyUnavailable for what may pass
    (too large, not JSON, THROTTLED, no data) and ShopifyRefused for GraphQL errors."""
    if len(raw) > MAX_REPLY_BYTES:
        raise ShopifyUnavailable("Shopify's reply was too large.")
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise ShopifyUnavailable("Shopify's reply was not JSON.") from exc
    if not isinstance(answer, dict):
        raise ShopifyUnavailable("Shopify's reply was not a GraphQL answer.")
    errors = answer.get("errors")
    if errors:
        codes = {
            str((error.get("extensions") or {}).get("code", ""))
            for error in (errors if isinstance(errors, list) else [])
            if isinstance(error, dict) and isinstance(error.get("extensions") or {}, dict)
        }
        if "THROTTLED" in codes:
            raise ShopifyUnavailable(
                "Shopify throttled the request.", retry_after=_throttled_wait(answer)
            )
        raise ShopifyRefused(f"Shopify refused the request: {_messages(errors)}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ShopifyUnavailable("Shopify's answer had no data.")
    return data


def fulfillment_orders_from(data: dict[str, Any]) -> list[FulfillmentOrder] | None:
    """The fulfillment orders (with their fulfillments and tracking numbers) of the order
    query's `data`; None when the shop has no such order. Anything malformed is skipped."""
    order = data.get("order")
    if not isinstance(order, dict):
        return None
    found = []
    for node in _nodes(order.get("fulfillmentOrders")):
        actions = {
            str(action.get("action"))
            for action in _list(node.get("supportedActions"))
            if isinstance(action, dict)
        }
        fulfillments = tuple(
            Fulfillment(
                id=str(fulfillment.get("id", "")),
                status=str(fulfillment.get("status", "")),
                numbers=tuple(
                    str(info.get("number"))
                    for info in _list(fulfillment.get("trackingInfo"))
                    if isinstance(info, dict) and info.get("number")
                ),
                line_items=tuple(
                    (str(_dict(item.get("lineItem")).get("id", "")), _int(item.get("quantity")))
                    for item in _nodes(fulfillment.get("fulfillmentLineItems"))
                ),
                tracking=tuple(
                    (str(info.get("number")), str(info.get("company") or ""))
                    for info in _list(fulfillment.get("trackingInfo"))
                    if isinstance(info, dict) and info.get("number")
                ),
            )
            for fulfillment in _nodes(node.get("fulfillments"))
        )
        line_items = tuple(
            FulfillmentOrderLine(
                id=str(item.get("id", "")),
                line_item_id=str(_dict(item.get("lineItem")).get("id", "")),
                sku=str(_dict(item.get("lineItem")).get("sku") or ""),
                total_quantity=_int(item.get("totalQuantity")),
                remaining_quantity=_int(item.get("remainingQuantity")),
            )
            for item in _nodes(node.get("lineItems"))
            if item.get("id")
        )
        found.append(
            FulfillmentOrder(
                id=str(node.get("id", "")),
                status=str(node.get("status", "")),
                can_create_fulfillment="CREATE_FULFILLMENT" in actions,
                fulfillments=fulfillments,
                line_items=line_items,
            )
        )
    return found


class ShopifyAdminClient:
    def __init__(self, *, shop_domain: str, access_token: str) -> None:
        self.url = admin_api_url(shop_domain)
        self.shop_domain = shop_domain
        self.access_token = access_token.strip()
        if not self.access_token:
            raise ShopifyRefused("No Shopify Admin API access token is saved.")

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `data` of the answer. Raises ShopifyUnavailable or ShopifyRefused."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        # The URL's scheme is checked to be http(s) in admin_api_url.
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-Shopify-Access-Token": self.access_token,
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:  # noqa: S310
                raw: bytes = reply.read(MAX_REPLY_BYTES + 1)
                answered_version = reply.headers.get("X-Shopify-API-Version")
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from exc
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise ShopifyUnavailable(f"Shopify could not be reached ({reason}).") from exc
        requested = settings.PRESSRUN_SHOPIFY_ADMIN_API_VERSION
        if answered_version and answered_version != requested:
            # Shopify answers an unsupported version with the oldest one it still supports.
            logger.warning(
                "Shopify answered with API version %s instead of %s: the requested version is "
                "no longer supported; set PRESSRUN_SHOPIFY_ADMIN_API_VERSION to a current one.",
                answered_version[:20],
                requested,
            )
        return parse_answer(raw)

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        code = exc.code
        if code == 429:
            return ShopifyUnavailable(
                "Shopify asked to slow down (HTTP 429).",
                retry_after=retry_after_seconds(exc.headers.get("Retry-After")),
            )
        if code >= 500:
            return ShopifyUnavailable(f"Shopify answered HTTP {code}.")
        if code in (401, 403):
            return ShopifyRefused(
                f"Shopify refused the access token (HTTP {code}): save a valid Admin API "
                "access token with the fulfillment scopes in Settings, then send again."
            )
        if code == 404:
            return ShopifyRefused(f"Shopify has no shop at {self.shop_domain} (HTTP 404).")
        return ShopifyRefused(f"Shopify answered HTTP {code}.")

    def order_fulfillment(self, *, order_id: str) -> list[FulfillmentOrder] | None:
        """The fulfillment orders of Shopify order `order_id` (numeric), each with its
        fulfillments and their tracking numbers; None when the shop has no such order."""
        data = self.graphql(ORDER_FULFILLMENT_QUERY, {"id": order_gid(order_id)})
        return fulfillment_orders_from(data)

    def fulfillment_create(
        self,
        *,
        fulfillment_order_ids: list[str],
        tracking: TrackingInfo | None,
        notify_customer: bool,
        line_items: dict[str, int] | None = None,
    ) -> str:
        """Fulfil every line of the fulfillment orders, with `tracking`; or, given
        `line_items` ({fulfillment order line item id: quantity}, of the one fulfillment
        order named), only those quantities: the rest stays open (a partial fulfillment).
        Returns the new fulfillment's id."""
        fulfillment: dict[str, Any] = {
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": identifier} for identifier in fulfillment_order_ids
            ],
            "notifyCustomer": notify_customer,
        }
        if line_items is not None:
            if len(fulfillment_order_ids) != 1:
                raise ValueError("Line items belong to one fulfillment order.")
            fulfillment["lineItemsByFulfillmentOrder"][0]["fulfillmentOrderLineItems"] = [
                {"id": identifier, "quantity": quantity}
                for identifier, quantity in line_items.items()
            ]
        if tracking is not None:
            fulfillment["trackingInfo"] = tracking.as_input()
        data = self.graphql(FULFILLMENT_CREATE_MUTATION, {"fulfillment": fulfillment})
        return _mutation_result(data, "fulfillmentCreate")

    def tracking_update(
        self, *, fulfillment_id: str, tracking: TrackingInfo, notify_customer: bool
    ) -> str:
        """Give an existing fulfillment (fulfilled in Shopify without tracking) `tracking`."""
        data = self.graphql(
            TRACKING_UPDATE_MUTATION,
            {
                "fulfillmentId": fulfillment_id,
                "trackingInfoInput": tracking.as_input(),
                "notifyCustomer": notify_customer,
            },
        )
        return _mutation_result(data, "fulfillmentTrackingInfoUpdate")

    def locations(self) -> list[Location]:
        """The shop's locations (the first 250), in Shopify's order."""
        data = self.graphql(LOCATIONS_QUERY, {"first": 250})
        found = []
        for node in _nodes(data.get("locations")):
            if node.get("id"):
                found.append(
                    Location(
                        id=str(node["id"]),
                        name=str(node.get("name") or ""),
                        active=bool(node.get("isActive", True)),
                    )
                )
        return found

    def inventory_items_by_sku(self, skus: list[str]) -> dict[str, str]:
        """The inventory item id of each SKU the shop has a variant for (SKUs it has not
        are absent), searched `MAX_SKUS_PER_SEARCH` at a time. Shopify's search may match
        more loosely than the SKU: only an exact match counts; a SKU on several variants
        takes the first."""
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(skus))
        for start in range(0, len(wanted), MAX_SKUS_PER_SEARCH):
            chunk = wanted[start : start + MAX_SKUS_PER_SEARCH]
            data = self.graphql(VARIANTS_BY_SKU_QUERY, {"first": 250, "query": sku_search(chunk)})
            chunk_set = set(chunk)
            for node in _nodes(data.get("productVariants")):
                sku = node.get("sku")
                item = node.get("inventoryItem")
                if sku in chunk_set and isinstance(item, dict) and item.get("id"):
                    found.setdefault(str(sku), str(item["id"]))
        return found

    def inventory_set_quantities(
        self, *, location_id: str, quantities: list[tuple[str, int]]
    ) -> list[QuantityError]:
        """Set the "available" quantity of each (inventory item id, quantity) at the location
        (at most MAX_SET_QUANTITIES). Shopify applies all or none: a non-empty answer (the
        userErrors, each with the index of the quantity it names when it names one) means
        nothing was set. The quantities are absolute, so sending them again is harmless."""
        if len(quantities) > MAX_SET_QUANTITIES:
            raise ValueError(f"at most {MAX_SET_QUANTITIES} quantities at once")
        data = self.graphql(
            INVENTORY_SET_QUANTITIES_MUTATION,
            {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    # pressrun passes on the warehouse's count, the source of truth: no
                    # compare-and-set against what the shop had.
                    "ignoreCompareQuantity": True,
                    "quantities": [
                        {"inventoryItemId": item, "locationId": location_id, "quantity": quantity}
                        for item, quantity in quantities
                    ],
                }
            },
        )
        payload = data.get("inventorySetQuantities")
        if not isinstance(payload, dict):
            raise ShopifyUnavailable("Shopify's answer had no inventorySetQuantities.")
        return [_quantity_error(error) for error in _list(payload.get("userErrors"))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _nodes(connection: Any) -> list[dict[str, Any]]:
    if not isinstance(connection, dict):
        return []
    return [node for node in _list(connection.get("nodes")) if isinstance(node, dict)]


def _messages(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)[:300]
    texts = [
        str(error.get("message", "")) if isinstance(error, dict) else str(error) for error in errors
    ]
    return "; ".join(text for text in texts if text)[:300] or "an error"


def _quantity_error(error: Any) -> QuantityError:
    """A userError's quantity index: its field is like ["input", "quantities", "3", …]."""
    if not isinstance(error, dict):
        return QuantityError(None, str(error)[:300])
    path = [str(part) for part in _list(error.get("field"))]
    index = None
    if "quantities" in path:
        position = path.index("quantities") + 1
        if position < len(path) and path[position].isdigit():
            index = int(path[position])
    return QuantityError(index, str(error.get("message") or "refused")[:300])


def _mutation_result(data: dict[str, Any], name: str) -> str:
    payload = data.get(name)
    if not isinstance(payload, dict):
        raise ShopifyUnavailable(f"Shopify's answer had no {name}.")
    errors = payload.get("userErrors") or []
    if errors:
        raise ShopifyRefused(f"Shopify refused {name}: {_messages(errors)}")
    fulfillment = payload.get("fulfillment")
    if not isinstance(fulfillment, dict) or not fulfillment.get("id"):
        raise ShopifyUnavailable(f"Shopify's {name} answer named no fulfillment.")
    return str(fulfillment["id"])
