"""Emails: which ones pressrun sends, to whom, with what content.

Every email is first stored as an `OutgoingEmail` row under a unique key naming the logical
email, in the same transaction as the `email_send` task that sends it (an outbox: both
commit or neither). Queueing the same key twice stores nothing the second time, so the
callers (tasks that may run twice) need no checks of their own. See docs/emails.md for the
list of emails, the rules below and the delivery guarantees.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.core.faults import fault_point
from pressrun.core.money import ZERO, format_money
from pressrun.core.selectors import public_base_url
from pressrun.notifications.models import EmailKind, EmailStatus, OutgoingEmail
from pressrun.notifications.selectors import emails_claimable, stranded_email_ids
from pressrun.orders.address import country_name
from pressrun.orders.events import OrderChanged, OrderDeleted
from pressrun.orders.models import Mode, Order, OrderEvent, OrderStatus
from pressrun.orders.selectors import order_lines_with_projects
from pressrun.orders.tracking import tracking_link

logger = logging.getLogger(__name__)

DEFAULT_SENDER_NAME = "pressrun"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


def _header_text(value: str, limit: int) -> str:
    """One line of at most `limit` characters: no CR/LF or other control characters, which
    could end a header early."""
    return " ".join(_CONTROL_CHARACTERS.sub(" ", value).split())[:limit]


def sender_address(from_name: str) -> str:
    """`"Company" <DEFAULT_FROM_EMAIL>`, quoted (and encoded when not ASCII) safely."""
    return formataddr((_header_text(from_name, 200), settings.DEFAULT_FROM_EMAIL))


def email_queue(
    *,
    key: str,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    from_name: str = DEFAULT_SENDER_NAME,
    reply_to: str = "",
    publisher: Publisher | None = None,
    order: Order | None = None,
    is_test: bool = False,
) -> OutgoingEmail | None:
    """Store an email under `key` and queue its sending, in one transaction: the row and its
    `email_send` task commit together or not at all (an outbox). Inside a caller's
    transaction they commit or roll back with it; outside one they get their own.

    Idempotent: if an email with this key exists, nothing is stored and None is returned.
    Should that email be waiting with nothing left to send it (QUEUED, or claimed by a
    worker that died, with no send task queued or running: `stranded_email_ids`), its send
    task is queued again, in the same transaction; it is never sent twice for that, since a
    send claims the row first.
    """
    from pressrun.notifications.tasks import email_send

    key = key[:200]
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a taken key leaves the caller's intact
                email = OutgoingEmail.objects.create(
                    key=key,
                    kind=kind,
                    publisher=publisher,
                    order=order,
                    to=_header_text(to, 254),
                    from_name=_header_text(from_name, 200),
                    reply_to=_header_text(reply_to, 254),
                    subject=_header_text(subject, 300),
                    text=text,
                    html=html,
                    is_test=is_test,
                    created_at=timezone.now(),
                )
        except IntegrityError:
            existing = OutgoingEmail.objects.filter(key=key).values_list("id", flat=True).first()
            if existing is None:
                raise
            _email_requeue_if_stranded(email_id=existing)
            return None
        fault_point("email_queued_before_task")
        email_send.enqueue(email_id=email.id)
    return email


def _email_requeue_if_stranded(*, email_id: int) -> bool:
    """Queue `email_send` for this email if it waits with no send task (see
    `stranded_email_ids`), in the current transaction. Returns whether it did."""
    from pressrun.notifications.tasks import email_send

    if not stranded_email_ids(email_ids=[email_id]):
        return False
    email_send.enqueue(email_id=email_id)
    logger.warning("email %s: waiting with no send task; queued again", email_id)
    return True


def emails_requeue_stranded() -> int:
    """The email sweep: queue `email_send` again for every email nothing would send (see
    `stranded_email_ids`: QUEUED with no task, or claimed by a worker that is no longer
    alive and with no task); returns how many were queued.

    Each is re-checked in its own short transaction before its task is queued, so an email
    sent meanwhile is left alone; should a second task exist after all, the send's claim
    lets only one of them send.
    """
    from pressrun.notifications.tasks import email_send

    requeued = 0
    for email_id in stranded_email_ids():
        with transaction.atomic():
            still_claimable = emails_claimable().select_for_update().filter(id=email_id).exists()
            if still_claimable:
                email_send.enqueue(email_id=email_id)
                requeued += 1
                logger.warning("email %s: waiting with no send task; queued again", email_id)
    return requeued


def notify_publisher_error(
    *, publisher: Publisher, to: str, subject: str, text: str, key: str
) -> OutgoingEmail | None:
    """Email a publisher-side address (an error address such as 1ShoppingCart's TSErrEM,
    or `publisher.error_recipient`) a plain-text report of something that went wrong.

    `key` names the logical email; the same key is sent at most once (returns None then).
    """
    return email_queue(
        key=f"publisher-error:{key}",
        kind=EmailKind.PUBLISHER_ERROR,
        to=to,
        subject=subject,
        text=text,
        html=render_to_string(
            "notifications/publisher_error.html", {"subject": subject, "text": text}
        ),
        publisher=publisher,
    )


# --- order emails ----------------------------------------------------------------------------


def customer_page_url(order: Order) -> str:
    """The customer's address-change page of `order` on the public address."""
    path = reverse("customers:order", kwargs={"token": order.customer_token})
    return public_base_url() + path


