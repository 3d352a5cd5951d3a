"""The cart rules, proved over real HTTP against the real `pressrun serve` and `pressrun worker`.

Each test opens its own publisher (through the CLI, like an operator), posts bodies and headers
shaped like the carts' own (tests/carts/*_payloads.py, the 1ShoppingCart emulator) and then
reads exactly what the installation wrote: the publisher's orders (lines, mode, mail method,
address, charge), its inbound deliveries (outcome, reason, webhook id) and its unmatched cart
products. What they prove:

- Shopify: with a webhook signing key saved, a wrong, missing or stale (body altered after
  signing) X-Shopify-Hmac-Sha256 is refused with 401, stored as `failed` without its webhook id
  and makes no order; the correctly signed delivery makes exactly one.
- A cart ID listed in two projects' eCommerce ID Strings (a bonus disc) orders both projects in
  one order; an ID listed once orders only its project (Shopify SKUs, SamCart product ids).
- Unmatched lines are skipped and recorded (cart id + title); an order with no matching line
  makes no order (`unmatched`); mapping the product from the publisher's dashboard ("Map and
  re-process", over HTTP) turns the kept delivery into its order exactly once.
- The publisher's shipping rules (is / starts with) pick the mail method for Shopify's
  shipping_lines and 1ShoppingCart's ShippingMethodName, before the keyword rule (priority /
  express), and the publisher's default applies when nothing matches.
- Shopify test mode (`"test": true` or `mode=test` in the URL) makes TEST orders, never billed.
- Concurrent duplicate deliveries (20 threads, the same webhook id, plus a second topic; the
  same 1ShoppingCart token 20 times) are all answered 2xx and make exactly one order.
- 1ShoppingCart API outages are retried (short delays: PRESSRUN_CART_RETRY_BASE_SECONDS=0.5 in
  tests/live.py) until the order is placed once; wrong API credentials make no order and send
  one plain-words email to the TSErrEM address, and after a fix a replay places the order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import http.cookiejar
import json
import random
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.carts.oneshoppingcart_emulator import API_KEY, MERCHANT_ID, Emulator, notification
from tests.carts.samcart_payloads import as_json
from tests.carts.samcart_payloads import notification as samcart_notification
from tests.carts.shopify_payloads import order_json, shopify_headers
from tests.e2e.test_customer_email_http import wait_for_email
from tests.live import Account, LiveService

pytestmark = pytest.mark.e2e

SETTLE_SECONDS = 30.0
HTTP_TIMEOUT = 30.0
SHOP_DOMAIN = "e2e-rules.myshopify.com"
# Shopify's invoices name the shop: "#2001@e2e-rules".
AT_SHOP = "@e2e-rules"

# The Shopify order builder's customer and address, as intake stores them.
BOB = {
    "name": "Bob Norman",
    "company": "",
    "address": "123 Amoebobacterium Street",
    "city": "Louisville",
    "state": "KY",
    "postal_code": "40202",
    "country": "US",
    "email": "bob.norman@example.com",
}
# The emulator's 1ShoppingCart shipping profile and client.
PAT = {
    "name": "Pat Jones",
    "company": "",
    "address": "500 Market Street, Suite 4",
    "city": "San Francisco",
    "state": "CA",
    "postal_code": "94105",
    "country": "US",
    "email": "pat.jones@example.com",
}

SETUP_HEAD = """
from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials, publisher_update_settings
from pressrun.carts.services import shipping_rule_create
publisher = Publisher.objects.get(id={publisher_id})
"""

# Waits in one process (no interpreter start per poll) until the publisher has at least
# `count` deliveries and none is pending, then prints everything the tests assert on.
STATE = """
import json, time
from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.carts.models import InboundDelivery, UnmatchedProduct
from pressrun.orders.models import Order

