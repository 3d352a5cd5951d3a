"""The ShipStation-compatible Custom Store endpoint: `/warehouses/shipstation`.

Parse → authenticate → one selector or service → render; the protocol's details are in
`shipstation.py`, the rules in `selectors.py` and `notices.py` for pressrun's own station,
in `pull.py` and `shipments.py` for a publisher's warehouse (the connection decides which:
each sees only its own orders).

Answers: 200 with the `<Orders>` XML (export) or `OK …` (a notice taken); 400 for a
request that does not follow the protocol; 401 with `WWW-Authenticate: Basic` for missing
or wrong credentials; 403 for a disabled connection or plain HTTP where HTTPS is required;
404 / 409 for a notice about an unknown, ambiguous or cancelled order (kept for the
operator); 405 for the wrong method; 413 for a body that is too large; 429 with
Retry-After while sign-ins from the client are throttled, or over a rate limit
(rate_limit.py: the connection's budget once the credentials are right, the client
address's while they are not). Every answer but the export is one line of plain text
saying why.
"""

from __future__ import annotations

import base64
import binascii
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pressrun.accounts.throttle import SignInThrottled
from pressrun.core.client_address import client_address
from pressrun.core.https import plain_http_refused
from pressrun.core.rate_limit import RateLimited
from pressrun.core.request_hygiene import RequestRefusal, refusals_answered_by
from pressrun.core.text import is_one_line, one_line
from pressrun.fulfillment.selectors import effective_state
from pressrun.warehouses.models import WarehouseConnection
from pressrun.warehouses.notices import ship_notice_receive
from pressrun.warehouses.pull import warehouse_export
from pressrun.warehouses.rate_limit import (
    connection_rate_take,
    unverified_rate_take,
)
from pressrun.warehouses.selectors import shared_invoices, station_export_page
from pressrun.warehouses.services import (
    StationCredentialsInvalid,
    StationDisabled,
    warehouse_authenticate,
)
from pressrun.warehouses.shipments import warehouse_notice_receive
from pressrun.warehouses.shipstation import (
    MAX_NOTICE_BYTES,
    ProtocolError,
    parse_export_query,
    render_orders,
    render_warehouse_orders,
)

logger = logging.getLogger(__name__)

REALM = 'Basic realm="pressrun shipping station", charset="UTF-8"'


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        " ".join(message.split()) + "\n", status=status, content_type="text/plain; charset=utf-8"
    )


def _retry_later(message: str, seconds: int) -> HttpResponse:
    response = _text(429, message)
    response["Retry-After"] = str(seconds)
    return response


def _throttled(limited: RateLimited | None) -> HttpResponse | None:
    """The 429 for a request over a rate limit, else None."""
    if limited is None:
        return None
    return _retry_later(limited.message, limited.retry_after_seconds)


def _unauthorized(request: HttpRequest, message: str) -> HttpResponse:
    """401, or 429 once the client address is over the budget for requests whose
    credentials do not check out (counted against the address, never a connection)."""
    throttled = _throttled(unverified_rate_take(request))
    if throttled is not None:
        return throttled
    response = _text(401, message)
    response["WWW-Authenticate"] = REALM
    return response


def _refused(request: HttpRequest, refusal: RequestRefusal) -> HttpResponse:
    return _text(refusal.status, refusal.message)


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    username, colon, password = text.partition(":")
    # A username is generated (`station-…`): one with control characters (a NUL could not
    # even be looked up on PostgreSQL) names no station.
    if not colon or not is_one_line(username):
        return None
    return username, password