@dataclass(frozen=True)
class Recipient:
    to: str
    role: str  # "customer", or "publisher" for the copy of a test order's email


def order_email_recipients(order: Order) -> list[Recipient]:
    """Who gets an order's customer emails (the notification, the tracking email, and the
    emails saying it was changed or cancelled).

    - `send_notification_email` (bSendOrderNotificationEmail) decides when given: False sends
      nothing at all; otherwise the publisher's Customer Email Notifications setting decides.
    - A production order's email goes to the customer (when the order has an email).
    - A test order's never reaches a customer unless the order asked for it explicitly
      (bSendOrderNotificationEmail=1): it goes to the publisher's error address, marked as a
      test, so the publisher sees what the customer would get.
    """
    return _recipients(
        publisher=order.publisher,
        mode=order.mode,
        email=order.email,
        send_notification_email=order.send_notification_email,
    )


def _recipients(
    *, publisher: Publisher, mode: str, email: str, send_notification_email: bool | None
) -> list[Recipient]:
    wanted = send_notification_email
    if wanted is None:
        wanted = publisher.customer_email_notifications
    if not wanted:
        return []
    recipients: list[Recipient] = []
    if mode == Mode.TEST:
        recipients.append(Recipient(publisher.error_recipient, "publisher"))
        if send_notification_email and email:
            recipients.append(Recipient(email, "customer"))
    elif email:
        recipients.append(Recipient(email, "customer"))
    return recipients


def _order_context(order: Order) -> dict[str, Any]:
    publisher = order.publisher
    price = order.customer_price
    return {
        "order": order,
        "lines": order_lines_with_projects(order.id),
        "company": publisher.company or DEFAULT_SENDER_NAME,
        "contact_email": publisher.customer_contact,
        # nprice of zero: "the amount will not be mentioned in any customer receipt email".
        "price": format_money(price) if price is not None and price != ZERO else "",
        "is_test": order.mode == Mode.TEST,
        "country": country_name(order.country),
    }


def _queue_order_email(
    *,
    order: Order,
    kind: str,
    recipient: Recipient,
    subject: str,
    template: str,
    context: dict[str, Any],
    key: str = "",
) -> OutgoingEmail | None:
    is_test = order.mode == Mode.TEST
    context = {**context, "for_publisher": recipient.role == "publisher"}
    return email_queue(
        key=key or f"{kind}:{order.id}:{recipient.role}",
        kind=kind,
        to=recipient.to,
        subject=f"[TEST] {subject}" if is_test else subject,
        text=render_to_string(f"notifications/{template}.txt", context),
        html=render_to_string(f"notifications/{template}.html", context),
        from_name=order.publisher.company or DEFAULT_SENDER_NAME,
        reply_to=order.publisher.customer_contact,
        publisher=order.publisher,
        order=order,
        is_test=is_test,
    )


