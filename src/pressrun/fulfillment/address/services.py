"""The address check and the address-error flow.

- `address_check_order`: run the configured verifier on an order's address (outside any
  transaction: it may call an API), then, under the order's row lock and only if the address
  is still the one checked, record the pass (`address_checked_at`, `address_check_note`) or
  stop the order in address error through `fulfillment_move`.
- `address_problem_report`: an operator or a shipping station says the address is bad.
- `address_correct`: the one entry for a corrected address (customer, publisher, operator):
  the offline checks refuse an address that cannot be right at once, then intake's
  `order_correct_address` saves it; the subscriber of `OrderAddressCorrected`
  (`subscribers.py`) puts an order in address error back to ready and queues the check.
- `address_error_reminders_send`: email the publisher, once per address error, about an
  order nobody fixed within the publisher's `address_error_reminder_days`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.services import publisher_lock_balance
from pressrun.fulfillment.address.selectors import (
    CHECKABLE_STATES,
    address_errors_not_reminded,
)
from pressrun.fulfillment.address.verifiers import (
    AddressToCheck,
    AddressVerifier,
    OfflineVerifier,
    configured_verifier,
)
from pressrun.fulfillment.services import MoveResult, fulfillment_move
from pressrun.notifications.services import notify_address_error_reminder
from pressrun.orders.changes import OrderChangeRefused, order_correct_address
from pressrun.orders.models import FulfillmentState, Mode, Order, OrderEvent
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.selectors import order_by_id
from pressrun.orders.services import OrderRefused, recipient_normalize

logger = logging.getLogger(__name__)

S = FulfillmentState
CHECK_ACTOR = "address check"
MAX_NOTE_LENGTH = 500


def address_of(order: Order) -> AddressToCheck:
    """The order's address as a verifier takes it."""
    return AddressToCheck(
        name=order.name,
        company=order.company,
        address=order.address,
        city=order.city,
        state=order.state,
        postal_code=order.postal_code,
        country=order.country,
    )


def _checkable(order: Order) -> bool:
    return order.mode == Mode.PROD and order.fulfillment_state in CHECKABLE_STATES


def address_check_order(
    *, order_id: int, verifier: AddressVerifier | None = None, now: datetime | None = None
) -> str:
    """Check order `order_id`'s address once; returns what happened: "passed", "flagged"
    (now in address error with the verifier's description), or why nothing was done:
    "gone", "not_checkable" (HOLD, test, stopped, shipped, cancelled), "already_checked",
    "address_changed" (corrected while the verifier ran: that change queued its own check).

    Safe to run twice or concurrently: the result is recorded under the row lock, only for
    the address that was checked and only if no check has been recorded since. The verifier
    runs outside any transaction (it may wait on an API; it never raises)."""
    order = order_by_id(order_id)
    if order is None:
        return "gone"
    if not _checkable(order):
        return "not_checkable"
    if order.address_checked_at is not None:
        return "already_checked"
    checked = address_of(order)
    result = (verifier or configured_verifier()).verify(checked)
    with transaction.atomic():
        if order.charged_at is None:
            # A move may charge an order flagged before it was paid: the publisher's row
            # first, as every balance change takes it.
            publisher_lock_balance(publisher_id=order.publisher_id)
        locked = order_by_id(order_id, for_update=True)
        if locked is None:
            return "gone"
        if address_of(locked) != checked:
            return "address_changed"
        if not _checkable(locked):
            return "not_checkable"
        if locked.address_checked_at is not None:
            return "already_checked"
        note = result.note[:MAX_NOTE_LENGTH]
        if result.ok:
            checked_at = now or timezone.now()
            locked.address_checked_at = checked_at
            locked.address_check_note = note
            # The order may be handed to shipping from now on (the export is gated on the
            # check): its last-modified time moves, or a shipping station that already polled
            # past the time it became ready would never see it.
            if locked.fulfillment_updated_at is None or locked.fulfillment_updated_at < checked_at:
                locked.fulfillment_updated_at = checked_at
            locked.save(
                update_fields=[
                    "address_checked_at",
                    "address_check_note",
                    "fulfillment_updated_at",
                    "updated_at",
                ]
            )
            if result.fell_back:
                OrderEvent.objects.create(
                    order=locked,
                    at=timezone.now(),
                    kind="address_checked",
                    message=f"Address check: {note}",
                    actor=CHECK_ACTOR,
                )
            return "passed"
        fulfillment_move(
            order_id=order_id,
            to=S.ADDRESS_ERROR,
            actor=f"{CHECK_ACTOR} ({result.verifier})",
            description=result.description,
            note=f"({note})" if note else "",
            from_states=CHECKABLE_STATES,
        )
        # After the move: its subscriber records who stopped the order; the check's own
        # words are the better record here.
        Order.objects.filter(id=order_id).update(
            address_check_note=(note or f"The {result.verifier} check found a problem.")
        )
        return "flagged"


