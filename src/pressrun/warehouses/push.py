"""The push protocol's outbound half: pressrun POSTs each order of a push connection (one
with a `push_url`) to that URL, signed (signing.py), and retries on a schedule with every
attempt logged (docs/warehouses.md, "A WMS with an API, step by step").

- **When**: an order of a push connection that becomes open (routing, or a rule that now
  fits its description) gets its `WarehousePush` row and its task in the same transaction
  (`warehouse_push_queue`, an outbox); the sweep (`warehouse_pushes_sweep`) queues the open
  orders that have none (a connection switched to push later) and the pushes nothing would
  send (a lost task).
- **What**: the order as JSON (`push_body`), fixed at the first attempt under the order's
  row lock: from then on no line joins the order (`orders.warehouse_order_add`), and every
  attempt sends the same bytes under the same idempotency key (in the body and the
  `Idempotency-Key` header), so a warehouse that saw an attempt whose answer was lost takes
  the retry as the same order, and never makes two.
- **An attempt** claims the row first (PENDING → SENDING, owned by the claiming worker, as
  webhooks do); a claim whose worker died (killed mid-push) is taken over by the next run
  of the task, which the worker recovery queues again. A 2xx is accepted: the order becomes
  routed. A 4xx other than 408, 425 and 429 is refused: the order goes to error with the
  warehouse's answer; "Send again" tries anew. Anything else (5xx, those three, a 3xx, a
  timeout, no connection) is retried after `RETRY_SCHEDULE`; after the last attempt the
  push is given up and the order goes to error (about 40 hours: a warehouse down for an
  hour, or a night, still gets its orders).
- A connection that no longer pushes (its URL removed) cancels its pending pushes: the
  warehouse pulls those orders instead (those still open go out if it pushes again). A
  disabled connection's pushes wait, unsent, until it is enabled again (the sweep then
  queues them).
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.core.faults import fault_point
from pressrun.core.outbound import (
    PostResult,
    outbound_attempt_record,
    outbound_claim,
    outbound_next_attempt_at,
    outbound_row_restart,
    outbound_still_ours,
    stranded_rows_requeue,
)
from pressrun.core.sealed import seal, unseal
from pressrun.core.selectors import claim_abandoned_q
from pressrun.core.tasks import ids_without_pending_run
from pressrun.warehouses.models import (
    PushStatus,
    WarehouseConnection,
    WarehouseOrder,
    WarehouseOrderState,
    WarehousePush,
    WarehousePushAttempt,
)
from pressrun.warehouses.selectors import warehouse_order_number
from pressrun.warehouses.signing import (
    ATTEMPT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    secret_generate,
    signature,
)
from pressrun.warehouses.states import MoveRefused, warehouse_order_move
from pressrun.webhooks import client

logger = logging.getLogger(__name__)
S = WarehouseOrderState

# Minutes between a failed attempt and the next: doubling to an hour, then every few hours,
# about 40 hours in all; after the last the push is given up.
RETRY_SCHEDULE: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 60, 120, 240, 480, 720, 720)
ATTEMPTS = len(RETRY_SCHEDULE) + 1
# A claim made outside `pressrun worker` (tasks run inline) is judged by its age alone: far
# longer than an attempt can take.
UNOWNED_CLAIM_TIMEOUT = timedelta(minutes=15)
# 4xx answers that mean "not now" rather than "never": retried like a 5xx.
RETRIED_CLIENT_ERRORS = frozenset({408, 425, 429})
IDEMPOTENCY_PREFIX = "whpush_"
MESSAGE_TYPE = "order"
USER_AGENT = "pressrun-warehouse-push/1"
PROTOCOL_VERSION = 1


class PushSettingsInvalid(DomainError):
    """The push settings cannot be saved (nothing written)."""


class PushRefused(DomainError):
    """A push cannot be sent again now; the message says why."""


# --- settings --------------------------------------------------------------------------------


def warehouse_push_configure(*, connection_id: int, url: str) -> tuple[WarehouseConnection, str]:
    """Set (or, with an empty `url`, remove) the connection's push URL; the URL is checked
    as a webhook endpoint is (a public https address: `webhooks.client.endpoint_url_check`).
    The first time, the signing secret is generated. Returns the connection and the new
    secret ("" when it was not new): shown once. Raises PushSettingsInvalid, or
    WarehouseConnection.DoesNotExist."""
    url = url.strip()
    if url:
        try:
            client.endpoint_url_check(url)
        except client.UrlRefused as exc:
            raise PushSettingsInvalid(exc.message) from None
    new_secret = ""
    with transaction.atomic():
        connection = WarehouseConnection.objects.select_for_update().get(id=connection_id)
        if connection.publisher_id is None:
            raise PushSettingsInvalid("pressrun's own shipping station pulls its orders.")
        fields = ["push_url"]
        if url and not connection.push_secret_sealed:
            new_secret = secret_generate()
            connection.push_secret_sealed = seal(new_secret)
            connection.push_secret_created_at = timezone.now()
            fields += ["push_secret_sealed", "push_secret_created_at"]
        connection.push_url = url
        connection.save(update_fields=fields)
        if url:
            # The orders waiting to be pulled are pushed now (the sweep would, a little later).
            for order_id in _open_without_push(connection.id):
                warehouse_push_queue(order_id=order_id)
    return connection, new_secret


def warehouse_push_secret_rotate(*, connection_id: int) -> str:
    """Give the connection a new signing secret and return it (shown once). From now on every
    push is signed with it, and only it signs the warehouse's confirmations and reports.
    Raises WarehouseConnection.DoesNotExist, PushSettingsInvalid for pressrun's own station."""
    new_secret = secret_generate()
    with transaction.atomic():
        connection = WarehouseConnection.objects.select_for_update().get(id=connection_id)
        if connection.publisher_id is None:
            raise PushSettingsInvalid("pressrun's own shipping station has no push secret.")
        connection.push_secret_sealed = seal(new_secret)
        connection.push_secret_created_at = timezone.now()
        connection.save(update_fields=["push_secret_sealed", "push_secret_created_at"])
    return new_secret