def _queue_order_emails(
    *,
    order: Order,
    recipients: list[Recipient],
    kind: str,
    subject: str,
    template: str,
    context: dict[str, Any],
    occasion: object = None,
) -> list[OutgoingEmail]:
    """`_queue_order_email` for each recipient; returns the emails queued now (one already
    queued under its key is not). Keyed by kind, order and role, and by `occasion` (the
    history entry the email tells of) when one order may have several such emails."""
    queued = []
    for recipient in recipients:
        key = "" if occasion is None else f"{kind}:{order.id}:{occasion}:{recipient.role}"
        email = _queue_order_email(
            order=order,
            kind=kind,
            recipient=recipient,
            subject=subject,
            template=template,
            context=context,
            key=key,
        )
        if email is not None:
            queued.append(email)
    return queued


def notify_order_placed(*, order: Order) -> list[OutgoingEmail]:
    """Queue the order notification (items, price when nprice is non-zero, and the
    address-change link while a change is possible) for each of the order's recipients.
    Safe to call twice: each recipient's email is keyed by order and recipient role."""
    from pressrun.orders.changes import customer_address_window

    recipients = order_email_recipients(order)
    if not recipients:
        return []
    window = customer_address_window(order)
    context = _order_context(order)
    context["change_url"] = customer_page_url(order) if window.is_open else ""
    context["change_deadline"] = window.deadline if window.is_open else None
    return _queue_order_emails(
        order=order,
        recipients=recipients,
        kind=EmailKind.ORDER_PLACED,
        subject=f"Your order {order.id} from {context['company']}",
        template="order_placed",
        context=context,
    )


def notify_order_shipped(*, order: Order) -> list[OutgoingEmail]:
    """Queue the tracking email of a SHIPPED order with a tracking ID (nothing otherwise),
    for the same recipients as the order notification. Safe to call twice."""
    if order.status != OrderStatus.SHIPPED or not order.tracking_id:
        return []
    recipients = order_email_recipients(order)
    if not recipients:
        return []
    context = _tracking_context(order)
    queued = (_queue_tracking_email(order=order, recipient=r, context=context) for r in recipients)
    return [email for email in queued if email is not None]


def notify_shipment_corrected(*, order: Order, history_event_id: int) -> list[OutgoingEmail]:
    """Queue what tells the order's recipients an operator's correction of its shipment
    (the correction's history entry is `history_event_id`), once per correction however
    often its task runs. A recipient with no tracking email yet (the shipment had no
    tracking ID, or its email was not yet written) gets the tracking email itself, which
    shows the shipment as it is now. One whose latest tracking email names other details
    gets the corrected tracking email ("The tracking details ... have been corrected"),
    keyed by the correction; one whose latest names these already gets nothing. One none of
    whose tracking emails could be sent gets the tracking email under the correction's key,
    without the corrected wording (there is nothing it was told to correct). What an email
    names is read from its text, not from when it was written: a tracking
    task that read the order just before the correction committed may write its email
    just after, even after this looked. Nothing for an order no longer SHIPPED, without a
    tracking ID, or for an unknown history entry."""
    if order.status != OrderStatus.SHIPPED or not order.tracking_id:
        return []
    if not OrderEvent.objects.filter(id=history_event_id, order=order).exists():
        return []
    recipients = order_email_recipients(order)
    if not recipients:
        return []
    context = _tracking_context(order)
    current = context["tracking_line"] + "\n"  # its own line of the text part
    queued = []
    written = _tracking_emails(order)
    for recipient in recipients:
        told = written.get(recipient.role, [])
        if not told:
            email = _queue_tracking_email(order=order, recipient=recipient, context=context)
            if email is not None:
                queued.append(email)
                continue
            # Its key was taken meanwhile: the shipment's own task wrote it, perhaps with
            # the details from before the correction.
            told = _tracking_emails(order).get(recipient.role, [])
        if not told or (told[-1].status != EmailStatus.FAILED and current in told[-1].text):
            continue
        # Corrected wording when a tracking email may have reached the recipient; one that
        # never went out is not one to correct.
        corrected = any(email.status != EmailStatus.FAILED for email in told)
        email = _queue_order_email(
            order=order,
            kind=EmailKind.ORDER_SHIPPED,
            recipient=recipient,
            subject=(
                f"Your order {order.id}: corrected tracking"
                if corrected
                else _shipped_subject(order)
            ),
            template="order_shipped",
            context={**context, "corrected": corrected},
            key=f"{EmailKind.ORDER_SHIPPED}:{order.id}:{history_event_id}:{recipient.role}",
        )
        if email is not None:
            queued.append(email)
    return queued