def snapshot():
    deliveries = [
        {{
            "id": d.id, "cart": d.cart, "topic": d.topic, "delivery_id": d.delivery_id,
            "key": d.external_key, "outcome": d.outcome, "reason": d.reason,
            "attempts": d.attempts, "test_requested": d.test_requested,
            "orders": sorted(o.id for o in d.orders.all()), "header_names": sorted(d.headers),
        }}
        for d in InboundDelivery.objects.filter(publisher_id={publisher_id}).order_by("id")
    ]
    orders = [
        {{
            "id": o.id, "source": o.source, "invoice": o.invoice, "external_ref": o.external_ref,
            "mode": o.mode, "status": o.status, "mail_method": o.mail_method,
            "name": o.name, "company": o.company, "address": o.address, "city": o.city,
            "state": o.state, "postal_code": o.postal_code, "country": o.country,
            "email": o.email, "charged": o.charged_at is not None,
            "lines": sorted([l.project_id, l.quantity] for l in o.lines.all()),
        }}
        for o in Order.objects.filter(publisher_id={publisher_id}).order_by("id")
    ]
    unmatched = [
        {{
            "id": u.id, "cart": u.cart, "ref": u.product_ref, "title": u.title,
            "times_seen": u.times_seen, "resolved": u.resolved_at is not None,
            "deliveries": sorted(d.id for d in u.deliveries.all()),
        }}
        for u in UnmatchedProduct.objects.filter(publisher_id={publisher_id}).order_by("id")
    ]
    charges = sorted(
        LedgerEntry.objects.filter(publisher_id={publisher_id}, order__isnull=False)
        .values_list("order_id", flat=True)
    )
    balance = str(Publisher.objects.get(id={publisher_id}).balance)
    return {{"deliveries": deliveries, "orders": orders, "unmatched": unmatched,
             "charged_orders": charges, "balance": balance}}

deadline = time.monotonic() + {timeout}
while True:
    state = snapshot()
    settled = len(state["deliveries"]) >= {count} and all(
        d["outcome"] != "pending" for d in state["deliveries"]
    )
    if settled or time.monotonic() > deadline:
        break
    time.sleep(0.2)
state["settled"] = settled
print(json.dumps(state))
"""


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """A publisher opened for one test: its projects (by title) and its cart URLs (by the
    label `pressrun carturls` prints, e.g. "Shopify (test mode)")."""

    account: Account
    project: dict[str, int]
    urls: dict[str, str]


def open_shop(service: LiveService, projects: dict[str, str], setup: str = "") -> Shop:
    """A publisher with $500 credit, one CD project per `projects` item (title → eCommerce ID
    String), and `setup` run in `pressrun shell` with `publisher` bound."""
    account = service.create_publisher(balance="500.00", projects=())
    ids = {}
    for title, ecommerce_ids in projects.items():
        args = ["createproject", "--publisher", str(account.id), "--title", title]
        args += ["--media", "cd", "--packaging", "sleeve", "--price", "4.50"]
        # Some shops list one SKU on two projects on purpose (a bonus disc): confirmed.
        args += ["--ecommerce-ids", ecommerce_ids, "--confirm-shared-ids"]
        ids[title] = int(service.setup(*args).strip())
    if setup:
        code = SETUP_HEAD.format(publisher_id=account.id) + setup + '\nprint("ok")\n'
        assert service.shell(code) == "ok"
    urls = {}
    for line in service.setup("carturls", "--publisher", str(account.id)).splitlines():
        label, printed = line.split(": ", 1)
        parts = urlsplit(printed)
        urls[label] = service.url(f"{parts.path}?{parts.query}")
    return Shop(account=account, project=ids, urls=urls)


def settle(service: LiveService, shop: Shop, deliveries: int) -> dict[str, Any]:
    """The publisher's state once `deliveries` deliveries are stored and none is pending."""
    code = STATE.format(publisher_id=shop.account.id, count=deliveries, timeout=SETTLE_SECONDS)
    state: dict[str, Any] = json.loads(service.shell(code, timeout=SETTLE_SECONDS + 60))
    assert state.pop("settled"), (state, service.logs())
    return state


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def shopify_http_headers(
    *,
    webhook_id: str,
    topic: str = "orders/fulfilled",
    signature: str | None = None,
) -> dict[str, str]:
    """Shopify's real headers (the builder's, turned from test-client names into HTTP ones:
    HTTP_X_SHOPIFY_TOPIC → X-Shopify-Topic), with a fresh event id per event."""
    meta = shopify_headers(
        webhook_id=webhook_id, topic=topic, shop=SHOP_DOMAIN, signature=signature
    )
    headers = {
        name.removeprefix("HTTP_").replace("_", "-").title(): value for name, value in meta.items()
    }
    headers["X-Shopify-Event-Id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{webhook_id}/{topic}"))
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = "Shopify-Captain-Hook"
    return headers


def sign(key: str, body: bytes) -> str:
    """X-Shopify-Hmac-Sha256 as Shopify computes it: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def shopify_order_id() -> str:
    """Above 2^53 (Shopify's ids are), unique per run."""
    return str(2**60 + random.randrange(10**12))


def one_shopping_cart_token() -> str:
    return str(uuid.uuid4().int % 10**9)


def without_ids(orders: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in order.items() if k != "id"} for order in orders]


