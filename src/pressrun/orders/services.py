"""Intake: the one service every channel uses to turn an `OrderRequest` into an `Order`.

`order_place` authenticates nothing (the channel did), then resolves products, normalizes
the address, applies the duplicate rules, prices the order and decides HOLD / PROCESSING /
TEST, all in one short transaction. A refusal raises `OrderRefused` and writes nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from pressrun.accounts import services as accounts
from pressrun.accounts.models import MailMethod, Publisher
from pressrun.billing.pricing import PriceListIncomplete, Quote, quote
from pressrun.billing.services import (
    balance_debit_if_covered,
    balance_debit_prepare,
    ledger_order_charge_entry,
    ledger_record_order_charge,
)
from pressrun.catalog.models import LETTER_PACKAGING, Project
from pressrun.core.errors import DomainError
from pressrun.core.events import Publication, publication_prepare, publish
from pressrun.core.group_commit import GroupCommit
from pressrun.core.money import format_money, is_whole_cents
from pressrun.core.prepared import (
    PENDING_ID,
    JoinedInsert,
    PreparedInsert,
    PreparedRowRead,
    PreparedUpdate,
    RowAsRead,
    RowsChanged,
    UpdateCountDiffers,
    one_cursor,
    pipelined,
    plain_params,
    prepare_insert,
    row_as_read,
    rows_changed,
    rows_unchanged_check,
    rows_unchanged_confirm,
    rows_unchanged_require,
)
from pressrun.core.row_cache import CachedRows, cached_rows_forget
from pressrun.core.sqlite import writer as sqlite_writer
from pressrun.core.tasks import relays_run_where_no_worker
from pressrun.core.text import is_one_line
from pressrun.orders.address import (
    DOMESTIC_COUNTRY,
    AddressError,
    country_name,
    normalize_country,
    normalize_state,
)
from pressrun.orders.events import OrderPlaced
from pressrun.orders.models import Mode, Order, OrderEvent, OrderLine, OrderStatus, ShippingMethod
from pressrun.orders.requests import OrderRequest, RecipientRequest
from pressrun.orders.status import order_enter_fulfillment

logger = logging.getLogger(__name__)

MAX_QUANTITY_PER_LINE = 250
MAX_QUANTITY_PER_ORDER = 250
MAX_INVOICE_LENGTH = 50
MAX_SPECIAL_TEXT_LENGTH = 500
EMAIL_DUPLICATE_WINDOW = timedelta(days=5)
# Countries whose addresses need a state / province and a postal code.
STATE_REQUIRED_COUNTRIES = frozenset({"US", "CA"})
FIELD_LIMITS = {"name": 100, "company": 100, "address": 200, "city": 100, "postal_code": 20}
_HTML_TAG = re.compile(r"<[a-zA-Z/!?]")  # "a < b" is text, not a tag


class Refusal(enum.Enum):
    """Why intake refused an order. Channels map each to their own error format."""

    NO_LINES = "no_lines"
    QUANTITY_RANGE = "quantity_range"
    TOTAL_QUANTITY = "total_quantity"
    PRODUCT_UNKNOWN = "product_unknown"
    PRODUCT_NOT_YOURS = "product_not_yours"
    NAME_BLANK = "name_blank"
    ADDRESS_BLANK = "address_blank"
    CITY_BLANK = "city_blank"
    POSTAL_CODE_BLANK = "postal_code_blank"
    COUNTRY_INVALID = "country_invalid"
    STATE_INVALID = "state_invalid"
    FIELD_TOO_LONG = "field_too_long"
    EMAIL_INVALID = "email_invalid"
    INVOICE_TOO_LONG = "invoice_too_long"
    SPECIAL_TEXT_TOO_LONG = "special_text_too_long"
    SPECIAL_TEXT_HTML = "special_text_html"
    MAIL_METHOD_INVALID = "mail_method_invalid"
    MODE_INVALID = "mode_invalid"
    PRICE_INVALID = "price_invalid"
    DUPLICATE = "duplicate"
    PRICE_LIST_INCOMPLETE = "price_list_incomplete"
    LINE_BREAK = "line_break"


class OrderRefused(DomainError):
    def __init__(self, reason: Refusal, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class NormalizedRecipient:
    name: str
    company: str
    address: str
    city: str
    state: str
    postal_code: str
    country: str
    email: str


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _clean_recipient(request: OrderRequest) -> NormalizedRecipient:
    return recipient_normalize(request.recipient)


def recipient_normalize(raw: RecipientRequest) -> NormalizedRecipient:
    """The recipient as intake stores it (spaces collapsed, country code, state code), or
    OrderRefused saying what is wrong. Used by intake and by every later address change."""
    values = {
        "name": _collapse(raw.name),
        "company": _collapse(raw.company),
        "address": _collapse(raw.address),
        "city": _collapse(raw.city),
        "postal_code": _collapse(raw.postal_code),
    }
    if not values["name"]:
        raise OrderRefused(Refusal.NAME_BLANK, "Name was blank.")
    for field, limit in FIELD_LIMITS.items():
        if len(values[field]) > limit:
            raise OrderRefused(
                Refusal.FIELD_TOO_LONG,
                f"{field.replace('_', ' ').capitalize()} is longer than {limit} characters.",
                field=field,
            )
    if not values["address"]:
        raise OrderRefused(Refusal.ADDRESS_BLANK, "Address was blank.")
    if not values["city"]:
        raise OrderRefused(Refusal.CITY_BLANK, "City was blank.")
    if len(_collapse(raw.state)) > 60:
        raise OrderRefused(Refusal.FIELD_TOO_LONG, "State is longer than 60 characters.")
    try:
        country = normalize_country(raw.country)
        state = normalize_state(country, raw.state)
    except AddressError as exc:
        reason = Refusal.COUNTRY_INVALID if exc.field == "country" else Refusal.STATE_INVALID
        raise OrderRefused(reason, exc.message) from exc
    if country in STATE_REQUIRED_COUNTRIES and not values["postal_code"]:
        raise OrderRefused(
            Refusal.POSTAL_CODE_BLANK,
            f"Zip / postal code is required for addresses in {country_name(country)}.",
        )
    email = raw.email.strip()
    if email:
        if len(email) > 254:
            raise OrderRefused(Refusal.EMAIL_INVALID, "Email is longer than 254 characters.")
        try:
            validate_email(email)
        except ValidationError as exc:
            raise OrderRefused(
                Refusal.EMAIL_INVALID, f"Email '{email[:60]}' is not a valid email address."
            ) from exc
    return NormalizedRecipient(state=state, country=country, email=email, **values)


def _merge_lines(request: OrderRequest) -> list[tuple[int, int]]:
    """(project id, quantity) in first-seen order; a project listed twice is summed."""
    if not request.lines:
        raise OrderRefused(Refusal.NO_LINES, "No product was given.")
    merged: dict[int, int] = {}
    for line in request.lines:
        if not 1 <= line.quantity <= MAX_QUANTITY_PER_LINE:
            raise OrderRefused(
                Refusal.QUANTITY_RANGE,
                f"Quantity {line.quantity} for product {line.project_id} is outside 1 to "
                f"{MAX_QUANTITY_PER_LINE}.",
            )
        merged[line.project_id] = merged.get(line.project_id, 0) + line.quantity
    quantities = [line.quantity for line in request.lines]
    total = sum(quantities)
    if total > MAX_QUANTITY_PER_ORDER:
        raise OrderRefused(
            Refusal.TOTAL_QUANTITY,
            f"The total quantity for this order exceeded the maximum {MAX_QUANTITY_PER_ORDER}.",
            quantities=quantities,
            total=total,
        )
    return list(merged.items())


# Intake's writes of this process's threads, grouped into shared transactions when enabled.
_intake_group = GroupCommit()

# An order of one product (most of them) reads it with a statement compiled once per process.
_active_project = PreparedRowRead(Project, is_active=True)
# The same rows kept as read, for intake's one statement, which requires them unchanged
# (core/row_cache.py).
_projects_cached = CachedRows(_active_project, size=4096)


def _load_projects(
    publisher: Publisher, ids: list[int], read: list[RowAsRead] | None = None
) -> dict[int, Project]:
    """The active projects by id, each the publisher's own; else OrderRefused. With `read`,
    an order of one project may take it from this process's memory, the row as read added to
    `read` (the write must then require it unchanged). A product not found, or not the
    publisher's, is read again before it is refused."""
    if read is not None and len(ids) == 1:
        found = _projects_cached.get(ids[0])
        if found is not None and found[0].publisher_id == publisher.id:
            read.append(found[1])
            return {ids[0]: found[0]}
    if len(ids) == 1:
        found = _active_project.get(ids[0])
        projects = {found.id: found} if found is not None else {}
    else:
        projects = {p.id: p for p in Project.objects.filter(id__in=ids, is_active=True)}
    for project_id in ids:
        project = projects.get(project_id)
        if project is None:
            raise OrderRefused(
                Refusal.PRODUCT_UNKNOWN,
                f"Product {project_id} does not exist. Use the project ID shown next to the "
                "project's title in your dashboard.",
                project_id=project_id,
            )
        if project.publisher_id != publisher.id:
            raise OrderRefused(
                Refusal.PRODUCT_NOT_YOURS,
                f"Product {project_id} is not from this account. You can only order products "
                "within your own account.",
                project_id=project_id,
            )
    return projects