def _tracking_emails(order: Order) -> dict[str, list[OutgoingEmail]]:
    """The order's tracking emails by recipient role ("customer", "publisher"), oldest
    first."""
    by_role: dict[str, list[OutgoingEmail]] = {}
    for email in (
        OutgoingEmail.objects.filter(
            order=order,
            kind=EmailKind.ORDER_SHIPPED,
            key__startswith=f"{EmailKind.ORDER_SHIPPED}:",
        )
        .only("key", "text", "status")
        .order_by("id")
    ):
        by_role.setdefault(email.key.rsplit(":", 1)[-1], []).append(email)
    return by_role


def _tracking_context(order: Order) -> dict[str, Any]:
    context = _order_context(order)
    link = tracking_link(tracking_id=order.tracking_id, carrier=order.carrier)
    assert link is not None
    context["tracking_id"] = link.tracking_id
    context["tracking_carrier"] = link.carrier
    context["tracking_url"] = link.url
    # The text part's line, "Tracking number (UPS): 1Z 999": what a correction looks for in
    # the emails sent before (`notify_shipment_corrected`).
    carrier = f" ({link.carrier})" if link.carrier else ""
    context["tracking_line"] = f"Tracking number{carrier}: {link.tracking_id}"
    return context


def _shipped_subject(order: Order) -> str:
    return f"Your order {order.id} has shipped"


def _queue_tracking_email(
    *, order: Order, recipient: Recipient, context: dict[str, Any]
) -> OutgoingEmail | None:
    """The tracking email to one recipient, as the shipment's task and a correction that
    found none sent both queue it (one key per order and role)."""
    return _queue_order_email(
        order=order,
        kind=EmailKind.ORDER_SHIPPED,
        recipient=recipient,
        subject=_shipped_subject(order),
        template="order_shipped",
        context=context,
    )


def _order_address_lines(order: Order) -> list[str]:
    return _address_lines(
        tuple(
            str(getattr(order, field))
            for field in ("name", "company", "address", "city", "state", "postal_code", "country")
        )
    )


def notify_address_error(*, order: Order, history_event_id: int) -> list[OutgoingEmail]:
    """Queue the email asking the customer to correct the address of an order stopped for an
    address problem: the problem (`order.error_description`), the address as it is, and the
    address-change link, reopened for this order until it is corrected. Sent to the order's
    usual recipients (`order_email_recipients`); nothing when the order is no longer in
    address error (fixed before the worker got to it). One email per stop
    (`history_event_id` is the stop's history entry), however often this is called."""
    from pressrun.orders.changes import customer_address_window

    window = customer_address_window(order)
    if not window.reopened:
        return []
    recipients = order_email_recipients(order)
    if not recipients:
        return []
    context = _order_context(order)
    context |= {
        "description": order.error_description,
        "address_lines": _order_address_lines(order),
        "change_url": customer_page_url(order),
    }
    return _queue_order_emails(
        order=order,
        recipients=recipients,
        kind=EmailKind.ADDRESS_ERROR,
        subject=f"Please check the address of your order {order.id}",
        template="address_error",
        context=context,
        occasion=history_event_id,
    )


def notify_address_error_reminder(*, order: Order, stopped_at: datetime) -> OutgoingEmail | None:
    """Queue the publisher's reminder (to its error address) that `order` has been stopped
    for an address problem since `stopped_at` and nobody fixed it. At most one per stop:
    the key names the order and `stopped_at` (returns None when already queued)."""
    publisher = order.publisher
    context = {
        "order": order,
        "publisher": publisher,
        "stopped_at": stopped_at,
        "days": publisher.address_error_reminder_days,
        "address_lines": _order_address_lines(order),
        "customer_emailed": OutgoingEmail.objects.filter(
            order=order, kind=EmailKind.ADDRESS_ERROR
        ).exists(),
        "order_url": public_base_url()
        + reverse("dashboard:order_detail", kwargs={"order_id": order.id}),
    }
    return email_queue(
        key=f"{EmailKind.ADDRESS_ERROR_REMINDER}:{order.id}:{stopped_at.isoformat()}",
        kind=EmailKind.ADDRESS_ERROR_REMINDER,
        to=publisher.error_recipient,
        subject=f"Order {order.id} is still stopped for an address problem",
        text=render_to_string("notifications/address_error_reminder.txt", context),
        html=render_to_string("notifications/address_error_reminder.html", context),
        publisher=publisher,
        order=order,
    )