def warehouse_push_secret(connection: WarehouseConnection) -> str:
    """The connection's signing secret in clear ("" when it has none, or it was sealed under
    another key: rotate it)."""
    return unseal(connection.push_secret_sealed)


# --- the order's JSON --------------------------------------------------------------------


def push_body(order: WarehouseOrder, *, idempotency_key: str) -> str:
    """The order as the warehouse is sent it (the schema is in docs/warehouses.md)."""
    lines = [
        {
            "line_item_id": str(line.id),
            "sku": line.warehouse_sku,
            "channel_sku": line.channel_sku,
            "title": line.title,
            "quantity": line.quantity,
        }
        for line in order.lines.order_by("id")
    ]
    message = {
        "type": MESSAGE_TYPE,
        "version": PROTOCOL_VERSION,
        "id": warehouse_order_number(order.id),
        "idempotency_key": idempotency_key,
        "test": order.test,
        "created_at": order.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "cart": order.cart,
        "cart_order_name": order.cart_order_name,
        "shipping_description": order.shipping_description,
        "carrier_code": order.carrier_code,
        "ship_to": {
            "name": order.ship_name,
            "company": order.ship_company,
            "address": order.ship_address,
            "city": order.ship_city,
            "state": order.ship_state,
            "postal_code": order.ship_postal_code,
            "country": order.ship_country,
            "email": order.ship_email,
        },
        "lines": lines,
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


# --- queueing --------------------------------------------------------------------------------


def warehouse_push_queue(*, order_id: int) -> WarehousePush | None:
    """Queue the push of an open order of a push connection: its row and its task, in the
    caller's transaction (an outbox). Returns the push, or None when there is nothing to
    push (not a push connection, a test order, not open) or it has its push already (once
    per order: "Send again" sends a refused one anew; one cancelled while the warehouse
    pulled is queued again here)."""
    from pressrun.warehouses.tasks import warehouse_push_send

    with transaction.atomic():
        order = (
            WarehouseOrder.objects.select_for_update()
            .select_related("connection")
            .filter(id=order_id)
            .first()
        )
        if order is None or order.test or order.state != S.OPEN or not order.connection.push_url:
            return None
        now = timezone.now()
        existing = WarehousePush.objects.select_for_update().filter(order_id=order_id).first()
        if existing is not None:
            if existing.status != PushStatus.CANCELLED:
                return None
            # Cancelled when the warehouse went back to pulling, and not pulled meanwhile: it
            # pushes again, so the order goes out (same body and key if it was ever sent).
            existing.status = PushStatus.PENDING
            existing.series_attempts = 0
            existing.next_attempt_at = now
            existing.last_error = ""
            existing.save()
            warehouse_push_send.enqueue(push_id=existing.id)
            return existing
        push = WarehousePush.objects.create(
            order=order,
            connection_id=order.connection_id,
            idempotency_key=IDEMPOTENCY_PREFIX + secrets.token_hex(16),
            created_at=now,
            next_attempt_at=now,
        )
        fault_point("warehouse_push_queued_before_task")
        warehouse_push_send.enqueue(push_id=push.id)
    return push


def warehouse_push_again(*, publisher_id: int, push_id: int) -> WarehousePush:
    """The dashboard's "Send again": a refused, given-up or cancelled push is sent again now,
    with the same body and idempotency key, on a new series of attempts. The order, in error
    meanwhile, becomes routed once accepted. Raises WarehousePush.DoesNotExist for another
    publisher's push, PushRefused while it is still being sent or was accepted."""
    from pressrun.warehouses.tasks import warehouse_push_send

    with transaction.atomic():
        push = WarehousePush.objects.select_for_update().get(
            id=push_id, connection__publisher_id=publisher_id
        )
        if push.status in (PushStatus.PENDING, PushStatus.SENDING):
            raise PushRefused("It is being sent: its next attempt is scheduled.")
        if push.status == PushStatus.DELIVERED:
            raise PushRefused("The warehouse has accepted it already.")
        outbound_row_restart(push, now=timezone.now())
        warehouse_push_send.enqueue(push_id=push.id)
    return push


# --- sending ---------------------------------------------------------------------------------


def pushes_claimable(*, now: datetime) -> QuerySet[WarehousePush]:
    """The pushes a run of `warehouse_push_send` may claim now: PENDING and due, or SENDING
    under a claim nobody holds any more (a dead worker). A live worker's claim is never
    here."""
    abandoned = Q(status=PushStatus.SENDING) & claim_abandoned_q(
        now=now, unowned_timeout=UNOWNED_CLAIM_TIMEOUT
    )
    due = Q(status=PushStatus.PENDING, next_attempt_at__lte=now)
    return WarehousePush.objects.filter(due | abandoned)


def _freeze_body(push_id: int) -> WarehousePush:
    """The push with its body, fixed now (under the order's row lock) if it was not."""
    with transaction.atomic():
        push = WarehousePush.objects.select_related("connection").get(id=push_id)
        if push.body:
            return push
        order = WarehouseOrder.objects.select_for_update().get(id=push.order_id)
        push.body = push_body(order, idempotency_key=push.idempotency_key)
        WarehousePush.objects.filter(id=push_id).update(body=push.body)
    return push


def _finish(*, push: WarehousePush, status: str, reason: str, now: datetime) -> None:
    """Move the order as the push's outcome says (inside the recording transaction)."""
    number = warehouse_order_number(push.order_id)
    current = (
        WarehouseOrder.objects.select_for_update()
        .filter(id=push.order_id)
        .values_list("state", flat=True)
        .first()
    )
    try:
        if status == PushStatus.DELIVERED:
            warehouse_order_move(order_id=push.order_id, to=S.ROUTED, at=now)
        elif status in (PushStatus.REFUSED, PushStatus.FAILED) and current in (S.OPEN, S.ERROR):
            # Only an order the warehouse has not shipped from stops: one it confirmed a
            # package of is the warehouse's, whatever its answer to the push.
            warehouse_order_move(order_id=push.order_id, to=S.ERROR, error=reason, at=now)
    except MoveRefused:
        # The order moved on meanwhile (a shipment confirmed before the push's answer came):
        # the warehouse has it, which is all the push was for.
        logger.info("push of %s: the order moved on, left as it is", number)


def warehouse_push_attempt(*, push_id: int, now: datetime | None = None) -> str:
    """Make one attempt of a push that is due and record it; returns the push's status
    afterwards, or "" when there was nothing to do (not due, finished, or held by a live
    worker). See the module docstring for what each answer does. A run that lost its claim
    meanwhile records nothing."""
    from pressrun.warehouses.tasks import warehouse_push_send

    now = now or timezone.now()
    if not outbound_claim(pushes_claimable(now=now), push_id, now=now):
        return ""
    fault_point("warehouse_push_claimed_before_send")
    connection = WarehouseConnection.objects.get(pushes__id=push_id)
    if not connection.enabled:
        # Switched off: nothing goes to the warehouse. The push waits, due, with no task;
        # once the connection is enabled the sweep queues it again.
        WarehousePush.objects.filter(**outbound_still_ours(push_id, now)).update(
            status=PushStatus.PENDING, claimed_by="", claimed_at=None
        )
        return PushStatus.PENDING
    push = _freeze_body(push_id)
    url = connection.push_url
    if not url:
        WarehousePush.objects.filter(**outbound_still_ours(push_id, now)).update(
            status=PushStatus.CANCELLED,
            next_attempt_at=None,
            claimed_by="",
            claimed_at=None,
            last_error="Not sent: the warehouse pulls its orders now.",
        )
        return PushStatus.CANCELLED
    number = WarehousePushAttempt.objects.filter(push_id=push_id).count() + 1
    series = push.series_attempts + 1
    body = push.body.encode("utf-8")
    secret = warehouse_push_secret(connection)
    if not secret:
        result = PostResult(error=client.SIGNING_KEY_LOST)
    else:
        headers = {
            TIMESTAMP_HEADER: str(int(now.timestamp())),
            SIGNATURE_HEADER: signature(secret=secret, timestamp=int(now.timestamp()), body=body),
            IDEMPOTENCY_HEADER: push.idempotency_key,
            ATTEMPT_HEADER: str(number),
            "User-Agent": USER_AGENT,
        }
        result = client.attempt(
            url,
            body=body,
            headers=headers,
            timeout=float(settings.WAREHOUSE_PUSH_TIMEOUT_SECONDS),
            what=f"push {push_id}",
        )
    fault_point("warehouse_push_sent_before_recorded")
    code = result.code
    accepted = result.accepted
    refused = code is not None and 400 <= code < 500 and code not in RETRIED_CLIENT_ERRORS
    next_at = None
    if not accepted and not refused:
        next_at = outbound_next_attempt_at(
            series=series, schedule=RETRY_SCHEDULE, attempts_allowed=ATTEMPTS, now=now
        )
    with transaction.atomic():
        fields = outbound_attempt_record(
            row_model=WarehousePush,
            attempt_model=WarehousePushAttempt,
            row_field="push",
            row_id=push_id,
            claimed_at=now,
            number=number,
            url=url,
            result=result,
            series=series,
            next_at=next_at,
            what=f"push {push_id}",
        )
        if fields is None:
            return ""
        reason = ""
        if accepted:
            status = PushStatus.DELIVERED
            fields["delivered_at"] = now
        elif refused:
            status = PushStatus.REFUSED
            excerpt = result.excerpt
            answer = f": {' '.join(excerpt.split())[:300]}" if excerpt.strip() else "."
            reason = f"The warehouse refused the order (HTTP {code}){answer}"
        elif next_at is not None:
            status = PushStatus.PENDING
            warehouse_push_send.using(run_after=next_at).enqueue(push_id=push_id)
        else:
            status = PushStatus.FAILED
            fields["gave_up_at"] = now
            reason = (
                f"The warehouse did not accept the order in {ATTEMPTS} attempts over about "
                f"{sum(RETRY_SCHEDULE) // 60} hours; the last failed with: {result.error}"
            )
        WarehousePush.objects.filter(id=push_id).update(status=status, **fields)
        _finish(push=push, status=status, reason=reason, now=now)
    if not accepted:
        logger.info("push %s attempt %d failed: %s", push_id, number, result.error)
    return status


# --- the sweep -------------------------------------------------------------------------------


def _open_without_push(connection_id: int | None = None) -> list[int]:
    """The open orders of enabled push connections that have no push, or one cancelled (by
    connection first, so the (connection, state) index serves the sweep's read)."""
    connections = WarehouseConnection.objects.filter(enabled=True).exclude(push_url="")
    if connection_id is not None:
        connections = connections.filter(id=connection_id)
    orders = WarehouseOrder.objects.filter(
        Q(push__isnull=True) | Q(push__status=PushStatus.CANCELLED),
        connection_id__in=list(connections.values_list("id", flat=True)),
        state=S.OPEN,
        test=False,
    )
    return list(orders.order_by("id").values_list("id", flat=True))


def stranded_push_ids(*, now: datetime) -> list[int]:
    """Pushes waiting to be sent (PENDING, or claimed by a worker that died) with no
    `warehouse_push_send` run queued or running. Rows are read before tasks (a row and its
    task are written in one transaction)."""
    from pressrun.warehouses.tasks import warehouse_push_send

    waiting = WarehousePush.objects.filter(
        status__in=[PushStatus.PENDING, PushStatus.SENDING], connection__enabled=True
    )
    candidates = list(
        waiting.filter(
            Q(status=PushStatus.PENDING)
            | (
                Q(status=PushStatus.SENDING)
                & claim_abandoned_q(now=now, unowned_timeout=UNOWNED_CLAIM_TIMEOUT)
            )
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    return ids_without_pending_run(warehouse_push_send, "push_id", candidates, few=False)


def warehouse_pushes_sweep(*, now: datetime | None = None) -> int:
    """Queue what nothing would send: the open orders of push connections without a push,
    and the pushes whose task was lost. Returns how many were queued."""
    from pressrun.warehouses.tasks import warehouse_push_send

    now = now or timezone.now()
    queued = sum(1 for order_id in _open_without_push() if warehouse_push_queue(order_id=order_id))
    queued += stranded_rows_requeue(
        model=WarehousePush,
        ids=stranded_push_ids(now=now),
        task_to_queue=warehouse_push_send,
        argument="push_id",
        now=now,
        label="warehouse push",
    )
    return queued


__all__ = [
    "ATTEMPTS",
    "RETRY_SCHEDULE",
    "PushRefused",
    "PushSettingsInvalid",
    "push_body",
    "warehouse_push_again",
    "warehouse_push_attempt",
    "warehouse_push_configure",
    "warehouse_push_queue",
    "warehouse_push_secret",
    "warehouse_push_secret_rotate",
    "warehouse_pushes_sweep",
]