def shipping_method_for(
    *, mail_method: str, packagings: list[str], total_quantity: int, country: str
) -> str:
    """The spec's rule: standard travels as a letter only for one sleeve or USB ecomailer
    to a domestic address; anything else is a parcel, i.e. standard + tracking."""
    if mail_method == MailMethod.PRIORITY:
        return ShippingMethod.PRIORITY
    if mail_method == MailMethod.EXPRESS:
        return ShippingMethod.EXPRESS
    if mail_method == MailMethod.RTRACKSTANDARD:
        return ShippingMethod.STANDARD_TRACKING
    as_letter = (
        total_quantity == 1
        and country == DOMESTIC_COUNTRY
        and all(p in LETTER_PACKAGING for p in packagings)
    )
    return ShippingMethod.STANDARD if as_letter else ShippingMethod.STANDARD_TRACKING


# Django's `Choices.values` builds its list again on every access: once here, for every order.
_MODES = frozenset(Mode.values)
_MAIL_METHODS = frozenset(MailMethod.values)


def _check_options(request: OrderRequest) -> None:
    if request.mode not in _MODES:
        raise OrderRefused(Refusal.MODE_INVALID, f"Mode '{request.mode[:20]}' is not test or prod.")
    if request.mail_method is not None and request.mail_method not in _MAIL_METHODS:
        raise OrderRefused(
            Refusal.MAIL_METHOD_INVALID,
            f"Mail method '{request.mail_method[:30]}' is not one of "
            f"{', '.join(MailMethod.values)}.",
        )
    if len(request.invoice) > MAX_INVOICE_LENGTH:
        raise OrderRefused(
            Refusal.INVOICE_TOO_LONG,
            f"Invoice is {len(request.invoice)} characters; the limit is {MAX_INVOICE_LENGTH}.",
        )
    if not is_one_line(request.invoice):
        raise OrderRefused(
            Refusal.LINE_BREAK,
            "Invoice must be one line, without line breaks or control characters.",
        )
    if len(request.special_text) > MAX_SPECIAL_TEXT_LENGTH:
        raise OrderRefused(
            Refusal.SPECIAL_TEXT_TOO_LONG,
            f"SpecialText is {len(request.special_text)} characters; the limit is "
            f"{MAX_SPECIAL_TEXT_LENGTH}.",
        )
    if _HTML_TAG.search(request.special_text):
        raise OrderRefused(Refusal.SPECIAL_TEXT_HTML, "SpecialText must not contain HTML.")
    price = request.customer_price
    if price is not None and (not is_whole_cents(price) or price < 0 or price >= 100000):
        raise OrderRefused(
            Refusal.PRICE_INVALID, "nprice must be whole cents between 0.00 and 99999.99."
        )