def notify_hold_orders(*, publisher: Publisher, today: date | None = None) -> OutgoingEmail | None:
    """Queue the publisher's "orders awaiting payment" email listing its HOLD orders and the
    amount needed to release them all. At most one per publisher per day (UTC): returns None
    when today's was already queued or when nothing is on HOLD."""
    from pressrun.billing.selectors import hold_summary

    day = today or timezone.now().date()
    key = f"hold-orders:{publisher.id}:{day.isoformat()}"
    existing = OutgoingEmail.objects.filter(key=key).values_list("id", flat=True).first()
    if existing is not None:  # every HOLD order asks; once a day
        with transaction.atomic():
            _email_requeue_if_stranded(email_id=existing)
        return None
    holds = hold_summary(publisher=publisher)
    if not holds.count:
        return None
    context = {
        "publisher": publisher,
        "orders": [(row.order, format_money(row.order.total_cost)) for row in holds.rows],
        "total": format_money(holds.total),
        "balance": format_money(holds.balance),
        "needed": format_money(holds.shortfall),
        "dashboard_url": public_base_url() + reverse("dashboard:billing"),
    }
    plural = "s" if holds.count != 1 else ""
    return email_queue(
        key=key,
        kind=EmailKind.HOLD_ORDERS,
        to=publisher.error_recipient,
        subject=f"{holds.count} order{plural} awaiting payment "
        f"({format_money(holds.shortfall)} needed)",
        text=render_to_string("notifications/hold_orders.txt", context),
        html=render_to_string("notifications/hold_orders.html", context),
        publisher=publisher,
    )


# --- billing emails --------------------------------------------------------------------------


def notify_payment_received(
    *,
    key: str,
    publisher: Publisher,
    amount: Decimal,
    payment_reference: str,
    paid_at: datetime,
    balance: Decimal,
    released: Sequence[Order],
) -> OutgoingEmail | None:
    """Queue the receipt of a payment the publisher made (by card, online) to the account's
    login email: amount, the payment's reference, the balance after it and the HOLD orders
    it released. Call in the transaction that records the payment. `key` names the payment
    (one receipt per payment, however often this is called)."""
    context = {
        "publisher": publisher,
        "amount": format_money(amount),
        "reference": payment_reference,
        "paid_at": paid_at,
        "balance": format_money(balance),
        "released": [(order, format_money(order.total_cost)) for order in released],
        "billing_url": public_base_url() + reverse("dashboard:billing"),
    }
    return email_queue(
        key=f"payment-receipt:{key}",
        kind=EmailKind.PAYMENT_RECEIPT,
        to=publisher.email,
        subject=f"Receipt: {format_money(amount)} added to your balance",
        text=render_to_string("notifications/payment_receipt.txt", context),
        html=render_to_string("notifications/payment_receipt.html", context),
        publisher=publisher,
    )


@dataclass(frozen=True)
class _Reversal:
    subject: str
    what: str


# What the publisher is told for each way Stripe moved a credited card payment's money.
_REVERSALS = {
    "refund": _Reversal(
        "Card refund: {amount} taken from your balance",
        "The card payment {reference} was refunded in Stripe, so {amount} was taken from "
        "your balance.",
    ),
    "dispute": _Reversal(
        "Card payment disputed: {amount} taken from your balance",
        "The card holder disputed the card payment {reference}, and Stripe withdrew the "
        "disputed amount until the dispute is decided, so {amount} was taken from your "
        "balance. If it is decided for you, the amount is returned to your balance.",
    ),
    "dispute_returned": _Reversal(
        "Disputed payment: {amount} returned to your balance",
        "Stripe returned the funds of the dispute of the card payment {reference}, so "
        "{amount} was added back to your balance.",
    ),
}


