"""The gateway's two HTTP entry points: parse → one service → render. No rules live here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import (
    CredentialsInvalid,
    CredentialsMissing,
    publisher_authenticate,
    publisher_authenticate_kept,
    publisher_kept_confirm,
    publisher_kept_forget,
)
from pressrun.accounts.throttle import SignInThrottled
from pressrun.billing.services import status_call_record
from pressrun.core.client_address import client_address
from pressrun.core.https import plain_http_refused
from pressrun.core.prepared import RowAsRead, RowsChanged
from pressrun.core.request_hygiene import RefusalKind, RequestRefusal, refusals_answered_by
from pressrun.gateway import errors
from pressrun.gateway.fields import GatewayFailure, read_fields
from pressrun.gateway.status import StatusSection, render_status_xml, split_invoices
from pressrun.gateway.submit import (
    build_order_request,
    check_source,
    render_failure,
    render_success,
)
from pressrun.orders.models import Order
from pressrun.orders.selectors import order_by_invoices
from pressrun.orders.services import OrderRefused, intake_reads_kept, order_place

logger = logging.getLogger(__name__)

INTERNAL_ERROR = errors.GatewayError(
    code="009000",
    summary="Internal error; the order was not placed.",
    when="An unexpected fault on our side. It is logged and we are alerted.",
)


HTTPS_REQUIRED_DETAIL = "Send it to the same URL with https:// instead of http://."


def _authenticate(
    fields: dict[str, str], request: HttpRequest, *, row: _PublisherRow | None = None
) -> tuple[Publisher, RowAsRead | None]:
    """The publisher named by CoLoginEmail / CoLoginPassword, or GatewayFailure. With `row`,
    it comes with its row as the credentials were checked against it, which the caller must
    then have found unchanged (`publisher_authenticate_kept`), kept in this process's memory
    if `row.from_memory`."""
    email = fields.get("cologinemail", "")
    password = fields.get("cologinpassword", "")
    address = client_address(request)
    try:
        if row is not None:
            return publisher_authenticate_kept(
                email=email,
                password=password,
                client_address=address,
                from_memory=row.from_memory,
            )
        return publisher_authenticate(email=email, password=password, client_address=address), None
    except CredentialsMissing as exc:
        raise GatewayFailure(
            errors.CREDENTIALS_MISSING,
            "You must include your account email and password. The field names you must add "
            "are CoLoginEmail and CoLoginPassword.",
        ) from exc
    except SignInThrottled as exc:
        raise GatewayFailure(errors.SIGN_IN_THROTTLED, exc.message) from exc
    except CredentialsInvalid as exc:
        raise GatewayFailure(
            errors.CREDENTIALS_INVALID,
            "You must provide your current login email and password. CoLoginEmail and "
            "CoLoginPassword are the field names you must use.",
        ) from exc


def _text(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/plain; charset=utf-8")


# How the gateway words a request refused before it is read (core.request_hygiene).
_REFUSAL_ERRORS = {
    RefusalKind.CHARSET: errors.CHARSET_UNSUPPORTED,
    RefusalKind.LENGTH_REQUIRED: errors.REQUEST_MALFORMED,
    RefusalKind.TOO_LARGE: errors.REQUEST_TOO_LARGE,
    RefusalKind.QUERY_ENCODING: errors.REQUEST_MALFORMED,
}


def refusal_failure(refusal: RequestRefusal) -> GatewayFailure:
    """The gateway's own failure for a request refused before it was read."""
    return GatewayFailure(_REFUSAL_ERRORS[refusal.kind], refusal.message)


def _submit_refused(request: HttpRequest, refusal: RequestRefusal) -> HttpResponse:
    return _text(render_failure(refusal_failure(refusal)))


def _status_refused(request: HttpRequest, refusal: RequestRefusal) -> HttpResponse:
    section = StatusSection(errors.STATUS_REQUEST_INVALID, render_failure(refusal_failure(refusal)))
    return _xml([section])


def _xml(sections: list[StatusSection], status: int = 200) -> HttpResponse:
    return HttpResponse(
        render_status_xml(sections), status=status, content_type="application/xml; charset=utf-8"
    )


@refusals_answered_by(_submit_refused)
@csrf_exempt
@require_http_methods(["GET", "POST"])
def submit_product_order(request: HttpRequest) -> HttpResponse:
    if plain_http_refused(request):
        # Refused, not redirected: a redirected POST loses its body, and following a redirect
        # would hide that the password went over the network in clear (core/https.py).
        failure = GatewayFailure(errors.HTTPS_REQUIRED, HTTPS_REQUIRED_DETAIL)
        return HttpResponse(
            render_failure(failure), status=403, content_type="text/plain; charset=utf-8"
        )
    try:
        fields = read_fields(request)
        check_source(fields)
        return _text(render_success(_submit_until_rows_hold(fields, request)))
    except GatewayFailure as failure:
        return _text(render_failure(failure))
    except OperationalError:
        logger.warning("order not stored: database unavailable", exc_info=True)
        return _text(render_failure(GatewayFailure(errors.SERVICE_UNAVAILABLE)))
    except DatabaseError:
        logger.exception("order not stored")
        return _text(render_failure(GatewayFailure(INTERNAL_ERROR)))


@dataclass(frozen=True)
class _PublisherRow:
    """An order's write requires the publisher's row the credentials were checked against,
    kept in this process's memory if `from_memory`."""

    from_memory: bool


# Attempts at an order or a status call whose rows changed under it: the first from kept
# rows, the others from rows read again. Each changed row is a change committed by someone
# else meanwhile; three in a row within one request is a publisher's row being changed
# without pause.
SUBMIT_ATTEMPTS = 3