def order_price(
    *,
    items: Sequence[tuple[str, Decimal, int]],
    mail_method: str,
    country: str,
    read: list[RowAsRead] | None = None,
) -> tuple[str, Quote]:
    """The shipping method and the price of lines of (packaging, unit price, quantity)
    sent by `mail_method` to `country`: intake's pricing, and a changed order's. Raises
    PriceListIncomplete when the price list has no rate for it. `read`: as `quote`'s."""
    shipping_method = shipping_method_for(
        mail_method=mail_method,
        packagings=[packaging for packaging, _, _ in items],
        total_quantity=sum(quantity for _, _, quantity in items),
        country=country,
    )
    price = quote(
        lines=[(unit_price, quantity) for _, unit_price, quantity in items],
        shipping_method=shipping_method,
        country=country,
        read=read,
    )
    return shipping_method, price


def order_place(
    *,
    request: OrderRequest,
    publisher: Publisher,
    publisher_as_read: RowAsRead | None = None,
    prepared: OrderPrepared | None = None,
) -> Order:
    """Validate, price and store one order; charge it when the balance covers it.

    Preconditions: `publisher` is authenticated and `request.publisher_id == publisher.id`.
    Returns the new order with `lines` loaded. Raises `OrderRefused`; then nothing is written.
    Duplicate rules (unique invoice per product and mode; without an invoice, the same email
    and product within five days) hold under concurrent submissions: the first by a unique
    constraint, the second under a lock on the products' rows.

    `publisher_as_read`: the publisher's row as the credentials were checked against it,
    kept in this process's memory or just read (`publisher_authenticate_kept`; only where
    `intake_reads_kept()`). Whatever the outcome, the row is then found unchanged first:
    else `RowsChanged`, with nothing written, and the caller authenticates again.

    `prepared`: this order as `order_prepare` laid it out before the caller's transaction;
    written as it is when it was prepared for this very request (the publisher's included),
    once (else, or if a row it was read from changed since, the order is prepared again
    here).
    """
    order = _order_place(
        request=request, publisher=publisher, publisher_as_read=publisher_as_read, prepared=prepared
    )
    # The placed event's relay hands the order to its follow-ups (orders/relay.py).
    relays_run_where_no_worker()
    return order


def _order_place(
    *,
    request: OrderRequest,
    publisher: Publisher,
    publisher_as_read: RowAsRead | None,
    prepared: OrderPrepared | None,
) -> Order:
    if not intake_reads_kept():
        if publisher_as_read is not None:
            raise ValueError("A kept publisher needs intake_reads_kept().")
        return _place(request=request, publisher=publisher, read=None)
    write: Callable[[], Order]
    if (
        prepared is not None
        and publisher_as_read is None
        and prepared.request == request
        and prepared.take()
    ):
        read = prepared.read
        write = partial(_write, prepared)
    else:
        read = [publisher_as_read] if publisher_as_read is not None else []
        write = partial(_place, request=request, publisher=publisher, read=read)
    try:
        try:
            return write()
        except OrderRefused:
            # Refused (a duplicate, a shipping method without a rate) on what may be kept
            # rows: answered only once they are known to hold still.
            if read:
                rows_unchanged_confirm(read)
            raise
    except RowsChanged:
        # A row changed after this process kept (or prepared from) it: nothing was written,
        # and none of the rows is kept any longer. A product, a rate or the publisher's
        # settings of a prepared order: the order is placed again from the rows as they are
        # now. The publisher's the credentials rest on: they are to be checked again, by the
        # caller.
        cached_rows_forget(read)
        if publisher_as_read is not None:
            raise
        return _place(request=request, publisher=publisher, read=None)


def intake_reads_kept() -> bool:
    """Whether intake may take its product and rate (and its caller the publisher,
    `publisher_as_read`) from this process's memory (PRESSRUN_INTAKE_CACHED_READS): where
    the write checks them at little cost. On PostgreSQL that is within its one statement
    (INTAKE_ONE_STATEMENT, without group commit), so that the check costs no round trip of
    its own. On SQLite it is one statement inside the write transaction instead of three
    reads before it: the write lock, taken at BEGIN, keeps every other writer out from the
    check to COMMIT."""
    if not (settings.INTAKE_CACHED_READS and settings.INTAKE_PREPARED_WRITES):
        return False
    if connection.vendor == "sqlite":
        return True
    return (
        settings.INTAKE_ONE_STATEMENT
        and not settings.INTAKE_GROUP_COMMIT
        and connection.vendor == "postgresql"
    )