def address_problem_report(*, order_id: int, description: str, actor: str) -> MoveResult:
    """An operator or a shipping station reports that order `order_id`'s address is bad:
    the order moves to address error with `description` (the publisher's ERROR / 10 text;
    required, at most 500 characters), which emails the customer the reopened link.

    `actor` names the reporter ("operator:ann", "shipstation:3"). Any open order may be
    reported (waiting, ready, in production, packed). The same report again is a no-op
    (`changed` False); a different one while the order is already stopped is refused.
    Raises Order.DoesNotExist and FulfillmentRefused (nothing written)."""
    return fulfillment_move(
        order_id=order_id, to=S.ADDRESS_ERROR, actor=actor, description=description
    )


def address_correct(
    *,
    order_id: int,
    recipient: RecipientRequest,
    actor: str,
    by: str = "customer",
    publisher: Publisher | None = None,
) -> Order:
    """Correct an order's address (see `order_correct_address` for who may, when): the
    offline checks refuse at once, with their description, an address that cannot be right
    (OrderChangeRefused, nothing written); otherwise it is saved, and an order in address
    error goes back to ready (or waiting, while its postage window is open), recording
    `actor` as who fixed it; the new address's check is queued."""
    try:
        clean = recipient_normalize(replace(recipient, email=""))
    except OrderRefused as exc:
        raise OrderChangeRefused(exc.message) from exc
    result = OfflineVerifier().verify(
        AddressToCheck(
            name=clean.name,
            company=clean.company,
            address=clean.address,
            city=clean.city,
            state=clean.state,
            postal_code=clean.postal_code,
            country=clean.country,
        )
    )
    if not result.ok:
        raise OrderChangeRefused(result.description)
    return order_correct_address(
        order_id=order_id, recipient=recipient, actor=actor, by=by, publisher=publisher
    )


def address_error_reminders_send(*, now: datetime | None = None) -> int:
    """Email each publisher about every order stopped for an address problem for longer than
    its `address_error_reminder_days`, once per stop; returns how many were queued.

    Safe to run twice or in two workers at once: an order is claimed by a conditional
    update of `address_error_reminded_at` (only one run's update matches), and the email is
    queued in the same transaction under a key naming the order and the stop."""
    now = now or timezone.now()
    sent = 0
    for order in address_errors_not_reminded():
        stopped_at = order.fulfillment_updated_at
        if stopped_at is None:
            continue
        if stopped_at + timedelta(days=order.publisher.address_error_reminder_days) > now:
            continue
        with transaction.atomic():
            claimed = (
                address_errors_not_reminded()
                .filter(id=order.id, fulfillment_updated_at=stopped_at)
                .update(address_error_reminded_at=now)
            )
            if not claimed:
                continue  # fixed, or reminded by another run, meanwhile
            if notify_address_error_reminder(order=order, stopped_at=stopped_at) is not None:
                sent += 1
    return sent
