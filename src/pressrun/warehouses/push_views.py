"""The push protocol's inbound endpoints: `POST /warehouses/<connection>/shipments` (a
shipment confirmation) and `POST /warehouses/<connection>/inventory` (a stock report),
signed with the connection's secret (signing.py). Parse → verify → one service → JSON.

Answers (always JSON): 200 `{"ok": true, …}`; 400 a body that is not the message; 401 a
request not signed by this connection's secret (or unsigned, or signed more than five
minutes ago; an unknown connection is answered the same); 403 a disabled connection or plain
HTTP where HTTPS is required; 404 / 409 a confirmation for an order that is not the
connection's, or that cannot be applied; 405 another method; 413 a body too large; 429 with
Retry-After over a rate limit (rate_limit.py: the connection's budget once the signature is
verified, the client address's while requests fail it). Nothing is written on any refusal
before the service (a confirmation that names its order is kept as a ship notice whatever
became of it, as ShipStation's are).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, RawPostDataException
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pressrun.core.https import plain_http_refused
from pressrun.core.rate_limit import RateLimited
from pressrun.core.request_hygiene import RequestRefusal, refusals_answered_by
from pressrun.warehouses.inbound import (
    MAX_INVENTORY_BYTES,
    MAX_SHIPMENT_BYTES,
    MessageInvalid,
    parse_inventory,
    parse_shipment,
)
from pressrun.warehouses.models import WarehouseConnection
from pressrun.warehouses.notices import notice_digest
from pressrun.warehouses.push import warehouse_push_secret
from pressrun.warehouses.rate_limit import (
    connection_rate_take,
    unverified_rate_take,
)
from pressrun.warehouses.shipments import warehouse_shipment_record
from pressrun.warehouses.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureInvalid,
    signature_verify,
)
from pressrun.warehouses.stock import warehouse_stock_report

logger = logging.getLogger(__name__)
# The connection id in the address: a publisher's connection's id, digits only.
_MAX_ID_DIGITS = 18
# What a JSON confirmation's digest is made with (a ShipNotice's is its query string).
_DIGEST_PREFIX = "push-json"


def _error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message, **extra}, status=status)


def _refused(request: HttpRequest, refusal: RequestRefusal, *args: Any, **kwargs: Any) -> Any:
    return _error(refusal.status, refusal.message)


def _throttled(limited: RateLimited | None) -> JsonResponse | None:
    """The 429 for a request over a rate limit, else None."""
    if limited is None:
        return None
    response = _error(429, limited.message)
    response["Retry-After"] = str(limited.retry_after_seconds)
    return response


def _connection(connection: str) -> WarehouseConnection | None:
    """The publisher's connection `connection` names, if it has a push secret."""
    if not connection.isascii() or not connection.isdigit() or len(connection) > _MAX_ID_DIGITS:
        return None
    return (
        WarehouseConnection.objects.filter(id=int(connection), publisher__isnull=False)
        .exclude(push_secret_sealed="")
        .first()
    )


def _body(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, up to `limit` bytes (None beyond). Read from the stream: a stock report
    may be larger than the forms' DATA_UPLOAD_MAX_MEMORY_SIZE, which `request.body` holds
    every body to."""
    try:
        body = request.read(limit + 1)
    except RawPostDataException:  # read already (the request hygiene check)
        body = request.body
    return None if len(body) > limit else body


def _signed(
    request: HttpRequest, connection: str, limit: int
) -> tuple[WarehouseConnection, bytes] | HttpResponse:
    """The connection and the body of a request signed by its secret, or the refusal."""
    if plain_http_refused(request):
        return _error(
            403, "Use https:// for this address: the messages must not cross the network in clear."
        )
    if request.method != "POST":
        response = _error(405, "Only POST is answered here.")
        response["Allow"] = "POST"
        return response
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return _error(413, f"The body is larger than {limit:,} bytes: split it.")
    body = _body(request, limit)
    if body is None:
        return _error(413, f"The body is larger than {limit:,} bytes: split it.")
    found = _connection(connection)
    # An unknown connection (or one without a secret) is answered as a wrong signature, so
    # the answers tell nobody which connections exist.
    secret = warehouse_push_secret(found) if found is not None else ""
    try:
        signature_verify(
            secret=secret,
            timestamp=str(request.headers.get(TIMESTAMP_HEADER, "")),
            signed=str(request.headers.get(SIGNATURE_HEADER, "")),
            body=body,
            now=time.time(),
        )
    except SignatureInvalid as exc:
        # Not this connection's: counted against the client address, never the connection.
        return _throttled(unverified_rate_take(request)) or _error(401, exc.message)
    assert found is not None  # an empty secret never verifies
    throttled = _throttled(connection_rate_take(found.id))
    if throttled is not None:
        return throttled
    if not found.enabled:
        return _error(
            403, f"The connection {found.name!r} is disabled; the publisher can enable it."
        )
    return found, body


def _endpoint(
    limit: int,
) -> Callable[[Callable[[WarehouseConnection, bytes], HttpResponse]], Callable[..., HttpResponse]]:
    def decorate(
        handle: Callable[[WarehouseConnection, bytes], HttpResponse],
    ) -> Callable[..., HttpResponse]:
        @refusals_answered_by(_refused)
        @csrf_exempt
        def view(request: HttpRequest, connection: str) -> HttpResponse:
            signed = _signed(request, connection, limit)
            if isinstance(signed, HttpResponse):
                return signed
            return handle(*signed)

        view.__name__ = handle.__name__
        view.__doc__ = handle.__doc__
        return view

    return decorate


@_endpoint(MAX_SHIPMENT_BYTES)
def shipments(connection: WarehouseConnection, body: bytes) -> HttpResponse:
    """A shipment confirmation: recorded once per order and tracking number."""
    try:
        confirmation = parse_shipment(body)
    except MessageInvalid as exc:
        return _error(400, exc.message)
    result = warehouse_shipment_record(
        connection=connection,
        notice=confirmation.notice,
        body=body,
        digest=notice_digest(_DIGEST_PREFIX, body),
    )
    reference = {
        "order_id": confirmation.notice.order_id,
        "confirmation_id": confirmation.confirmation_id,
        "tracking_number": confirmation.notice.tracking_number,
    }
    if result.status >= 400:
        logger.info("Confirmation from warehouse %s not applied: %s", connection.id, result.message)
        return _error(result.status, result.message, **reference)
    return JsonResponse(
        {"ok": True, "outcome": result.outcome, "message": result.message, **reference}
    )


@_endpoint(MAX_INVENTORY_BYTES)
def inventory(connection: WarehouseConnection, body: bytes) -> HttpResponse:
    """A stock report: each SKU's level, unless the stored one was counted later."""
    now = timezone.now()
    try:
        report = parse_inventory(body, now=now)
    except MessageInvalid as exc:
        return _error(400, exc.message)
    result = warehouse_stock_report(connection=connection, report=report, now=now)
    return JsonResponse(
        {
            "ok": True,
            "received": len(report.items),
            "changed": result.changed,
            "unchanged": result.unchanged,
            "older": result.older,
        }
    )