def _authenticate(request: HttpRequest) -> WarehouseConnection | HttpResponse:
    """The connection whose credentials the request carries (counted against its rate
    limit), or the answer: 401, 403 or 429."""
    credentials = _basic_credentials(request)
    if credentials is None:
        return _unauthorized(
            request,
            "HTTP Basic authentication with the station's username and password is required.",
        )
    username, password = credentials
    try:
        connection = warehouse_authenticate(
            username=username, password=password, client_address=client_address(request)
        )
    except StationCredentialsInvalid:
        return _unauthorized(request, "The username and password do not match a shipping station.")
    except SignInThrottled as exc:
        # Unchecked credentials count against the address too.
        throttled = _throttled(unverified_rate_take(request))
        return throttled or _retry_later(exc.message, exc.retry_after_seconds)
    except StationDisabled as exc:
        # The right credentials: the connection's own budget.
        return _throttled(connection_rate_take(exc.connection_id)) or _text(403, exc.message)
    return _throttled(connection_rate_take(connection.id)) or connection


@refusals_answered_by(_refused)
@csrf_exempt
def shipstation(request: HttpRequest) -> HttpResponse:
    """`GET ?action=export&start_date=…&end_date=…&page=N` and
    `POST ?action=shipnotify&order_number=…&carrier=…&service=…&tracking_number=…`."""
    if plain_http_refused(request):
        return _text(
            403,
            "Use https:// for this address: the credentials must not cross the network in clear.",
        )
    if request.method not in ("GET", "HEAD", "POST"):
        response = _text(405, "Only GET (export) and POST (shipnotify) are answered here.")
        response["Allow"] = "GET, HEAD, POST"
        return response
    authenticated = _authenticate(request)
    if isinstance(authenticated, HttpResponse):
        return authenticated
    connection = authenticated
    # One line each, control characters out (a NUL could not even be stored or looked up).
    params = {key.lower(): one_line(str(request.GET.get(key, ""))) for key in request.GET}
    action = params.get("action", "").strip().lower()
    if action == "export":
        if request.method == "POST":
            response = _text(405, "action=export is a GET request.")
            response["Allow"] = "GET, HEAD"
            return response
        return _export(connection, params)
    if action == "shipnotify":
        if request.method != "POST":
            response = _text(405, "action=shipnotify is a POST request with the ShipNotice.")
            response["Allow"] = "POST"
            return response
        return _shipnotify(request, connection, params)
    return _text(400, "action must be export or shipnotify.")


def _export(connection: WarehouseConnection, params: dict[str, str]) -> HttpResponse:
    try:
        query = parse_export_query(params)
    except ProtocolError as exc:
        return _text(400, exc.message)
    now = timezone.now()
    if not connection.is_own_station:
        # A publisher's warehouse: the orders routed to it, never pressrun's own.
        pulled = warehouse_export(
            connection,
            modified_from=query.modified_from,
            modified_before=query.modified_before,
            page=query.page,
            page_size=settings.SHIPSTATION_PAGE_SIZE,
            now=now,
        )
        return HttpResponse(
            render_warehouse_orders(pulled.orders, pages=pulled.pages),
            content_type="application/xml; charset=utf-8",
        )
    page = station_export_page(
        connection,
        modified_from=query.modified_from,
        modified_before=query.modified_before,
        page=query.page,
        page_size=settings.SHIPSTATION_PAGE_SIZE,
        now=now,
    )
    body = render_orders(
        page.orders,
        pages=page.pages,
        shared=shared_invoices(page.orders),
        states={order.id: effective_state(order, now=now) for order in page.orders},
    )
    return HttpResponse(body, content_type="application/xml; charset=utf-8")


def _shipnotify(
    request: HttpRequest, connection: WarehouseConnection, params: dict[str, str]
) -> HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_NOTICE_BYTES:
        return _text(413, f"The ShipNotice is larger than {MAX_NOTICE_BYTES} bytes.")
    try:
        receive = ship_notice_receive if connection.is_own_station else warehouse_notice_receive
        result = receive(
            connection=connection,
            query_string=str(request.META.get("QUERY_STRING", "")),
            params=params,
            body=request.body,
        )
    except ProtocolError as exc:
        return _text(400, exc.message)
    if result.status >= 400:
        logger.info("Ship notice from station %s not applied: %s", connection.id, result.message)
        return _text(result.status, result.message)
    return _text(200, f"OK {result.message}")
