"""A local stand-in for 1ShoppingCart's API (www.mcssl.com/API), for tests.

It answers `POST|GET {base}/{merchantId}/Orders/{id}` and `.../Clients/{id}` the way the real
API does: `<Response success="true">` with `OrderInfo` + `OrderShippingProfileInfo`, or
`ClientInfo`; `<Response success="false"><Error>…</Error></Response>` for a wrong merchant ID or
key or an unknown id. The key comes in a `<Request><Key>` body or a `key` query parameter;
paths and parameter names are case-insensitive. `fail_next` makes the next requests fail the
way an outage does (HTTP 503, a dropped connection, or an HTML error page), or answer with a
hostile reply (an XML bomb, an external entity, a DTD) as a compromised or spoofed API would.

Runs in a thread of the test process; the server under test reaches it over real HTTP at
`base_url`, so it also serves a `pressrun worker` started as a separate process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

MERCHANT_ID = "407733"
API_KEY = "3B2EA25FBE9B4E31915F3CEDD74E8E78"
PATH = re.compile(r"^/api/(?P<merchant>[^/]+)/(?P<resource>orders|clients)/(?P<id>[^/]+)/?$", re.I)
KEY_IN_BODY = re.compile(rb"<key>\s*([^<]*?)\s*</key>", re.I)
# Replies no honest API sends: each declares a DTD, so a parser that expanded entities or
# fetched external ones would blow up or leak. Answered with HTTP 200 as text/xml.
HOSTILE_REPLIES = {
    "bomb": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        '<Response success="true"><OrderInfo><Id>&lol3;</Id></OrderInfo></Response>'
    ),
    "xxe": (
        '<?xml version="1.0"?><!DOCTYPE Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<Response success="true"><OrderInfo><Id>&xxe;</Id></OrderInfo></Response>'
    ),
    "dtd": (
        '<?xml version="1.0"?><!DOCTYPE Response SYSTEM "http://127.0.0.1:9/evil.dtd">'
        '<Response success="true"><OrderInfo><Id>1</Id></OrderInfo></Response>'
    ),
}


@dataclass
class Client:
    email: str
    first_name: str
    last_name: str
    address1: str = "12 Elm Street"
    city: str = "Springfield"
    state_name: str = "Illinois"
    zip: str = "62701"
    country_name: str = "United States"
    phone: str = "555-0100"


@dataclass
class Order:
    client_id: str
    # (sku, quantity, product name); a str quantity is sent exactly as written
    lines: list[tuple[str, int | str, str]]
    shipping_method: str = "First Class Mail"
    status: str = "Accepted"
    ship_to: dict[str, str] | None = None  # OrderShippingProfileInfo fields; None: omitted


@dataclass
class Emulator:
    merchant_id: str = MERCHANT_ID
    api_key: str = API_KEY
    orders: dict[str, Order] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    # "503" | "drop" | "html" | "html-doctype" | "garbled" | a key of HOSTILE_REPLIES
    failures: list[str] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, kind: str = "503") -> None:
        with self.lock:
            self.failures.extend([kind] * count)

    def add_order(
        self,
        order_id: str,
        *,
        lines: list[tuple[str, int | str, str]],
        client_id: str = "",
        email: str = "pat.jones@example.com",
        shipping_method: str = "First Class Mail",
        status: str = "Accepted",
        ship_to: dict[str, str] | None = None,
    ) -> None:
        client_id = client_id or f"C{order_id}"
        self.clients.setdefault(client_id, Client(email=email, first_name="Pat", last_name="Jones"))
        if ship_to is None:
            ship_to = {
                "Name": "Pat Jones",
                "Address1": "500 Market Street",
                "Address2": "Suite 4",
                "City": "San Francisco",
                "Zip": "94105",
                "StateName": "California",
                "CountryName": "United States",
            }
        self.orders[order_id] = Order(
            client_id=client_id,
            lines=lines,
            shipping_method=shipping_method,
            status=status,
            ship_to=ship_to or None,
        )

    # --- replies ---------------------------------------------------------------------------
    def reply(self, method: str, path: str, query: str, body: bytes) -> tuple[int, str, str]:
        """(status, content type, text) for one request."""
        with self.lock:
            self.requests.append((method, path))
            failure = self.failures.pop(0) if self.failures else ""
        if failure == "503":
            return 503, "text/plain", "Service Unavailable"
        if failure == "html":
            return 200, "text/html", "<html><body><h1>Down for maintenance</h1></body></html>"
        if failure == "html-doctype":
            return 200, "text/html", "<!DOCTYPE html><html><body><p>Maintenance</p></body></html>"
        if failure in HOSTILE_REPLIES:
            return 200, "text/xml", HOSTILE_REPLIES[failure]
        if failure == "drop":
            return 0, "", ""
        if failure == "garbled":
            return -1, "", ""
        match = PATH.match(path)
        if match is None:
            return 404, "text/plain", "Not found"
        params = {k.lower(): v for k, v in parse_qsl(query)}
        found = KEY_IN_BODY.search(body)
        key = found.group(1).decode() if found else params.get("key", "")
        if match["merchant"] != self.merchant_id or key != self.api_key:
            return 200, "text/xml", _error("Invalid Merchant ID or API Key")
        identifier = match["id"]
        if match["resource"].lower() == "orders":
            order = self.orders.get(identifier)
            if order is None:
                return 200, "text/xml", _error(f"Order {identifier} not found")
            return 200, "text/xml", self._order_xml(identifier, order)
        client = self.clients.get(identifier)
        if client is None:
            return 200, "text/xml", _error(f"Client {identifier} not found")
        return 200, "text/xml", _client_xml(identifier, client)

    def _order_xml(self, order_id: str, order: Order) -> str:
        items = "".join(
            "<LineItemInfo>"
            f"<ProductId>{900 + n}</ProductId><Sku>{escape(sku)}</Sku>"
            f"<ProductName>{escape(name)}</ProductName><Quantity>{quantity}</Quantity>"
            "<UnitPrice>19.95</UnitPrice></LineItemInfo>"
            for n, (sku, quantity, name) in enumerate(order.lines)
        )
        profile = ""
        if order.ship_to:
            fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in order.ship_to.items())
            profile = (
                f"<OrderShippingProfileInfo><Id>77{order_id}</Id>{fields}"
                "</OrderShippingProfileInfo>"
            )
        client_href = f"{self.base_url}/{self.merchant_id}/Clients/{order.client_id}"
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<Response success="true">'
            f"<OrderInfo><Id>{escape(order_id)}</Id>"
            f'<ClientId href="{escape(client_href)}">{escape(order.client_id)}</ClientId>'
            f"<OrderStatusType>{escape(order.status)}</OrderStatusType>"
            "<OrderDate>2026-11-20T10:15:00</OrderDate><GrandTotal>43.85</GrandTotal>"
            f"<LineItems>{items}</LineItems>"
            f"<ShippingInfo><ShippingMethodName>{escape(order.shipping_method)}"
            "</ShippingMethodName><ShippingAmount>3.95</ShippingAmount></ShippingInfo>"
            "<Comments></Comments></OrderInfo>"
            f"{profile}</Response>"
        )


def _error(message: str) -> str:
    return f'<Response success="false"><Error>{escape(message)}</Error></Response>'


def _client_xml(client_id: str, client: Client) -> str:
    return (
        '<Response success="true"><ClientInfo>'
        f"<Id>{escape(client_id)}</Id><FirstName>{escape(client.first_name)}</FirstName>"
        f"<LastName>{escape(client.last_name)}</LastName><Email>{escape(client.email)}</Email>"
        f"<Address1>{escape(client.address1)}</Address1><City>{escape(client.city)}</City>"
        f"<StateName>{escape(client.state_name)}</StateName><Zip>{escape(client.zip)}</Zip>"
        f"<CountryName>{escape(client.country_name)}</CountryName>"
        f"<Phone>{escape(client.phone)}</Phone></ClientInfo></Response>"
    )


def notification(token: str, event: str = "NewOrder") -> bytes:
    """The body 1ShoppingCart POSTs to a Notification URL."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><{event}><Token>{token}</Token></{event}>'.encode()
    )


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        status, content_type, text = self.server.emulator.reply(
            method, parts.path, parts.query, body
        )
        if status <= 0:  # an outage: close without answering, or after a broken status line
            if status < 0:
                self.wfile.write(b"HTTP/1.1 2OO Garbled\r\n\r\n")
                self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: Emulator


@contextmanager
def running(emulator: Emulator | None = None) -> Iterator[Emulator]:
    """Serve `emulator` on a free local port for the duration of the block."""
    emulator = emulator or Emulator()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.emulator = emulator
    emulator.base_url = f"http://127.0.0.1:{server.server_address[1]}/API"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield emulator
    finally:
        server.shutdown()
        server.server_close()