class Dashboard:
    """The publisher's browser: cookies, CSRF tokens, forms posted over HTTP."""

    def __init__(self, service: LiveService, account: Account) -> None:
        self.service = service
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/sign-in")
        page = self.submit(page, "/sign-in", {"email": account.email, "password": account.password})
        assert "Sign out" in page or "sign-out" in page, page[:2000]

    def get(self, path: str) -> str:
        with self.opener.open(self.service.url(path), timeout=HTTP_TIMEOUT) as response:
            assert response.status == 200
            return str(response.read().decode())

    def submit(self, page: str, action: str, form: dict[str, str]) -> str:
        """POST `form` to `action` with the CSRF token of `page`; the page after redirects."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page[:2000]
        data = urlencode({"csrfmiddlewaretoken": html.unescape(token.group(1)), **form})
        request = urllib.request.Request(self.service.url(action), data=data.encode())
        with self.opener.open(request, timeout=HTTP_TIMEOUT) as response:
            assert response.status == 200
            return html.unescape(str(response.read().decode()))


# --- 1. Shopify signatures -----------------------------------------------------------------


def test_shopify_refuses_wrong_missing_and_stale_signatures_and_accepts_the_signed_one(
    live_service: LiveService,
) -> None:
    key = f"shpss_{uuid.uuid4().hex}"
    shop = open_shop(
        live_service,
        {"Greatest Hits (CD)": "{VTD234-100}"},
        f"publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key={key!r})",
    )
    url = shop.urls["Shopify"]
    # With the signing key saved, the URL printed is the spec's: no token, the HMAC alone
    # proves the sender.
    assert "token=" not in url
    ref = shopify_order_id()
    body = order_json(order_id=ref, name="#2001", skus=(("VTD234-100", 2, "Greatest Hits CD"),))
    webhook_id = f"sig-{ref}"
    altered = body.replace(b'"quantity": 2', b'"quantity": 200')
    assert altered != body

    forged = [
        # Signed with another key (e.g. the shop's old one).
        (body, sign(f"shpss_{uuid.uuid4().hex}", body), "Signature does not match."),
        (body, None, "Signature missing."),
        # Signed, then changed on the way: the signature is of the original body.
        (altered, sign(key, body), "Signature does not match."),
    ]
    for sent, signature, reason in forged:
        # Each forgery claims the genuine delivery's webhook id.
        headers = shopify_http_headers(webhook_id=webhook_id, signature=signature)
        assert post(url, sent, headers) == (401, reason + "\n")

    status, text = post(
        url, body, shopify_http_headers(webhook_id=webhook_id, signature=sign(key, body))
    )
    assert status == 200, text
    assert re.fullmatch(r"ok \d+\n", text), text

    # Nothing says who sent the forgeries: none was kept, only the signed delivery.
    state = settle(live_service, shop, deliveries=1)
    (order,) = state["orders"]
    project = shop.project["Greatest Hits (CD)"]
    assert without_ids(state["orders"]) == [
        {
            "source": "shopify",
            "invoice": "#2001" + AT_SHOP,
            "external_ref": ref,
            "mode": "prod",
            "status": "PROCESSING",
            "mail_method": "standard",
            **BOB,
            "charged": True,
            "lines": [[project, 2]],
        }
    ]
    rows = [
        (d["outcome"], d["reason"], d["delivery_id"], d["key"], d["orders"])
        for d in state["deliveries"]
    ]
    assert rows == [
        (
            "order_created",
            f"Order {order['id']}.",
            webhook_id,
            f"{SHOP_DOMAIN}:{ref}",
            [order["id"]],
        ),
    ]
    # Signatures are never kept with the delivery.
    for delivery in state["deliveries"]:
        assert not [n for n in delivery["header_names"] if "hmac" in n.lower()], delivery
    assert state["unmatched"] == []


# --- 2. Bonus discs ------------------------------------------------------------------------


def test_a_shopify_sku_listed_by_two_projects_orders_both_in_one_order(
    live_service: LiveService,
) -> None:
    shop = open_shop(
        live_service, {"Album (CD)": "<5000-A> <6000-B>", "Bonus (CD)": "<4000-C> <6000-B>"}
    )
    album, bonus = shop.project["Album (CD)"], shop.project["Bonus (CD)"]
    url = shop.urls["Shopify"]
    cases = [
        ("#3001", "6000-B", 2, [[album, 2], [bonus, 2]]),
        ("#3002", "5000-A", 1, [[album, 1]]),
        ("#3003", "4000-c", 3, [[bonus, 3]]),  # matching ignores letter case
    ]
    refs = {}
    for name, sku, quantity, _ in cases:
        refs[name] = shopify_order_id()
        body = order_json(order_id=refs[name], name=name, skus=((sku, quantity, "Album"),))
        headers = shopify_http_headers(webhook_id=f"bonus-{refs[name]}")
        assert post(url, body, headers)[0] == 200

    state = settle(live_service, shop, deliveries=3)
    assert [(o["invoice"], o["external_ref"], o["lines"]) for o in state["orders"]] == [
        (name + AT_SHOP, refs[name], sorted(lines)) for name, _, _, lines in cases
    ]
    assert [(d["outcome"], d["orders"]) for d in state["deliveries"]] == [
        ("order_created", [order["id"]]) for order in state["orders"]
    ]
    assert state["unmatched"] == []


def test_a_samcart_product_listed_by_two_projects_orders_both_in_one_order(
    live_service: LiveService,
) -> None:
    shop = open_shop(
        live_service, {"Album (CD)": "{294010}{298020}", "Bonus (CD)": "{300111}{298020}"}
    )
    album, bonus = shop.project["Album (CD)"], shop.project["Bonus (CD)"]
    headers = {"Content-Type": "application/json", "User-Agent": "SamCart"}
    cases = [
        ("5200001", "298020", 2, [[album, 2], [bonus, 2]]),
        ("5200002", "294010", 1, [[album, 1]]),
    ]
    for order_id, product_id, quantity, _ in cases:
        body = as_json(
            samcart_notification(order_id=order_id, product_id=product_id, quantity=quantity)
        )
        assert post(shop.urls["SamCart"], body, headers)[0] == 200

    state = settle(live_service, shop, deliveries=2)
    assert [(o["invoice"], o["source"], o["lines"]) for o in state["orders"]] == [
        (order_id, "samcart", sorted(lines)) for order_id, _, _, lines in cases
    ]
    assert [(d["key"], d["outcome"], d["orders"]) for d in state["deliveries"]] == [
        (order["invoice"], "order_created", [order["id"]]) for order in state["orders"]
    ]


# --- 3. Unmatched lines, then the dashboard's "Map and re-process" ------------------------


def test_unmatched_lines_are_skipped_recorded_and_mapped_from_the_dashboard(
    live_service: LiveService,
) -> None:
    shop = open_shop(live_service, {"Greatest Hits (CD)": "{VTD234-100}"})
    project = shop.project["Greatest Hits (CD)"]
    url = shop.urls["Shopify"]
    mixed_ref, poster_ref = shopify_order_id(), shopify_order_id()
    mixed = order_json(
        order_id=mixed_ref,
        name="#4001",
        skus=(("VTD234-100", 1, "Greatest Hits CD"), ("TSHIRT-XL", 1, "Band T-shirt")),
    )
    poster = order_json(order_id=poster_ref, name="#4002", skus=(("POSTER-1", 2, "Tour Poster"),))
    assert post(url, mixed, shopify_http_headers(webhook_id=f"um-{mixed_ref}"))[0] == 200
    assert post(url, poster, shopify_http_headers(webhook_id=f"um-{poster_ref}"))[0] == 200

    state = settle(live_service, shop, deliveries=2)
    (first,) = state["orders"]
    assert (first["invoice"], first["lines"]) == ("#4001" + AT_SHOP, [[project, 1]])
    kept_mixed, kept_poster = state["deliveries"]
    assert (kept_mixed["outcome"], kept_mixed["reason"], kept_mixed["orders"]) == (
        "order_created",
        f"Order {first['id']}. Skipped lines: SKU 'TSHIRT-XL' (Band T-shirt)",
        [first["id"]],
    )
    assert (kept_poster["outcome"], kept_poster["reason"], kept_poster["orders"]) == (
        "unmatched",
        "No line matches a project. SKU 'POSTER-1' (Tour Poster)",
        [],
    )
    shirt, poster_product = state["unmatched"]
    assert [{k: v for k, v in u.items() if k != "id"} for u in state["unmatched"]] == [
        {
            "cart": "shopify",
            "ref": "TSHIRT-XL",
            "title": "Band T-shirt",
            "times_seen": 1,
            "resolved": False,
            "deliveries": [kept_mixed["id"]],
        },
        {
            "cart": "shopify",
            "ref": "POSTER-1",
            "title": "Tour Poster",
            "times_seen": 1,
            "resolved": False,
            "deliveries": [kept_poster["id"]],
        },
    ]

    # The publisher maps the poster to the project on the dashboard's Integrations page.
    browser = Dashboard(live_service, shop.account)
    page = browser.get("/integrations")
    assert "<code>POSTER-1</code>" in page
    assert "<code>TSHIRT-XL</code>" in page
    action = f"/integrations/unmatched/{poster_product['id']}/map"
    assert f'action="{action}"' in page
    after = browser.submit(page, action, {f"map-{poster_product['id']}-project": str(project)})
    assert (
        f"Shopify product 'POSTER-1' now orders project {project} (Greatest Hits (CD)). "
        "1 kept delivery queued to be processed again."
    ) in after

    state = settle(live_service, shop, deliveries=2)
    assert state["orders"][0]["id"] == first["id"]
    assert without_ids(state["orders"]) == [
        without_ids([first])[0],
        {
            "source": "shopify",
            "invoice": "#4002" + AT_SHOP,
            "external_ref": poster_ref,
            "mode": "prod",
            "status": "PROCESSING",
            "mail_method": "standard",
            **BOB,
            "charged": True,
            "lines": [[project, 2]],
        },
    ]
    second = state["orders"][1]
    assert [(d["outcome"], d["reason"], d["orders"]) for d in state["deliveries"]] == [
        (kept_mixed["outcome"], kept_mixed["reason"], [first["id"]]),
        ("order_created", f"Order {second['id']}.", [second["id"]]),
    ]
    assert [(u["ref"], u["resolved"], u["times_seen"]) for u in state["unmatched"]] == [
        ("TSHIRT-XL", False, 1),
        ("POSTER-1", True, 1),
    ]

    # Mapping the T-shirt re-processes nothing: its delivery already made order #4001.
    page = browser.get("/integrations")
    after = browser.submit(
        page,
        f"/integrations/unmatched/{shirt['id']}/map",
        {f"map-{shirt['id']}-project": str(project)},
    )
    assert "0 kept deliveries queued to be processed again." in after
    # Re-processing the poster again finds nothing left to queue.
    queued = live_service.shell(
        "from pressrun.accounts.models import Publisher\n"
        "from pressrun.carts.services import unmatched_reprocess\n"
        f"publisher = Publisher.objects.get(id={shop.account.id})\n"
        "print(unmatched_reprocess(publisher=publisher, "
        f"unmatched_product_id={poster_product['id']}))\n"
        "from pressrun.catalog.models import Project\n"
        f"print(Project.objects.get(id={project}).ecommerce_ids)\n"
    )
    assert queued.splitlines() == ["0", "{VTD234-100} <POSTER-1> <TSHIRT-XL>"]
    final = settle(live_service, shop, deliveries=2)
    assert final["orders"] == state["orders"]
    assert [d["outcome"] for d in final["deliveries"]] == ["order_created", "order_created"]


# --- 4. Shipping rules ---------------------------------------------------------------------

RULES = """
shipping_rule_create(publisher=publisher, match="starts_with", text="Free shipping",
                     mail_method="rtrackstandard")
