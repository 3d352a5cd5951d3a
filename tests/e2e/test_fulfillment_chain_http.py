"""The whole physical chain with the real `pressrun serve` and `pressrun worker` processes,
everything done over HTTP the way the outside world does it.

1. A publisher created with the CLI (postage delay 0) saves its Shopify signing key and Admin
   API access token on the dashboard; a gateway order and a signed Shopify webhook's order
   are both paid from the balance.
2. The worker's window task makes them ready and its address check passes them; an operator
   signs in, batches both on the floor, downloads the batch's PDF (its text is checked) and
   marks them packed.
3. A shipping station created with `pressrun createwarehouse --after-packing` pulls them in
   the Custom Store XML (HTTP Basic) and posts a ShipNotice for each.
4. The gateway's status call answers SHIPPED with ShipDate and TrackingID, the tracking
   emails are written, and the Shopify Admin API emulator received one correct
   `fulfillmentCreate` for the Shopify order; the gateway order is posted nowhere.

The second test runs the chain with an address error: the worker's check stops the order
(ERROR / 10), the customer corrects the address through the reopened link of the email, and
the order is checked again, exported, shipped and reported SHIPPED.

On SQLite, and on PostgreSQL when PRESSRUN_DATABASE_URL is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.cookiejar
import io
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pypdf
import pytest

from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.carts.shopify_payloads import order_json
from tests.e2e.test_customer_email_http import SEPARATOR
from tests.e2e.test_gateway_http import STATUS, place, sections, send, status_fields
from tests.e2e.test_shipstation_http import call
from tests.live import PRESSRUN, Account, LiveService, running_service

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0
COMPANY = "Chain Records"
SHOP = "e2e-chain"
ADMIN_TOKEN = "shpat_c4a1ec4a1ec4a1ec4a1ec4a1ec4a1ec4"
SIGNING_KEY = "shpss_5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f"
SHOPIFY_ORDER_ID = "820982911946154599"
OPERATOR = "floor-lead"
OPERATOR_PASSWORD = "pack them well 2026"
PROBLEM = "ZIP code 55401 is not in Texas (TX); check the state and the ZIP code."


@pytest.fixture(scope="module")
def chain(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveService, ShopifyAdminEmulator]]:
    """A service of its own whose worker posts Shopify tracking to the emulator, with one
    operator created as an installation's first one is (`createsuperuser --noinput`)."""
    with shopify_admin_api(tokens={SHOP: ADMIN_TOKEN}) as emulator:
        data_dir = tmp_path_factory.mktemp("pressrun-chain")
        admin_api = emulator.base_url + "/{shop}"
        with running_service(data_dir, PRESSRUN_SHOPIFY_ADMIN_API_BASE=admin_api) as service:
            created = subprocess.run(
                [
                    *(str(PRESSRUN), "createsuperuser", "--noinput"),
                    *("--username", OPERATOR, "--email", "floor@example.com"),
                ],
                env={**service.env, "DJANGO_SUPERUSER_PASSWORD": OPERATOR_PASSWORD},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert created.returncode == 0, created.stderr
            assert created.stdout == "Superuser created successfully.\n"
            yield service, emulator


# --- A browser: cookies, the forms of a page, posted with what a browser sends -------------


@dataclass
class Form:
    action: str
    id: str
    fields: list[tuple[str, str]] = field(default_factory=list)

    def filled(self, **changes: str | list[str]) -> list[tuple[str, str]]:
        """The fields a browser posts with `changes` typed in (a list: boxes ticked)."""
        kept = [(name, value) for name, value in self.fields if name not in changes]
        for name, change in changes.items():
            values = change if isinstance(change, list) else [change]
            kept += [(name, value) for value in values]
        return kept


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._open: Form | None = None
        self._select: tuple[Form, str, list[tuple[str, bool]]] | None = None
        self._textarea: tuple[Form, str, list[str]] | None = None

    def _owner(self, attrs: dict[str, str]) -> Form | None:
        if "form" in attrs:
            return next((form for form in self.forms if form.id == attrs["form"]), None)
        return self._open

    def handle_starttag(self, tag: str, raw: list[tuple[str, str | None]]) -> None:
        attrs = {name: value or "" for name, value in raw}
        if tag == "form":
            self._open = Form(action=attrs.get("action", ""), id=attrs.get("id", ""))
            self.forms.append(self._open)
            return
        owner = self._owner(attrs)
        name = attrs.get("name", "")
        if owner is None or (not name and tag != "option"):
            return
        if tag == "input":
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            owner.fields.append((name, attrs.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select = (owner, name, [])
        elif tag == "option" and self._select is not None:
            self._select[2].append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea":
            self._textarea = (owner, name, [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        elif tag == "select" and self._select is not None:
            form, name, options = self._select
            chosen = [value for value, selected in options if selected] or [
                value for value, _ in options[:1]
            ]
            form.fields += [(name, value) for value in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            form, name, text = self._textarea
            form.fields.append((name, "".join(text).removeprefix("\n")))
            self._textarea = None


@dataclass
class Page:
    url: str
    status: int
    text: str

    def forms(self) -> list[Form]:
        parser = _FormParser()
        parser.feed(self.text)
        return parser.forms

    def form(self, action: str, having: dict[str, str] | None = None) -> Form:
        """The one form that posts to `action` (a path; "" for the page itself) and holds
        the fields `having` (e.g. the hidden order number of a row's button)."""
        found = [
            form
            for form in self.forms()
            if urlsplit(urljoin(self.url, form.action)).path
            == urlsplit(urljoin(self.url, action)).path
            and set((having or {}).items()) <= set(form.fields)
        ]
        assert len(found) == 1, (action, [form.action for form in self.forms()], self.text[:3000])
        return found[0]


class Browser:
    def __init__(self, service: LiveService) -> None:
        self.service = service
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def _open(self, request: urllib.request.Request | str) -> tuple[str, int, bytes]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.geturl(), response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.geturl(), error.code, error.read()

    def get(self, path_or_url: str) -> Page:
        url, status, body = self._open(urljoin(self.service.base_url, path_or_url))
        return Page(url, status, body.decode())

    def download(self, path: str) -> tuple[int, str, bytes]:
        request = urllib.request.Request(self.service.url(path))
        with self.opener.open(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()

    def submit(
        self,
        page: Page,
        action: str,
        having: dict[str, str] | None = None,
        **changes: str | list[str],
    ) -> Page:
        """Post the form of `page` that goes to `action` (and holds `having`), as a browser
        does (its hidden fields, CSRF token included, and what is shown in it), with
        `changes` typed in."""
        form = page.form(action, having)
        target = urljoin(page.url, form.action)
        data = urlencode(form.filled(**changes)).encode()
        url, status, body = self._open(urllib.request.Request(target, data=data, method="POST"))
        return Page(url, status, body.decode())


def status_message(page: Page) -> list[str]:
    """The messages the page shows after a redirect (role="status")."""
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()
        for text in re.findall(r'role="status"[^>]*>(.*?)</', page.text, re.S)
    ]


# --- Waiting ---------------------------------------------------------------------------------


def wait_for(happened: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> Any:
    """Poll until `happened()` returns something true; return it."""
    deadline = time.monotonic() + seconds
    while True:
        result = happened()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.3)


ORDER_FACTS = """
import json
from pressrun.orders.models import Order
o = Order.objects.get(id={order_id})
print(json.dumps([o.status, o.fulfillment_state, o.address_check_note, str(o.total_cost),
    str(o.charged_at is not None), f"{{o.address_changes_until:%Y-%m-%d %H:%M}}"]))
"""

HISTORY = """
import json
from pressrun.orders.models import OrderEvent
print(json.dumps([[e.from_state, e.to_state, e.actor, e.message] for e in
    OrderEvent.objects.filter(order_id={order_id}, kind="fulfillment").order_by("at", "id")]))
"""


def facts(service: LiveService, order_id: str) -> list[str]:
    result: list[str] = json.loads(service.shell(ORDER_FACTS.format(order_id=int(order_id))))
    return result


def history(service: LiveService, order_id: str) -> list[list[str]]:
    result: list[list[str]] = json.loads(service.shell(HISTORY.format(order_id=int(order_id))))
    return result


def checked_and_ready(service: LiveService, order_id: str) -> bool:
    found = facts(service, order_id)
    return found[1] == "ready" and found[2] == "Offline check passed."


def emails(mail_dir: Path) -> list[EmailMessage]:
    """Every email the service has written (the file backend), oldest first."""
    found = []
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.is_dir() else []:
        for raw in path.read_bytes().split(SEPARATOR):
            if raw.strip():
                message = message_from_bytes(raw.lstrip(b"\n"), policy=policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
    return found


def email_to(service: LiveService, recipient: str, subject: str) -> EmailMessage | None:
    matching = [
        message
        for message in emails(service.data_dir / "mail")
        if str(message["To"]) == recipient and str(message["Subject"]) == subject
    ]
    assert len(matching) <= 1, [str(m["Subject"]) for m in matching]
    return matching[0] if matching else None


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


# --- The outside world's calls -----------------------------------------------------------


def new_publisher(service: LiveService) -> Account:
    """A publisher created by an operator on the server: company, no postage delay."""
    email = f"{service.unique('chain').lower()}@example.com"
    password = "chain publisher pw 77"
    publisher_id = int(
        service.setup(
            *("createpublisher", "--email", email, "--password", password),
            *("--company", COMPANY, "--postage-delay-hours", "0"),
        ).strip()
    )
    project_id = int(
        service.setup(
            *("createproject", "--publisher", str(publisher_id), "--title", "Road Songs"),
            *("--media", "cd", "--packaging", "sleeve", "--price", "4.50"),
        ).strip()
    )
    output = service.setup("addcredit", "--publisher", str(publisher_id), "--amount", "100.00")
    assert output.startswith("Credited $100.00"), output
    return Account(publisher_id, email, password, (project_id,))


def dashboard(service: LiveService, account: Account) -> Browser:
    browser = Browser(service)
    page = browser.submit(
        browser.get("/sign-in"), "/sign-in", email=account.email, password=account.password
    )
    assert page.url == service.url("/home"), page.text[:2000]
    return browser


def operator(service: LiveService) -> Browser:
    browser = Browser(service)
    page = browser.get("/operator/floor/")
    assert urlsplit(page.url).path == "/admin/login/", page.url
    page = browser.submit(page, "", username=OPERATOR, password=OPERATOR_PASSWORD)
    assert page.url == service.url("/operator/floor/"), page.text[:2000]
    return browser


def shopify_webhook(service: LiveService, account: Account, body: bytes) -> int:
    """Shopify's `orders/paid` webhook, signed, to the URL pressrun prints for the shop."""
    printed = service.pressrun("carturls", "--publisher", str(account.id)).splitlines()[0]
    assert printed == f"Shopify: {service.url(f'/carts/shopify?idpub={account.id}')}", printed
    signature = base64.b64encode(
        hmac.new(SIGNING_KEY.encode(), body, hashlib.sha256).digest()
    ).decode()
    request = urllib.request.Request(
        printed.split(": ", 1)[1],
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Shop-Domain": f"{SHOP}.myshopify.com",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-API-Version": "2025-07",
            "X-Shopify-Hmac-Sha256": signature,
            "User-Agent": "Shopify-Captain-Hook",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


@dataclass(frozen=True)
class Station:
    id: str
    username: str
    password: str


def create_station(service: LiveService, name: str, *after_packing: str) -> Station:
    output = service.pressrun("createwarehouse", "--name", name, *after_packing).strip()
    match = re.fullmatch(r"id=(\d+) username=(\S+) password=(\S+)", output)
    assert match, output
    return Station(*match.groups())


def export(service: LiveService, station: Station) -> dict[str, ET.Element]:
    """Every order the station is offered now (all pages of the last ten minutes), by id."""
    now = datetime.now(UTC)
    window = {
        "action": "export",
        "start_date": (now - timedelta(minutes=10)).strftime("%m/%d/%Y %H:%M"),
        "end_date": (now + timedelta(minutes=1)).strftime("%m/%d/%Y %H:%M"),
    }
    found: dict[str, ET.Element] = {}
    page, pages = 1, 1
    while page <= pages:
        status, headers, body = call(
            service,
            {**window, "page": str(page)},
            username=station.username,
            password=station.password,
        )
        assert (status, headers["content-type"]) == (200, "application/xml; charset=utf-8"), body
        root = ET.fromstring(body)
        assert root.tag == "Orders"
        pages = int(root.attrib["pages"])
        for element in root:
            found[element.findtext("OrderID") or ""] = element
        page += 1
    return found


def exported(service: LiveService, station: Station, *order_ids: str) -> dict[str, ET.Element]:
    """Poll the export, as ShipStation does, until it offers every one of `order_ids`."""

    def offered() -> dict[str, ET.Element] | None:
        found = export(service, station)
        return found if all(order_id in found for order_id in order_ids) else None

    result: dict[str, ET.Element] = wait_for(offered, f"orders {order_ids} in the export")
    return result


def ship_notice(
    service: LiveService,
    station: Station,
    *,
    order_id: str,
    order_number: str,
    carrier: str,
    service_name: str,
    tracking: str,
    cost: str,
) -> tuple[int, str]:
    today = datetime.now(UTC).strftime("%m/%d/%Y")
    notice = (
        '<?xml version="1.0" encoding="utf-8"?>\n<ShipNotice>'
        f"<OrderNumber>{order_number}</OrderNumber><OrderID>{order_id}</OrderID>"
        "<CustomerCode>buyer</CustomerCode><LabelCreateDate>"
        f"{today} 09:30</LabelCreateDate><ShipDate>{today}</ShipDate>"
        f"<Carrier>{carrier}</Carrier><Service>{service_name}</Service>"
        f"<TrackingNumber>{tracking}</TrackingNumber><ShippingCost>{cost}</ShippingCost>"
        "</ShipNotice>"
    ).encode()
    query = {
        "action": "shipnotify",
        "order_number": order_number,
        "carrier": carrier,
        "service": "",
        "tracking_number": tracking,
    }
    status, _, body = call(
        service, query, username=station.username, password=station.password, body=notice
    )
    return status, body.decode()


def gateway_status(service: LiveService, account: Account, invoice: str) -> dict[str, str]:
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    return section


def pdf_lines(pdf: bytes) -> list[list[str]]:
    assert pdf.startswith(b"%PDF-")
    return [
        [line.strip() for line in page.extract_text().splitlines() if line.strip()]
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    ]


def test_a_gateway_order_and_a_shopify_order_from_payment_to_tracking(
    chain: tuple[LiveService, ShopifyAdminEmulator],
) -> None:
    service, shopify = chain
    account = new_publisher(service)
    gid = shopify.add_order(SHOPIFY_ORDER_ID)
    (project_id,) = account.project_ids

    # The publisher saves the shop's signing key and Admin API token on the dashboard, asks
    # Shopify to notify its customer too, and has paid Shopify orders made.
    publisher = dashboard(service, account)
    page = publisher.get("/settings")
    saved = publisher.submit(
        page,
        "/settings/carts",
        shopify_webhook_key=SIGNING_KEY,
        shopify_admin_token=ADMIN_TOKEN,
        shopify_notify_customer="on",
    )
    assert "Your cart credentials are saved." in status_message(saved), saved.text[:3000]
    saved = publisher.submit(saved, "/settings", shopify_topics=["orders/paid"])
    assert status_message(saved) == ["Your settings are saved."], saved.text[:3000]

    # 1. A gateway order and a Shopify order, both paid from the balance.
    invoice = service.unique("CHAIN")
    gateway_customer = f"{service.unique('gw').lower()}@example.com"
    gateway_id = place(
        service,
        account,
        invoice,
        quantity="2",
        email=gateway_customer,
        SpecialText="Thank you for listening.",
        nprice="12.50",
    )
    shopify_customer = f"{service.unique('shop').lower()}@example.com"
    body = order_json(
        order_id=SHOPIFY_ORDER_ID,
        name="#1001",
        skus=((str(project_id), 1, "Road Songs"),),
        email=shopify_customer,
    )
    assert shopify_webhook(service, account, body) == 200
    shopify_invoice = f"#1001@{SHOP}"
    shopify_id = wait_for(
        lambda: service.shell(
            "from pressrun.orders.models import Order\n"
            f"o = Order.objects.filter(source='shopify', external_ref={SHOPIFY_ORDER_ID!r})"
            ".first()\n"
            "print('' if o is None else o.id)"
        ),
        "the order of the Shopify webhook",
    )
    for order_invoice in (invoice, shopify_invoice):
        section = gateway_status(service, account, order_invoice)
        assert (section["OrderStatus"], section["OrderStatusErrNum"]) == ("PROCESSING", "0")
    # Charged at once from the default price list: 2 x $4.50 + standard+tracking ($4.50 +
    # $0.75 for the second unit), and $4.50 + standard ($1.50) for the Shopify order.
    gateway_facts, shopify_facts = facts(service, gateway_id), facts(service, shopify_id)
    assert (gateway_facts[0], gateway_facts[3], gateway_facts[4]) == ("PROCESSING", "14.25", "True")
    assert (shopify_facts[0], shopify_facts[3], shopify_facts[4]) == ("PROCESSING", "6.00", "True")
    balance = service.shell(
        "from pressrun.accounts.models import Publisher\n"
        f"print(Publisher.objects.get(id={account.id}).balance)"
    )
    assert balance == "79.75"

    # 2. The window (0 hours) passes and the worker's address check passes both.
    for order_id in (gateway_id, shopify_id):
        wait_for(lambda order_id=order_id: checked_and_ready(service, order_id), "ready, checked")

    floor = operator(service)
    queue = floor.get("/operator/floor/")
    listed = re.findall(r'name="order" value="(\d+)" form="batch-cd-sleeve"', queue.text)
    assert listed == [gateway_id, shopify_id]
    # A station that ships only packed orders is offered neither while they are ready...
    station = create_station(service, "Chain ShipStation", "--after-packing")
    assert {gateway_id, shopify_id}.isdisjoint(export(service, station))

    batch_page = floor.submit(queue, "/operator/floor/batches/new", order=listed)
    batch_match = re.fullmatch(r"http://[^/]+/operator/floor/batches/(\d+)", batch_page.url)
    assert batch_match, batch_page.url
    batch = batch_match.group(1)
    assert status_message(batch_page) == [f"Batch {batch}: 2 orders in production."]
    # ... nor while they are in production.
    assert {gateway_id, shopify_id}.isdisjoint(export(service, station))

    status, content_type, pdf = floor.download(f"/operator/floor/batches/{batch}/pdf")
    assert (status, content_type) == (200, "application/pdf")
    pick, gateway_slip, shopify_slip = pdf_lines(pdf)
    assert pick[:2] == [f"Batch {batch} · pick list", "CD sleeve · 2 orders · 3 units"]
    minute = r"\d{4}-\d\d-\d\d \d\d:\d\d"
    assert re.fullmatch(rf"Created {minute} UTC by {OPERATOR} · printed {minute} UTC", pick[2])
    assert pick[3:] == [
        *("Project", "Title", "Media", "Units", "Orders"),
        *(str(project_id), "Road Songs", "CD sleeve", "3", "2"),
        f"Orders, in packing order: {gateway_id}, {shopify_id}",
    ]
    assert gateway_slip == [
        f"Packing slip · order {gateway_id} · invoice {invoice}",
        f"Batch {batch} · Standard + tracking",
        f"From: {COMPANY}",
        "Ship to",
        "John H. Smith",
        "123 Some Street, Apt 12",
        "Minneapolis, MN 55401",
        "United States",
        "Items",
        *("Qty", "Title", "Media", "Project"),
        *("2", "Road Songs", "CD sleeve", str(project_id)),
        "Special text",
        "Thank you for listening.",
        "You've already paid $12.50 for this order.",
    ]
    assert shopify_slip == [
        f"Packing slip · order {shopify_id} · invoice {shopify_invoice}",
        f"Batch {batch} · Standard",
        f"From: {COMPANY}",
        "Ship to",
        "Bob Norman",
        "123 Amoebobacterium Street",
        "Louisville, KY 40202",
        "United States",
        "Items",
        *("Qty", "Title", "Media", "Project"),
        *("1", "Road Songs", "CD sleeve", str(project_id)),
    ]

    # 3. Packed: one from the batch's page, the other from its order page.
    packed = floor.submit(
        batch_page, f"/operator/floor/batches/{batch}/packed", having={"order": gateway_id}
    )
    assert status_message(packed) == [f"Order {gateway_id} is packed."]
    order_page = floor.get(f"/operator/floor/orders/{shopify_id}")
    packed = floor.submit(order_page, f"/operator/floor/orders/{shopify_id}/packed")
    assert status_message(packed) == [f"Order {shopify_id} is packed."]

    offered = exported(service, station, gateway_id, shopify_id)
    gateway_xml, shopify_xml = offered[gateway_id], offered[shopify_id]
    assert [
        gateway_xml.findtext(name)
        for name in ("OrderNumber", "OrderStatus", "ShippingMethod", "Customer/ShipTo/Name")
    ] == [invoice, "packed", "standard+tracking", "John H. Smith"]
    assert [
        shopify_xml.findtext(name)
        for name in ("OrderNumber", "OrderStatus", "ShippingMethod", "Customer/ShipTo/Name")
    ] == [shopify_invoice, "packed", "standard", "Bob Norman"]
    for element, quantity in ((gateway_xml, "2"), (shopify_xml, "1")):
        assert [
            (item.findtext("SKU"), item.findtext("Name"), item.findtext("Quantity"))
            for item in element.iter("Item")
        ] == [(str(project_id), "Road Songs", quantity)]

    shipments = {
        gateway_id: (invoice, "USPS", "First Class Mail", "9400111899560000000123", "4.01"),
        shopify_id: (shopify_invoice, "UPS", "UPS Ground", "1Z999AA10123456784", "9.35"),
    }
    for order_id, (number, carrier, service_name, tracking, cost) in shipments.items():
        assert ship_notice(
            service,
            station,
            order_id=order_id,
            order_number=number,
            carrier=carrier,
            service_name=service_name,
            tracking=tracking,
            cost=cost,
        ) == (200, f"OK Order {order_id} shipped.\n")

    # 4. What everyone outside sees.
    today = datetime.now(UTC).strftime("%m/%d/%Y")
    for order_id, (number, carrier, service_name, tracking, _) in shipments.items():
        section = gateway_status(service, account, number)
        assert (section["OrderStatus"], section["ShipDate"], section["TrackingID"]) == (
            "SHIPPED",
            today,
            tracking,
        )
        assert facts(service, order_id)[:2] == ["SHIPPED", "shipped"]
        window_ended = facts(service, order_id)[5]
        assert history(service, order_id) == [
            [
                *("waiting", "ready", "postage window"),
                f"Postage window ended {window_ended} UTC: ready to be made.",
            ],
            ["ready", "in_production", f"operator:{OPERATOR}", f"In production. Batch {batch}."],
            ["in_production", "packed", f"operator:{OPERATOR}", f"Packed. Batch {batch}."],
            [
                *("packed", "shipped", f"shipstation:{station.id} Chain ShipStation"),
                f"Shipped {today} by {carrier} ({service_name}), tracking {tracking}.",
            ],
        ]

    for order_id, customer, line, link in (
        (
            gateway_id,
            gateway_customer,
            "Tracking number (USPS): 9400111899560000000123",
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899560000000123",
        ),
        (
            shopify_id,
            shopify_customer,
            "Tracking number (UPS): 1Z999AA10123456784",
            "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        ),
    ):
        subject = f"Your order {order_id} has shipped"
        message = wait_for(
            lambda customer=customer, subject=subject: email_to(service, customer, subject),
            "the tracking email",
        )
        text = plain_text(message)
        assert line in text
        assert f"Track your package: {link}" in text

    # The Shopify order's tracking went to Shopify once; nothing was sent for the other.
    postbacks = wait_for(
        lambda: (
            found
            if (found := json.loads(service.shell(POSTBACKS.format(ids=[gateway_id, shopify_id]))))
            and found[0][1] == "sent"
            else None
        ),
        "the post-back to Shopify",
    )
    [fulfillment_order] = shopify.orders[gid]
    [fulfillment] = fulfillment_order.fulfillments
    assert postbacks == [[int(shopify_id), "sent", 1, fulfillment.id]]
    assert [(r.shop, r.operation) for r in shopify.requests] == [
        (SHOP, "order"),
        (SHOP, "fulfillmentCreate"),
    ]
    assert shopify.requests[0].variables == {"id": gid}
    assert shopify.requests[1].variables == {
        "fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fulfillment_order.id}],
            "notifyCustomer": True,
            "trackingInfo": {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            },
        }
    }
    assert (fulfillment_order.status, fulfillment.tracking) == (
        "CLOSED",
        [
            {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            }
        ],
    )
    assert service.shell(WEBHOOK_DELIVERIES.format(publisher_id=account.id)) == "0"


POSTBACKS = """
import json
from pressrun.carts.models import CartPostback
print(json.dumps([[p.order_id, p.state, p.attempts, p.remote_id]
    for p in CartPostback.objects.filter(order_id__in={ids!r}).order_by("order_id")]))
"""

WEBHOOK_DELIVERIES = """
from pressrun.webhooks.models import WebhookDelivery
print(WebhookDelivery.objects.filter(publisher_id={publisher_id}).count())
"""


def test_an_address_error_fixed_through_the_customer_link_then_shipped(
    chain: tuple[LiveService, ShopifyAdminEmulator],
) -> None:
    service, shopify = chain
    account = new_publisher(service)
    station = create_station(service, "Chain letters")
    requests_before = len(shopify.requests)
    invoice = service.unique("FIX")
    customer = f"{service.unique('fix').lower()}@example.com"
    order_id = place(
        service, account, invoice, name="Jo Smith", addr="123 Some Street", st="TX", email=customer
    )

    # The worker's check stops it: ERROR / 10 with the description.
    def stopped() -> dict[str, str] | None:
        section = gateway_status(service, account, invoice)
        return section if section["OrderStatus"] == "ERROR" else None

    section = wait_for(stopped, "the address check to stop the order")
    assert section == {
        "ErrorNum": "0",
        "ErrorDesc": "",
        "CustName": "Jo Smith",
        "Invoice": invoice,
        "OrderStatus": "ERROR",
        "OrderStatusErrNum": "10",
        "OrderStatusErrDesc": f"Error with address. {PROBLEM}",
        "ShipDate": "",
        "ShippingMethod": "standard",
        "TrackingID": "",
    }
    assert facts(service, order_id)[:2] == ["ERROR", "address_error"]
    assert order_id not in export(service, station)

    # The customer's email carries the reopened link; the customer corrects the state.
    subject = f"Please check the address of your order {order_id}"
    message = wait_for(lambda: email_to(service, customer, subject), "the address email")
    text = plain_text(message)
    assert PROBLEM in text
    links = re.findall(r"^(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)$", text, re.MULTILINE)
    assert len(links) == 1, text
    [link] = links
    assert link.startswith(service.base_url + "/c/")

    customer_browser = Browser(service)
    page = customer_browser.get(link)
    assert page.status == 200
    assert "We cannot ship this order to this address yet." in page.text
    form = page.form("")
    assert dict(form.fields) | {"csrfmiddlewaretoken": ""} == {
        "csrfmiddlewaretoken": "",
        "name": "Jo Smith",
        "company": "",
        "address": "123 Some Street",
        "city": "Minneapolis",
        "state": "TX",
        "postal_code": "55401",
        "country": "United States",
    }
    after = customer_browser.submit(page, "", state="Minnesota")
    assert after.url == link + "?saved=1", after.text[:3000]
    assert "Your address was updated." in after.text

    # Back to ready, fixed by the customer, checked again, then offered to the station.
    wait_for(lambda: checked_and_ready(service, order_id), "the new address's check")
    section = gateway_status(service, account, invoice)
    assert (
        section["OrderStatus"],
        section["OrderStatusErrNum"],
        section["OrderStatusErrDesc"],
    ) == (
        "PROCESSING",
        "0",
        "",
    )
    offered = exported(service, station, order_id)[order_id]
    assert [
        offered.findtext(name)
        for name in (
            "OrderNumber",
            "OrderStatus",
            "Customer/ShipTo/Name",
            "Customer/ShipTo/State",
            "Customer/ShipTo/PostalCode",
        )
    ] == [invoice, "ready", "Jo Smith", "MN", "55401"]

    assert ship_notice(
        service,
        station,
        order_id=order_id,
        order_number=invoice,
        carrier="USPS",
        service_name="First Class Mail",
        tracking="9400111899560000000456",
        cost="3.98",
    ) == (200, f"OK Order {order_id} shipped.\n")
    today = datetime.now(UTC).strftime("%m/%d/%Y")
    section = gateway_status(service, account, invoice)
    assert (section["OrderStatus"], section["ShipDate"], section["TrackingID"]) == (
        "SHIPPED",
        today,
        "9400111899560000000456",
    )
    # The window task (every second) and the check (queued at payment) race: the order was
    # stopped either once the task had made it ready or while it still waited.
    window = [
        *("waiting", "ready", "postage window"),
        f"Postage window ended {facts(service, order_id)[5]} UTC: ready to be made.",
    ]
    events = history(service, order_id)
    stopped_from = "ready" if events[0] == window else "waiting"
    assert events == [
        *([window] if stopped_from == "ready" else []),
        [stopped_from, "address_error", "address check (offline)", f"Address problem: {PROBLEM}"],
        ["address_error", "ready", "customer", "Address corrected: ready to be made."],
        [
            *("ready", "shipped", f"shipstation:{station.id} Chain letters"),
            f"Shipped {today} by USPS (First Class Mail), tracking 9400111899560000000456.",
        ],
    ]
    shipped = wait_for(
        lambda: email_to(service, customer, f"Your order {order_id} has shipped"),
        "the tracking email",
    )
    assert "Tracking number (USPS): 9400111899560000000456" in plain_text(shipped)
    # A gateway order: nothing goes to any cart.
    assert service.shell(POSTBACKS.format(ids=[order_id])) == "[]"
    assert len(shopify.requests) == requests_before