@dataclass(frozen=True)
class OrderPrepared:
    """An order validated, priced and laid out (`order_prepare`), to be written by
    `order_place` in a transaction opened later, at most once.

    What it was computed from is required unchanged by its write: the publisher's row (but
    its balance, which only guides the debit's guess), each product's and the rate's (`read`).
    Not checked again: its time (`now`, a few milliseconds old when written)."""

    request: OrderRequest  # its publisher_id names the publisher it was prepared for
    rows: dict[str, Any]
    read: list[RowAsRead]
    # Its statements compiled (`_compiled_write`); None: compiled when written.
    compiled: Callable[[], tuple[Order, list[OrderLine]]] | None = None
    _taken: list[bool] = dataclasses.field(default_factory=list, compare=False, repr=False)

    def take(self) -> bool:
        """True the first time only: what was prepared is written once (its rows' instances
        get their ids); asked again, the order is prepared afresh."""
        if self._taken:
            return False
        self._taken.append(True)
        return True


def order_prepare(*, request: OrderRequest, publisher: Publisher) -> OrderPrepared | None:
    """Validate, price and lay out an order ahead of the transaction that will write it
    (`order_place(prepared=...)`), for a caller whose transaction holds the write lock on
    SQLite while it lasts (a cart's delivery): what intake reads and computes then holds it
    no longer. None where intake cannot check at its write that the rows it read still hold
    (`intake_reads_kept`), or when the order would be refused: `order_place` then does all
    the work, and refuses it, as without preparing. Writes nothing."""
    if not intake_reads_kept():
        return None
    read: list[RowAsRead] = []
    try:
        rows = _prepare(request=request, publisher=publisher, read=read)
    except OrderRefused:
        return None
    # The publisher's row and every product's, required unchanged as the rate's and a kept
    # product's already are: read before the caller's transaction, they may change before
    # it writes (a price, the default mail method, the webhook events wanted).
    kept = {(row.model, row.pk) for row in read}
    read.append(accounts.publisher_as_read(publisher))
    read.extend(
        row_as_read(project)
        for project in rows["projects"].values()
        if (Project, project.pk) not in kept
    )
    return OrderPrepared(
        request=request, rows=rows, read=read, compiled=_compiled_write(**rows, unchanged=read)
    )


def _place(*, request: OrderRequest, publisher: Publisher, read: list[RowAsRead] | None) -> Order:
    """`order_place`; with `read`, from rows this process may have kept, each required
    unchanged by the write (RowsChanged otherwise, with nothing written)."""
    rows = _prepare(request=request, publisher=publisher, read=read)
    return _write(OrderPrepared(request=request, rows=rows, read=read or []))


def _prepare(
    *, request: OrderRequest, publisher: Publisher, read: list[RowAsRead] | None
) -> dict[str, Any]:
    """What `_write` writes: the order's fields, its products and lines, computed from the
    request and the rows read (`read`: see `_place`). Raises OrderRefused."""
    _check_options(request)
    recipient = _clean_recipient(request)
    merged = _merge_lines(request)
    projects = _load_projects(publisher, [project_id for project_id, _ in merged], read)
    invoice = request.invoice.strip()
    email_key = recipient.email.lower() if not invoice else ""
    mail_method = request.mail_method or publisher.default_mail_method
    try:
        shipping_method, price = order_price(
            items=[(projects[pid].packaging, projects[pid].price, qty) for pid, qty in merged],
            mail_method=mail_method,
            country=recipient.country,
            read=read,
        )
    except PriceListIncomplete as exc:
        raise OrderRefused(Refusal.PRICE_LIST_INCOMPLETE, exc.message) from exc

    now = timezone.now()
    fields: dict[str, Any] = {
        "publisher": publisher,
        "mode": request.mode,
        "status": OrderStatus.TEST if request.mode == Mode.TEST else OrderStatus.HOLD,
        "invoice": invoice,
        "source": request.source,
        "external_ref": request.external_ref,
        "store": request.store[:255],
        "email": recipient.email,
        "name": recipient.name,
        "company": recipient.company,
        "address": recipient.address,
        "city": recipient.city,
        "state": recipient.state,
        "postal_code": recipient.postal_code,
        "country": recipient.country,
        "mail_method": mail_method,
        "shipping_method": shipping_method,
        "special_text": request.special_text.strip(),
        "customer_price": request.customer_price,
        "use_price_on_customs_form": request.use_price_on_customs_form,
        "send_notification_email": request.send_notification_email,
        "products_cost": price.products,
        "shipping_cost": price.shipping,
        "total_cost": price.total,
        "address_changes_until": (
            now + timedelta(hours=publisher.postage_delay_hours)
            if publisher.customer_address_changes
            else None
        ),
        "created_at": now,
    }
    return {
        "fields": fields,
        "request": request,
        "projects": projects,
        "merged": merged,
        "invoice": invoice,
        "email_key": email_key,
        "now": now,
    }