shipping_rule_create(publisher=publisher, match="is", text="Next day", mail_method="express")
shipping_rule_create(publisher=publisher, match="is", text="Priority Letter",
                     mail_method="rtrackstandard")
"""


def test_shipping_rules_pick_the_mail_method_of_shopify_orders(live_service: LiveService) -> None:
    shop = open_shop(live_service, {"Greatest Hits (CD)": "{VTD234-100}"}, RULES)
    cases = [
        # (shipping_lines title, code, mail method)
        ("FREE SHIPPING (5-7 days)", "free", "rtrackstandard"),  # rule: starts with
        ("next  day", None, "express"),  # rule: is (spaces collapsed, any case)
        ("Priority Letter", "Priority Letter", "rtrackstandard"),  # a rule beats the keyword
        ("Next day air", "Standard", "standard"),  # "is" wants the whole text: default
        ("USPS Priority Mail", "usps-priority", "priority"),  # keyword rule
        ("EXPRESS", None, "express"),  # keyword rule
        ("Standard Shipping", "Standard", "standard"),  # publisher default
    ]
    invoices = {}
    for number, (title, code, _) in enumerate(cases):
        ref = shopify_order_id()
        invoices[ref] = f"#50{number:02d}"
        body = order_json(
            order_id=ref,
            name=invoices[ref],
            skus=(("VTD234-100", 1, "Greatest Hits CD"),),
            shipping_title=title,
            shipping_code=code,
        )
        headers = shopify_http_headers(webhook_id=f"ship-{ref}")
        assert post(shop.urls["Shopify"], body, headers)[0] == 200

    state = settle(live_service, shop, deliveries=len(cases))
    assert [d["outcome"] for d in state["deliveries"]] == ["order_created"] * len(cases)
    assert [(o["invoice"], o["mail_method"]) for o in state["orders"]] == [
        (f"#50{number:02d}{AT_SHOP}", method) for number, (_, _, method) in enumerate(cases)
    ]


def test_shipping_rules_pick_the_mail_method_of_oneshoppingcart_orders(
    live_service: LiveService, oneshoppingcart_api: Emulator
) -> None:
    sku = f"OSC-{uuid.uuid4().hex[:6]}"
    setup = RULES + (
        "publisher_set_cart_credentials(publisher=publisher, "
        f"oneshoppingcart_merchant_id={MERCHANT_ID!r}, oneshoppingcart_api_key={API_KEY!r})"
    )
    shop = open_shop(live_service, {"Greatest Hits (CD)": f"<{sku}>"}, setup)
    project = shop.project["Greatest Hits (CD)"]
    cases = [
        ("Free shipping to the US", "rtrackstandard"),
        ("NEXT DAY", "express"),
        ("Priority Letter", "rtrackstandard"),
        ("Priority Mail", "priority"),
        ("EXPRESS", "express"),
        ("USPS Priority Mail Express", "express"),
        # The spec: "By default, we ship standard first class + tracking".
        ("First Class Mail", "rtrackstandard"),
    ]
    tokens = []
    for method, _ in cases:
        token = one_shopping_cart_token()
        tokens.append(token)
        oneshoppingcart_api.add_order(
            token, lines=[(sku, 1, "Greatest Hits CD")], shipping_method=method
        )
        status, _ = post(
            shop.urls["1ShoppingCart"], notification(token), {"Content-Type": "text/xml"}
        )
        assert status == 200

    state = settle(live_service, shop, deliveries=len(cases))
    assert [d["outcome"] for d in state["deliveries"]] == ["order_created"] * len(cases)
    assert without_ids(state["orders"]) == [
        {
            "source": "1shoppingcart",
            "invoice": token,
            "external_ref": token,
            "mode": "prod",
            "status": "PROCESSING",
            "mail_method": method,
            **PAT,
            "charged": True,
            "lines": [[project, 1]],
        }
        for token, (_, method) in zip(tokens, cases, strict=True)
    ]


# --- 5. Shopify test mode ------------------------------------------------------------------


def test_shopify_test_orders_from_the_body_or_the_url_are_never_billed(
    live_service: LiveService,
) -> None:
    shop = open_shop(live_service, {"Greatest Hits (CD)": "{VTD234-100}"})
    project = shop.project["Greatest Hits (CD)"]
    by_body, by_url = shopify_order_id(), shopify_order_id()
    sends = [
        # Shopify's Bogus Gateway marks the order; the URL is the production one.
        (shop.urls["Shopify"], order_json(order_id=by_body, name="#6001", test=True)),
        # The publisher's test URL (mode=test); the order itself is a real one.
        (shop.urls["Shopify (test mode)"], order_json(order_id=by_url, name="#6002")),
    ]
    assert "mode=test" not in sends[0][0]
    assert "mode=test" in sends[1][0]
    for url, body in sends:
        assert post(url, body, shopify_http_headers(webhook_id=f"test-{uuid.uuid4()}"))[0] == 200

    state = settle(live_service, shop, deliveries=2)
    assert [
        (o["invoice"], o["external_ref"], o["mode"], o["status"], o["charged"], o["lines"])
        for o in state["orders"]
    ] == [
        ("#6001" + AT_SHOP, by_body, "test", "TEST", False, [[project, 1]]),
        ("#6002" + AT_SHOP, by_url, "test", "TEST", False, [[project, 1]]),
    ]
    assert [(d["outcome"], d["test_requested"]) for d in state["deliveries"]] == [
        ("order_created", False),
        ("order_created", True),
    ]
    assert (state["charged_orders"], state["balance"]) == ([], "500.00")


# --- 6. Concurrent duplicates --------------------------------------------------------------


def _post_all_at_once(sends: list[tuple[str, bytes, dict[str, str]]]) -> list[tuple[int, str]]:
    """POST every (url, body, headers) from its own thread, released together."""
    barrier = threading.Barrier(len(sends))
    replies: list[tuple[int, str]] = [(0, "")] * len(sends)

    def send(index: int) -> None:
        url, body, headers = sends[index]
        barrier.wait(timeout=HTTP_TIMEOUT)
        try:
            replies[index] = post(url, body, headers)
        except OSError as exc:  # a refused or reset connection is a failure too
            replies[index] = (-1, repr(exc))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT * 2)
    return replies


def test_concurrent_shopify_duplicates_and_a_second_topic_make_one_order(
    live_service: LiveService,
) -> None:
    shop = open_shop(
        live_service,
        {"Greatest Hits (CD)": "{VTD234-100}"},
        "publisher.shopify_topics = 'orders/paid,orders/create'\n"
        "publisher.save(update_fields=['shopify_topics'])",
    )
    project = shop.project["Greatest Hits (CD)"]
    url = shop.urls["Shopify"]
    ref = shopify_order_id()
    body = order_json(order_id=ref, name="#7001", skus=(("VTD234-100", 3, "Greatest Hits CD"),))
    created = shopify_http_headers(webhook_id=f"create-{ref}", topic="orders/create")
    paid = shopify_http_headers(webhook_id=f"paid-{ref}", topic="orders/paid")
    replies = _post_all_at_once([(url, body, created)] * 20 + [(url, body, paid)] * 2)

    assert all(status == 200 for status, _ in replies), replies
    matches = [re.fullmatch(r"ok (\d+)(?: \(repeat\))?\n", text) for _, text in replies]
    assert all(matches), replies
    create_ids = {match[1] for match in matches[:20] if match}
    assert len(create_ids) == 1, replies
    assert sum(1 for _, text in replies[:20] if "(repeat)" not in text) == 1, replies
    assert sum(1 for _, text in replies[20:] if "(repeat)" not in text) == 1, replies

    state = settle(live_service, shop, deliveries=2)
    (order,) = state["orders"]
    assert (order["invoice"], order["external_ref"], order["lines"]) == (
        "#7001" + AT_SHOP,
        ref,
        [[project, 3]],
    )
    assert state["charged_orders"] == [order["id"]]
    by_outcome = sorted((d["outcome"], d["delivery_id"], d["orders"]) for d in state["deliveries"])
    winner = next(d for d in state["deliveries"] if d["outcome"] == "order_created")
    loser = next(d for d in state["deliveries"] if d["outcome"] != "order_created")
    assert len(state["deliveries"]) == 2
    assert {winner["delivery_id"], loser["delivery_id"]} == {f"create-{ref}", f"paid-{ref}"}
    assert (loser["outcome"], loser["reason"], loser["orders"]) == (
        "duplicate",
        "This order was already imported.",
        [],
    ), by_outcome
    assert winner["orders"] == [order["id"]]


def test_concurrent_repeats_of_a_oneshoppingcart_notification_make_one_order(
    live_service: LiveService, oneshoppingcart_api: Emulator
) -> None:
    sku = f"OSC-{uuid.uuid4().hex[:6]}"
    shop = open_shop(
        live_service,
        {"Greatest Hits (CD)": f"<{sku}>"},
        "publisher_set_cart_credentials(publisher=publisher, "
        f"oneshoppingcart_merchant_id={MERCHANT_ID!r}, oneshoppingcart_api_key={API_KEY!r})",
    )
    project = shop.project["Greatest Hits (CD)"]
    token = one_shopping_cart_token()
    oneshoppingcart_api.add_order(token, lines=[(sku, 2, "Greatest Hits CD")])
    sends = [(shop.urls["1ShoppingCart"], notification(token), {"Content-Type": "text/xml"})] * 20
    replies = _post_all_at_once(sends)

    assert all(status == 200 for status, _ in replies), replies
    assert len({text for _, text in replies}) == 20, replies  # each repeat is stored: ok <n>

    state = settle(live_service, shop, deliveries=20)
    (order,) = state["orders"]
    assert (order["invoice"], order["mail_method"], order["lines"]) == (
        token,
        "rtrackstandard",
        [[project, 2]],
    )
    outcomes = sorted((d["outcome"], d["reason"]) for d in state["deliveries"])
    assert outcomes == [("duplicate", "This order was already imported.")] * 19 + [
        ("order_created", f"Order {order['id']}.")
    ]
    # Repeats are recognised before the API is asked again.
    orders_read = [p for _, p in oneshoppingcart_api.requests if p.endswith(f"/Orders/{token}")]
    assert len(orders_read) == 1, orders_read


# --- 7. 1ShoppingCart API failures ---------------------------------------------------------


def test_a_oneshoppingcart_outage_is_retried_until_the_order_is_placed_once(
    live_service: LiveService, oneshoppingcart_api: Emulator
) -> None:
    sku = f"OSC-{uuid.uuid4().hex[:6]}"
    shop = open_shop(
        live_service,
        {"Greatest Hits (CD)": f"<{sku}>"},
        "publisher_set_cart_credentials(publisher=publisher, "
        f"oneshoppingcart_merchant_id={MERCHANT_ID!r}, oneshoppingcart_api_key={API_KEY!r})",
    )
    project = shop.project["Greatest Hits (CD)"]
    token = one_shopping_cart_token()
    oneshoppingcart_api.add_order(token, lines=[(sku, 1, "Greatest Hits CD")])
    # Three failed attempts: 503, 503, a maintenance page instead of the XML; the 4th works.
    oneshoppingcart_api.fail_next(2, "503")
    oneshoppingcart_api.fail_next(1, "html")
    url = shop.urls["1ShoppingCart (test mode, errors emailed)"]
    assert post(url, notification(token), {"Content-Type": "text/xml"})[0] == 200

    state = settle(live_service, shop, deliveries=1)
    (order,) = state["orders"]
    assert without_ids(state["orders"]) == [
        {
            "source": "1shoppingcart",
            "invoice": token,
            "external_ref": token,
            "mode": "test",
            "status": "TEST",
            "mail_method": "rtrackstandard",
            **PAT,
            "charged": False,
            "lines": [[project, 1]],
        }
    ]
    (delivery,) = state["deliveries"]
    assert (delivery["outcome"], delivery["reason"], delivery["attempts"], delivery["orders"]) == (
        "order_created",
        f"Order {order['id']}.",
        4,
        [order["id"]],
    )
    assert oneshoppingcart_api.failures == []


def test_wrong_oneshoppingcart_credentials_email_the_error_address_and_make_no_order(
    live_service: LiveService, oneshoppingcart_api: Emulator
) -> None:
    sku = f"OSC-{uuid.uuid4().hex[:6]}"
    wrong_key = "0000" + uuid.uuid4().hex[:28].upper()
    errors_to = f"{live_service.unique('errors').lower()}@example.com"
    shop = open_shop(
        live_service,
        {"Greatest Hits (CD)": f"<{sku}>"},
        "publisher_set_cart_credentials(publisher=publisher, "
        f"oneshoppingcart_merchant_id={MERCHANT_ID!r}, oneshoppingcart_api_key={wrong_key!r})\n"
        f"publisher.error_email = {errors_to!r}\n"
        "publisher.save(update_fields=['error_email'])",
    )
    project = shop.project["Greatest Hits (CD)"]
    url = shop.urls["1ShoppingCart (test mode, errors emailed)"]
    assert "TSErrEM=" + errors_to.replace("@", "%40") in url
    token = one_shopping_cart_token()
    oneshoppingcart_api.add_order(token, lines=[(sku, 1, "Greatest Hits CD")])
    assert post(url, notification(token), {"Content-Type": "text/xml"})[0] == 200

    state = settle(live_service, shop, deliveries=1)
    assert state["orders"] == []
    (delivery,) = state["deliveries"]
    reason = (
        f"1ShoppingCart refused to give order {token}: Invalid Merchant ID or API Key. Check "
        "that the Merchant ID and API key in pressrun's settings match 1ShoppingCart's API "
        "Settings (the API needs the Professional plan), then replay this delivery."
    )
    # A refusal is not retried: one attempt.
    assert (delivery["outcome"], delivery["reason"], delivery["attempts"]) == ("failed", reason, 1)

    message = wait_for_email(live_service.data_dir / "mail", errors_to)
    assert str(message["Subject"]) == f"1ShoppingCart order {token} was not placed"
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert text.startswith(
        "pressrun received 1ShoppingCart's notification but could not place the order.\n\n" + reason
    ), text
    assert f"Publisher ID: {shop.account.id}" in text
    assert wrong_key not in text
    assert "Traceback" not in text

    # The publisher copies the right key and replays the delivery: the order is placed once.
    replayed = live_service.shell(
        SETUP_HEAD.format(publisher_id=shop.account.id)
        + "publisher_set_cart_credentials(publisher=publisher, "
        f"oneshoppingcart_api_key={API_KEY!r})\n"
        "from pressrun.carts.services import delivery_replay\n"
        f"print(delivery_replay(delivery_id={delivery['id']}))\n"
    )
    assert replayed == "True"
    state = settle(live_service, shop, deliveries=1)
    (order,) = state["orders"]
    assert (order["invoice"], order["mode"], order["lines"]) == (token, "test", [[project, 1]])
    (delivery,) = state["deliveries"]
    assert (delivery["outcome"], delivery["reason"]) == ("order_created", f"Order {order['id']}.")