def notify_payment_reversed(
    *,
    key: str,
    publisher: Publisher,
    reversal: str,
    amount: Decimal,
    payment_reference: str,
    at: datetime,
    balance: Decimal,
    released: Sequence[Order] = (),
) -> OutgoingEmail | None:
    """Queue the notice of money Stripe took back from a credited card payment (`reversal`
    "refund" or "dispute") or returned ("dispute_returned"), to the account's login email:
    what happened, the amount, the payment's reference, the balance after it (and, below
    zero, that new orders wait on HOLD), the HOLD orders a return released. Call in the
    transaction that moves the balance. `key` names that movement (one notice per movement,
    however often this is called)."""
    words = _REVERSALS[reversal]
    shown = format_money(amount)
    context = {
        "publisher": publisher,
        "what": words.what.format(amount=shown, reference=payment_reference),
        "amount": shown,
        "taken": reversal != "dispute_returned",
        "reference": payment_reference,
        "at": at,
        "balance": format_money(balance),
        "below_zero": balance < ZERO,
        "released": [(order, format_money(order.total_cost)) for order in released],
        "billing_url": public_base_url() + reverse("dashboard:billing"),
    }
    return email_queue(
        key=f"payment-reversal:{key}",
        kind=EmailKind.PAYMENT_REVERSAL,
        to=publisher.email,
        subject=words.subject.format(amount=shown),
        text=render_to_string("notifications/payment_reversal.txt", context),
        html=render_to_string("notifications/payment_reversal.html", context),
        publisher=publisher,
    )


def notify_order_changed(*, change: OrderChanged) -> list[OutgoingEmail]:
    """Queue "your order was changed" for a HOLD order whose items (quantities) or shipping
    address the publisher changed, to the order's usual recipients: the items now (changed
    ones marked with their old quantity), the address now (and before, when it changed), the
    contact. A change of the mail method or of the email address alone sends nothing (the
    box and its destination are the same). One email per history entry and recipient."""
    if not (change.items_changed or change.address_changed):
        return []
    order = change.order
    recipients = order_email_recipients(order)
    if not recipients:
        return []
    context = _order_context(order)
    context.update(
        {
            "changed_lines": change.lines,
            "items_changed": change.items_changed,
            "address_changed": change.address_changed,
            "old_address": _address_lines(change.old_address),
            "new_address": _order_address_lines(order),
        }
    )
    return _queue_order_emails(
        order=order,
        recipients=recipients,
        kind=EmailKind.ORDER_CHANGED,
        subject=f"Your order {order.id} from {context['company']} was changed",
        template="order_changed",
        context=context,
        occasion=change.history_event_id,
    )


def notify_order_cancelled(*, deleted: OrderDeleted) -> list[OutgoingEmail]:
    """Queue "your order was cancelled" when the publisher deletes a HOLD order: its number,
    its items, that nothing will be shipped or charged, and whom to contact. Rendered now,
    from the event's snapshot, because the order row is gone once the deletion commits.
    A deleted test order sends nothing (no customer was ever told of it as a real order);
    the order's usual recipient rules apply otherwise."""
    if deleted.mode == Mode.TEST or deleted.status != OrderStatus.HOLD:
        return []
    publisher = deleted.publisher
    recipients = _recipients(
        publisher=publisher,
        mode=deleted.mode,
        email=deleted.email,
        send_notification_email=deleted.send_notification_email,
    )
    company = publisher.company or DEFAULT_SENDER_NAME
    context = {
        "deleted": deleted,
        "company": company,
        "contact_email": publisher.customer_contact,
    }
    queued = []
    for recipient in recipients:
        email = email_queue(
            key=f"{EmailKind.ORDER_CANCELLED}:{deleted.order_number}:{recipient.role}",
            kind=EmailKind.ORDER_CANCELLED,
            to=recipient.to,
            subject=f"Your order {deleted.order_number} from {company} was cancelled",
            text=render_to_string("notifications/order_cancelled.txt", context),
            html=render_to_string("notifications/order_cancelled.html", context),
            from_name=company,
            reply_to=publisher.customer_contact,
            publisher=publisher,
        )
        if email is not None:
            queued.append(email)
    return queued


def _address_lines(values: tuple[str, ...]) -> list[str]:
    """An address (name, company, street, city, state, postal code, country code) as the
    lines printed on an envelope, with the country's name."""
    name, company, street, city, state, postal_code, country = values
    place = city + (f", {state}" if state else "") + (f" {postal_code}" if postal_code else "")
    return [line for line in (name, company, street, place, country_name(country)) if line]