def _write(prepared: OrderPrepared) -> Order:
    """Write the order `_prepare` laid out; its rows as read (`prepared.read`) required
    unchanged. Raises OrderRefused (a duplicate) and RowsChanged, with nothing written."""
    order_rows = prepared.rows
    invoice = order_rows["invoice"]
    try:
        if prepared.compiled is not None:
            order, lines = prepared.compiled()
        elif settings.INTAKE_PREPARED_WRITES:
            order, lines = _compiled_write(**order_rows, unchanged=prepared.read)()
        else:
            order, lines = _write_with_orm(**order_rows)
    except IntegrityError as exc:
        if invoice:
            raise _duplicate_invoice(
                invoice=invoice,
                mode=prepared.request.mode,
                project_ids=list(order_rows["projects"]),
            ) from exc
        raise
    for line in lines:
        line.order = order
    order._prefetched_objects_cache = {"lines": lines}  # type: ignore[attr-defined]
    return order


# The events name their order by id: intake builds them before the order's INSERT, with the
# order's id still PENDING_ID (core.prepared).
def _placed_event(*, order: Order, request: OrderRequest, now: datetime) -> OrderEvent:
    return OrderEvent(
        order_id=order.id,
        at=now,
        kind="placed",
        to_status=OrderStatus.TEST if order.mode == Mode.TEST else OrderStatus.HOLD,
        message=f"{request.mode} order from {request.source}, {format_money(order.total_cost)}.",
        actor=request.actor or request.source,
        # The worker's relay hands the order to the follow-ups (the placed email, the
        # address check) from this row: intake writes no task rows (`orders.relay`).
        relay_pending=True,
    )


def _charged_event(*, order: Order, request: OrderRequest, now: datetime) -> OrderEvent:
    return OrderEvent(
        order_id=order.id,
        at=now,
        kind="charged",
        from_status=OrderStatus.HOLD,
        to_status=OrderStatus.PROCESSING,
        to_state=order.fulfillment_state,
        message=f"Paid from balance: {format_money(order.total_cost)}.",
        actor=request.actor or request.source,
    )


def _new_lines(
    *,
    order_id: int,
    request: OrderRequest,
    projects: dict[int, Project],
    merged: list[tuple[int, int]],
    invoice: str,
    email_key: str,
    now: datetime,
) -> list[OrderLine]:
    return [
        OrderLine(
            order_id=order_id,
            project=projects[pid],
            position=position,
            quantity=quantity,
            unit_price=projects[pid].price,
            mode=request.mode,
            invoice=invoice,
            email_key=email_key,
            created_at=now,
        )
        for position, (pid, quantity) in enumerate(merged, start=1)
    ]


def _enter_paid(order: Order, *, now: datetime) -> None:
    # Paid at once: the order enters fulfillment in the same INSERT (waiting for its postage
    # window, or ready), so intake writes no extra row for it.
    order.status = OrderStatus.PROCESSING
    order_enter_fulfillment(order, now=now)
    order.charged_at = now


class _OutcomeRows(NamedTuple):
    """An outcome's INSERTs (the order's first) and its `OrderPlaced` subscribers' writes."""

    inserts: list[PreparedInsert]
    publication: Publication


def _placed_publication(order: Order) -> Publication:
    # The subscribers prepare their writes for the order as it will be inserted, its id
    # PENDING_ID until the INSERT gives it the real one (core/events.py).
    assert order.id == PENDING_ID
    return publication_prepare(OrderPlaced(order=order))


def _joined_write(
    rows: _OutcomeRows,
    line_inserts: list[PreparedInsert],
    debit: PreparedUpdate | None,
    *,
    expect_paid: bool,
    unchanged: Sequence[RowAsRead],
) -> tuple[JoinedInsert, list[Callable[[], None]]] | None:
    """On PostgreSQL (INTAKE_ONE_STATEMENT): the outcome's rows, its subscribers' rows and
    the debit as one statement (`core.prepared.JoinedInsert`), with what must follow each
    subscriber's row; None elsewhere, or when a subscriber's write is not one INSERT."""
    if connection.vendor != "postgresql" or not settings.INTAKE_ONE_STATEMENT:
        return None
    inserts, publication = rows
    parts = _subscriber_inserts(publication)
    if parts is None:
        return None
    order_insert, *rest = inserts
    followers = [*line_inserts, *rest, *(insert for insert, _ in parts)]
    # The statement fails unless the debit decided as guessed: then it may run on its own.
    statement = JoinedInsert(
        order_insert,
        followers,
        debit,
        last_count=None if debit is None else int(expect_paid),
        unchanged=unchanged,
    )
    return statement, [follow_up for _, follow_up in parts]


def _subscriber_inserts(
    publication: Publication,
) -> list[tuple[PreparedInsert, Callable[[], None]]] | None:
    """The subscribers' prepared writes as INSERTs, each with what must follow it in the
    transaction, for a write that runs them within its own statements (`JoinedInsert`, the
    SQLite writer's program); None when one of them is not a single INSERT."""
    parts = [
        as_insert()
        for write in publication.writes
        if (as_insert := getattr(write, "as_insert", None))
    ]
    return parts if len(parts) == len(publication.writes) else None


def _stands_alone(publication: Publication) -> bool:
    """Whether intake's one statement may run without a transaction around it: no caller's
    transaction is open (the statement would be part of it, and its failure the caller's),
    and no subscriber runs in the transaction after it (`Publication.notify`)."""
    return not publication.handlers and connection.get_autocommit()


class _OutcomeGuessedWrong(Exception):
    """The debit, run last, decided against the outcome whose rows were written."""


