"""The only code that calls 1ShoppingCart's API.

Reads `{base}/{merchantId}/Orders/{id}` and `{base}/{merchantId}/Clients/{id}` with a POST of
`<Request><Key>{apiKey}</Key></Request>`. The base URL is the setting (or env)
PRESSRUN_ONESHOPPINGCART_API_URL, default https://www.mcssl.com/API, so tests point it at a
local emulator. Links inside replies (`ClientId/@href`) are never followed: the key is only
ever sent to the configured base URL.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from urllib.parse import quote
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pressrun.carts.oneshoppingcart import parse

TIMEOUT_SECONDS = 15.0
MAX_REPLY_BYTES = 2_000_000
USER_AGENT = "pressrun/1 (+order fulfillment)"


class ApiUnavailable(Exception):
    """The API could not be reached or answered with a server error: worth retrying."""


def api_base_url() -> str:
    return str(settings.PRESSRUN_ONESHOPPINGCART_API_URL).rstrip("/")


class OneShoppingCartClient:
    def __init__(self, *, merchant_id: str, api_key: str, base_url: str | None = None) -> None:
        self.merchant_id = merchant_id.strip()
        self.api_key = api_key.strip()
        self.base_url = (base_url or api_base_url()).rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ImproperlyConfigured("The 1ShoppingCart API URL must start with https://.")

    def _get(self, resource: str, identifier: str) -> Element:
        merchant = quote(self.merchant_id, safe="")
        url = f"{self.base_url}/{merchant}/{resource}/{quote(identifier, safe='')}"
        body = f"<Request><Key>{escape(self.api_key)}</Key></Request>".encode()
        # The base URL's scheme is checked to be http(s) in api_base_url / __init__.
        request = urllib.request.Request(  # noqa: S310
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/xml", "User-Agent": USER_AGENT},
        )
        try:
            raw = self._read(request)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise ApiUnavailable(f"1ShoppingCart answered HTTP {exc.code}.") from exc
            # A 4xx usually still carries the XML <Response success="false"> explaining it.
            raw = self._read_error_body(exc)
            if not raw.strip():
                raise parse.ApiRefused(f"1ShoppingCart answered HTTP {exc.code}.") from exc
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            # OSError: refused, reset, timed out; HTTPException: a broken or garbled reply.
            reason = getattr(exc, "reason", exc)
            raise ApiUnavailable(f"1ShoppingCart's API could not be reached ({reason}).") from exc
        if len(raw) > MAX_REPLY_BYTES:
            raise ApiUnavailable("1ShoppingCart's reply was too large.")
        # An HTML error page (a proxy, maintenance) instead of the API's <Response>: transient.
        # A reply declaring a DTD (an entity bomb, an external entity) is no outage: asking
        # again brings the same, so DtdRefused propagates and fails the delivery for good.
        try:
            root = parse.load_api_reply(raw)
        except parse.DtdRefused:
            raise
        except parse.PayloadInvalid as exc:
            raise ApiUnavailable(f"1ShoppingCart's reply was not XML ({exc}).") from exc
        if not parse.is_response(root):
            raise ApiUnavailable("1ShoppingCart answered with a web page, not the API's reply.")
        return root

    @staticmethod
    def _read(request: urllib.request.Request) -> bytes:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:  # noqa: S310
            body: bytes = reply.read(MAX_REPLY_BYTES + 1)
        return body

    @staticmethod
    def _read_error_body(error: urllib.error.HTTPError) -> bytes:
        """The body of a 4xx reply; a connection that breaks while it is read is an outage."""
        try:
            return error.read(MAX_REPLY_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise ApiUnavailable(f"1ShoppingCart's reply broke off ({exc}).") from exc

    def order(self, order_id: str) -> parse.ApiOrder:
        """Raises ApiUnavailable (retry), parse.ApiRefused or parse.PayloadInvalid (don't;
        parse.DtdRefused, a reply declaring a DTD, is one)."""
        return parse.parse_order(self._get("Orders", order_id))

    def client(self, client_id: str) -> parse.ApiClient:
        return parse.parse_client(self._get("Clients", client_id))