T = TypeVar("T")


class _RowsKeptChanging(Exception):
    """The rows changed under every one of the SUBMIT_ATTEMPTS attempts."""


def _until_rows_hold(attempt: Callable[[bool], T]) -> T:
    """`attempt(from_memory)`, again while it raises RowsChanged (it wrote and answered
    nothing): the first time with the publisher's row from this process's memory if
    INTAKE_CACHED_PUBLISHER, then checked against the row as it is; _RowsKeptChanging after
    SUBMIT_ATTEMPTS attempts."""
    from_memory = settings.INTAKE_CACHED_PUBLISHER
    for _ in range(SUBMIT_ATTEMPTS):
        try:
            return attempt(from_memory)
        except RowsChanged:
            from_memory = False
    raise _RowsKeptChanging


def _submit_until_rows_hold(fields: dict[str, str], request: HttpRequest) -> Order:
    """`_submit`, again while the rows it rests on change under it (a new password, a
    deactivated account, new defaults, a new price): nothing was written or answered, and
    the order starts again from the credentials, checked against the row as it is. Where
    intake's write requires the rows it read (`intake_reads_kept`), the credentials hold at
    the write; elsewhere they are checked against the row as read just before it."""
    if not intake_reads_kept():
        return _submit(fields, request, row=None)
    try:
        return _until_rows_hold(
            lambda from_memory: _submit(fields, request, row=_PublisherRow(from_memory))
        )
    except _RowsKeptChanging:
        logger.warning("order not stored: its rows changed under it %d times", SUBMIT_ATTEMPTS)
        raise GatewayFailure(errors.SERVICE_UNAVAILABLE) from None


def _submit(fields: dict[str, str], request: HttpRequest, *, row: _PublisherRow | None) -> Order:
    """Authenticate, read and place the order; GatewayFailure for any answer but success.
    With `row`, every answer waits until the publisher's row is found unchanged
    (RowsChanged otherwise, nothing written): the order's statement does it, and for a
    failure found before it, `publisher_kept_confirm`."""
    publisher, as_read = _authenticate(fields, request, row=row)
    try:
        order_request = build_order_request(fields, publisher.id)
    except GatewayFailure:
        if as_read is not None:
            publisher_kept_confirm(as_read)
        raise
    try:
        return order_place(request=order_request, publisher=publisher, publisher_as_read=as_read)
    except OrderRefused as exc:
        raise GatewayFailure(errors.BY_REFUSAL[exc.reason], exc.message) from exc


@refusals_answered_by(_status_refused)
@csrf_exempt
@require_http_methods(["GET", "POST"])
def order_status_by_invoice(request: HttpRequest) -> HttpResponse:
    if plain_http_refused(request):
        description = f"{errors.STATUS_HTTPS_REQUIRED_TEXT} {HTTPS_REQUIRED_DETAIL}"
        return _xml([StatusSection(errors.STATUS_HTTPS_REQUIRED, description)], status=403)
    try:
        sections = _status_sections(request)
    except OperationalError:
        logger.warning("status not read: database unavailable", exc_info=True)
        sections = [StatusSection(errors.STATUS_UNAVAILABLE, "Temporarily unavailable; retry.")]
    return _xml(sections)


def _status_sections(request: HttpRequest) -> list[StatusSection]:
    try:
        fields = read_fields(request)
    except GatewayFailure as failure:
        return [StatusSection(errors.STATUS_REQUEST_INVALID, render_failure(failure))]
    invoices = split_invoices(fields.get("invoice", ""))

    def every(error_num: int, desc: str) -> list[StatusSection]:
        return [StatusSection(error_num, desc, invoice) for invoice in invoices]

    if fields.get("function", "").strip().lower() != "getorderstatusbyinvoice":
        return every(
            errors.STATUS_UNKNOWN_FUNCTION,
            "Unknown function name requested. Valid functions are: getOrderStatusByInvoice.",
        )

    # The publisher may come from this process's memory: the call's metering statement
    # requires its row unchanged, so no answer rests on credentials changed before it; a
    # changed row sends the call back to the credentials, checked against the row as it is.
    def counted(from_memory: bool) -> Publisher:
        publisher, as_read = publisher_authenticate_kept(
            email=fields.get("cologinemail", ""),
            password=fields.get("cologinpassword", ""),
            client_address=client_address(request),
            from_memory=from_memory,
        )
        try:
            status_call_record(publisher_id=publisher.id, unchanged=[as_read])
        except RowsChanged:
            publisher_kept_forget(as_read)
            raise
        return publisher

    try:
        publisher = _until_rows_hold(counted)
    except SignInThrottled as exc:
        return every(errors.STATUS_THROTTLED, exc.message)
    except (CredentialsMissing, CredentialsInvalid):
        return every(errors.STATUS_BAD_CREDENTIALS, "Incorrect email or password used as input.")
    except _RowsKeptChanging:
        logger.warning("status not read: the account's row changed %d times", SUBMIT_ATTEMPTS)
        return every(errors.STATUS_UNAVAILABLE, "Temporarily unavailable; retry.")
    orders = order_by_invoices(publisher_id=publisher.id, invoices=invoices)
    sections = []
    for invoice in invoices:
        if not invoice:
            sections.append(StatusSection(errors.STATUS_INVOICE_BLANK, "Invoice was blank."))
            continue
        order = orders.get(invoice)
        if order is None:
            sections.append(
                StatusSection(
                    errors.STATUS_NOT_FOUND,
                    "Record Not found. No order of this account has this invoice.",
                    invoice,
                )
            )
        else:
            sections.append(StatusSection(errors.STATUS_OK, "", invoice, order))
    return sections