def _compiled_write(
    *,
    fields: dict[str, Any],
    request: OrderRequest,
    projects: dict[int, Project],
    merged: list[tuple[int, int]],
    invoice: str,
    email_key: str,
    now: datetime,
    unchanged: Sequence[RowAsRead],
) -> Callable[[], tuple[Order, list[OrderLine]]]:
    """Intake's write with its statements compiled first (`core.prepared`), returned to be
    run once: at once, or for a cart's delivery once its transaction is open
    (`order_prepare`). The rows of the debit's likely outcome (paid at once when the balance
    read with the publisher covers the order, else HOLD) are built and compiled before the
    transaction, which then only runs the duplicate check, the debit, the INSERTs of the
    outcome the debit chose and the subscribers. When a concurrent payment or order proved
    the guess wrong, the other outcome's rows are compiled inside the transaction: slower,
    as correct. On SQLite every writer of every process waits while a transaction is open,
    so what it holds the lock for is kept to the statements (docs/performance.md, "the write
    path"). On PostgreSQL the debit runs last, so the publisher's row is locked for the
    shortest time, and the rows and the debit are one statement, which is its own
    transaction (no `BEGIN`, no `COMMIT`) when nothing else must share it (`_stands_alone`).

    The `unchanged` rows must still hold the values read: the one statement requires it,
    and any other way of writing checks it first in its transaction (RowsChanged, nothing
    written)."""
    total = fields["total_cost"]
    prod = fields["mode"] == Mode.PROD
    publisher: Publisher = fields["publisher"]
    # Rows naming the order carry PENDING_ID until the order's INSERT has given it its id.
    lines = _new_lines(
        order_id=PENDING_ID,
        request=request,
        projects=projects,
        merged=merged,
        invoice=invoice,
        email_key=email_key,
        now=now,
    )
    line_inserts = [prepare_insert(line) for line in lines]

    def held_rows() -> _OutcomeRows:
        held = Order(**fields, id=PENDING_ID)
        return _OutcomeRows(
            [
                prepare_insert(held),
                prepare_insert(_placed_event(order=held, request=request, now=now)),
            ],
            _placed_publication(held),
        )

    def paid_rows() -> _OutcomeRows:
        paid = Order(**fields, id=PENDING_ID)
        _enter_paid(paid, now=now)
        entry = ledger_order_charge_entry(
            publisher_id=publisher.id, order_id=PENDING_ID, amount=total, at=now
        )
        return _OutcomeRows(
            [
                prepare_insert(paid),
                prepare_insert(entry),
                prepare_insert(_placed_event(order=paid, request=request, now=now)),
                prepare_insert(_charged_event(order=paid, request=request, now=now)),
            ],
            _placed_publication(paid),
        )

    debit = balance_debit_prepare(publisher_id=publisher.id, amount=total) if prod else None
    expect_paid = prod and publisher.balance >= total
    expected = paid_rows() if expect_paid else held_rows()
    joined = _joined_write(
        expected, line_inserts, debit, expect_paid=expect_paid, unchanged=unchanged
    )

    def write(*, debit_last: bool) -> Order:
        database = transaction.get_connection()
        # Written otherwise than by the one statement, which requires them itself, the kept
        # rows are checked by a statement of their own: on SQLite first (the write lock,
        # taken at BEGIN, keeps every other writer out until COMMIT); elsewhere after the
        # debit, so that a change of the row the credentials rest on, committed before the
        # debit, is seen. A debit that takes the money locks the publisher's row until
        # COMMIT, so no later change commits between the check and the write; an order that
        # takes none (held, or a test) writes nothing to the row and comes before such a
        # change.
        check = bool(unchanged) and not (debit_last and joined is not None)
        check_first = check and database.vendor == "sqlite"
        # SQLite: the compiled statements below share one cursor (core.prepared.one_cursor).
        with one_cursor(database):
            if check_first:
                rows_unchanged_require(unchanged)
            if email_key:
                _lock_projects_and_check_email(
                    project_ids=sorted(projects), mode=request.mode, email_key=email_key, now=now
                )
            if debit_last:
                # The rows of the guessed outcome first, the debit last: on PostgreSQL the debit
                # locks the publisher's row until COMMIT, and every other order of this
                # publisher waits for that lock; taken last, it is held for one statement and
                # the COMMIT instead of the whole transaction. A debit that decides against the
                # guess rolls this attempt back (`_OutcomeGuessedWrong`) for one debit-first.
                if joined is not None:
                    # The rows, the subscribers' and the debit as one statement (PostgreSQL).
                    order, publication = write_joined(joined)
                else:
                    # The rows after the order's and the debit go out together (core.prepared
                    # .pipelined): the transaction waits for PostgreSQL four times, not nine.
                    with pipelined(database):
                        order, publication = write_rows(expect_paid, expected)
                        debited = debit.send() if debit is not None else None
                    charged = debited is not None and debited() == 1
                    if charged != expect_paid:
                        raise _OutcomeGuessedWrong
                    if check and not check_first:
                        rows_unchanged_require(unchanged)
            else:
                # Debit first, so the order is written once with its final status.
                charged = debit is not None and debit.execute() == 1
                if check and not check_first:
                    rows_unchanged_require(unchanged)
                if charged != expect_paid:
                    # A kept publisher's balance may be what misled the guess.
                    cached_rows_forget(row for row in unchanged if row.model is Publisher)
                with pipelined(database):
                    order, publication = write_rows(
                        charged, expected if charged == expect_paid else None
                    )
        # Told in this transaction: what the subscribers queue (the customer's
        # notification, the HOLD reminder) exists exactly if the order does. Those without
        # prepared writes use the ORM, so they run after the pipeline.
        publication.notify()
        return order

    def write_joined(
        joined: tuple[JoinedInsert, list[Callable[[], None]]],
    ) -> tuple[Order, Publication]:
        statement, inserted = joined
        try:
            statement.execute()
        except UpdateCountDiffers:
            raise _OutcomeGuessedWrong from None
        for follow_up in inserted:
            follow_up()
        return cast(Order, expected.inserts[0].instance), expected.publication

    def write_rows(paid: bool, rows: _OutcomeRows | None) -> tuple[Order, Publication]:
        inserts, publication = rows or (paid_rows() if paid else held_rows())
        order_insert, *rest = inserts
        order_id = order_insert.execute()
        for statement in (*line_inserts, *rest):
            statement.send(order_id)
        publication.write(order_id)
        order = order_insert.instance
        assert isinstance(order, Order)
        return order, publication

    def through_writer(path: str) -> tuple[Order, list[OrderLine]] | None:
        """The order written by the SQLite writer process (`core.sqlite.writer`); None when
        it is this process's to write: the writer cannot take it, is not running, or found
        the debit deciding against the guessed outcome."""
        if email_key:
            # The rule for orders without an invoice reads under the products' lock: it is
            # not a statement of the program's.
            return None
        built = _writer_program(
            expected, line_inserts, debit, expect_paid=expect_paid, unchanged=unchanged
        )
        if built is None:
            return None
        program, rows, follow_ups = built
        try:
            answer = sqlite_writer.writer_submit(path, program)
        except sqlite_writer.WriterUnavailable as exc:
            sqlite_writer.written_around_warn(path, exc)
            return None
        except sqlite_writer.AnswerLost:
            return found_or_written(rows, follow_ups)
        if answer.kind == sqlite_writer.UNKNOWN:
            # Its group's COMMIT failed: perhaps committed all the same.
            return found_or_written(rows, follow_ups)
        if answer.kind == sqlite_writer.COMMITTED:
            order_id = answer.ids[0]
            for row, new_id in zip(rows, answer.ids, strict=True):
                row.written(order_id, new_id)
            # Announcing the queued tasks (`on_commit`, run at once: no transaction is open).
            for follow_up in follow_ups:
                follow_up()
            return cast(Order, rows[0].instance), lines
        if answer.kind == sqlite_writer.ROWS_CHANGED:
            raise rows_changed(unchanged[answer.detail])
        if answer.kind == sqlite_writer.DUPLICATE:
            raise IntegrityError(answer.detail)
        if answer.kind == sqlite_writer.OTHER_OUTCOME:
            # A kept publisher's balance may be what misled the guess.
            cached_rows_forget(row for row in unchanged if row.model is Publisher)
        else:
            logger.warning("The SQLite writer could not write an order (%s).", answer.detail)
        return None

    def found_or_written(
        rows: list[PreparedInsert], follow_ups: list[Callable[[], None]]
    ) -> tuple[Order, list[OrderLine]]:
        """No answer came: the writer may have committed the order. Under the write lock (no
        transaction of the writer's is open then), it is looked up by its customer token,
        unique and made here; if it is not there, it is written here."""
        sent = cast(Order, rows[0].instance)
        with transaction.atomic():
            found = (
                Order.objects.filter(customer_token=sent.customer_token)
                .select_related("publisher")
                .first()
            )
            if found is None:
                return write(debit_last=False), lines
        # Written by the writer: its queued tasks (rows with keys of their own, made here)
        # are announced as the writer's answer would have had them.
        for row in rows:
            if not row.generated_pk:
                row.written(found.id, None)
        for follow_up in follow_ups:
            follow_up()
        found_lines = list(found.lines.select_related("project").order_by("id"))
        found._prefetched_objects_cache = {"lines": found_lines}  # type: ignore[attr-defined]
        return found, found_lines

    def run() -> tuple[Order, list[OrderLine]]:
        path = _writer_path()
        if path is not None and (written := through_writer(path)) is not None:
            return written
        if settings.INTAKE_GROUP_COMMIT:
            # Orders of this process's threads that arrive together share one transaction
            # (core/group_commit.py); this returns once the one holding this order committed.
            # SQLite's one write lock is held for the whole transaction whatever its order.
            order = _intake_group.run(lambda: write(debit_last=False))
        else:
            try:
                if joined is not None and not email_key and _stands_alone(expected.publication):
                    # The one statement is its own transaction (PostgreSQL): no BEGIN and no
                    # COMMIT to wait for. What follows the subscribers' rows (announcing a
                    # queued task once committed) then runs at once, the statement committed.
                    order, _ = write_joined(joined)
                else:
                    with transaction.atomic():
                        order = write(debit_last=connection.features.has_select_for_update)
            except _OutcomeGuessedWrong:
                # A kept publisher's balance may be what misled the guess: read it next time.
                cached_rows_forget(row for row in unchanged if row.model is Publisher)
                with transaction.atomic():
                    order = write(debit_last=False)
        return order, lines

    return run


def _writer_path() -> str | None:
    """The SQLite writer's socket where intake's orders go to it (PRESSRUN_SQLITE_WRITER):
    on a SQLite file, with no caller's transaction open (a cart's delivery writes its order
    with its outcome, in its own transaction)."""
    if not settings.SQLITE_WRITER or connection.vendor != "sqlite":
        return None
    if cast(Any, connection).is_in_memory_db() or not connection.get_autocommit():
        return None
    return sqlite_writer.socket_path(str(connection.settings_dict["NAME"]))


def _writer_program(
    rows: _OutcomeRows,
    line_inserts: list[PreparedInsert],
    debit: PreparedUpdate | None,
    *,
    expect_paid: bool,
    unchanged: Sequence[RowAsRead],
) -> tuple[sqlite_writer.WriteProgram, list[PreparedInsert], list[Callable[[], None]]] | None:
    """The guessed outcome's write as a program of plain values for the SQLite writer, with
    its rows in the program's order and what must follow the subscribers' rows once
    committed; None when a subscriber writes through the ORM or a row cannot be said in
    plain values."""
    inserts, publication = rows
    parts = _subscriber_inserts(publication)
    if publication.handlers or parts is None:
        return None
    order_insert, *rest = inserts
    ordered = [order_insert, *line_inserts, *rest, *(insert for insert, _ in parts)]
    steps = []
    for insert in ordered:
        step = insert.as_step()
        if step is None:
            return None
        sql, params, pending = step
        steps.append(sqlite_writer.InsertStep(sql, params, pending, insert.generated_pk))
    check = None
    if unchanged:
        check_sql, check_params = rows_unchanged_check(unchanged)
        if (plain_check := plain_params(check_params)) is None:
            return None
        check = (check_sql, plain_check)
    debit_step = None
    if debit is not None:
        if (plain_debit := plain_params(debit.params)) is None:
            return None
        debit_step = (debit.sql, plain_debit)
    program = sqlite_writer.WriteProgram(
        inserts=tuple(steps), check=check, debit=debit_step, expect_paid=expect_paid
    )
    return program, ordered, [follow_up for _, follow_up in parts]


def _write_with_orm(
    *,
    fields: dict[str, Any],
    request: OrderRequest,
    projects: dict[int, Project],
    merged: list[tuple[int, int]],
    invoice: str,
    email_key: str,
    now: datetime,
) -> tuple[Order, list[OrderLine]]:
    """Intake's write through the ORM inside the transaction (PRESSRUN_INTAKE_PREPARED_WRITES
    =0): the same rows as `_compiled_write`, kept so the two can be compared."""
    order = Order(**fields)
    with transaction.atomic():
        if email_key:
            _lock_projects_and_check_email(
                project_ids=sorted(projects), mode=request.mode, email_key=email_key, now=now
            )
        # Debit first, so the order is written once with its final status.
        charged = order.mode == Mode.PROD and balance_debit_if_covered(
            publisher_id=order.publisher_id, amount=order.total_cost
        )
        if charged:
            _enter_paid(order, now=now)
        order.save(force_insert=True)
        lines = OrderLine.objects.bulk_create(
            _new_lines(
                order_id=order.id,
                request=request,
                projects=projects,
                merged=merged,
                invoice=invoice,
                email_key=email_key,
                now=now,
            )
        )
        events = [_placed_event(order=order, request=request, now=now)]
        if charged:
            ledger_record_order_charge(order=order)
            events.append(_charged_event(order=order, request=request, now=now))
        OrderEvent.objects.bulk_create(events)
        publish(OrderPlaced(order=order))
    return order, lines


def _lock_projects_and_check_email(
    *, project_ids: list[int], mode: str, email_key: str, now: Any
) -> None:
    # On PostgreSQL the row locks serialize orders for the same products until commit; SQLite
    # takes the database write lock at BEGIN IMMEDIATE, which serializes them anyway.
    if connection.features.has_select_for_update:
        list(Project.objects.select_for_update().filter(id__in=project_ids).order_by("id"))
    earlier = (
        OrderLine.objects.filter(
            project_id__in=project_ids,
            mode=mode,
            invoice="",
            email_key=email_key,
            created_at__gt=now - EMAIL_DUPLICATE_WINDOW,
        )
        .select_related("order")
        .order_by("-created_at")
        .first()
    )
    if earlier is not None:
        raise OrderRefused(
            Refusal.DUPLICATE,
            f"This is a duplicate order. Order {earlier.order_id}, taken by our server at "
            f"{earlier.created_at:%Y-%m-%d %H:%M:%S} UTC, was placed for the same email "
            f"({email_key[:60]}) and product {earlier.project_id} within the last 5 days, so "
            "this order will not be filled. Open the recent orders list in your dashboard to "
            "see it. Use a unique invoice for each order to prevent this.",
            order_id=earlier.order_id,
        )


def _duplicate_invoice(*, invoice: str, mode: str, project_ids: list[int]) -> OrderRefused:
    earlier = (
        OrderLine.objects.filter(project_id__in=project_ids, mode=mode, invoice=invoice)
        .order_by("created_at")
        .first()
    )
    taken = (
        f"Order {earlier.order_id}, taken by our server at "
        f"{earlier.created_at:%Y-%m-%d %H:%M:%S} UTC, already used invoice '{invoice}' "
        f"for product {earlier.project_id}"
        if earlier is not None
        else f"Invoice '{invoice}' was already used for one of these products"
    )
    return OrderRefused(
        Refusal.DUPLICATE,
        f"This is a duplicate order. {taken}, so this order will not be filled. Open the "
        "recent orders list in your dashboard to see it. Use a unique invoice for each order "
        "to prevent this.",
        order_id=earlier.order_id if earlier else None,
    )
