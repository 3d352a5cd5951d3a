"""Changes to placed orders: the publisher's modify and delete, the customer's address fix.

The spec allows exactly this much: a publisher "may modify or delete 'hold' orders", test
orders "should be deleted", and a customer may correct the address from the order
notification "before we actually print postage" (the publisher's postage delay). Once an order
is paid and in production (PROCESSING), shipped, or flagged with an address error, the
publisher cannot change it here. Every change happens under the order's row lock, re-prices
the order when it is not paid yet, and writes one OrderEvent saying what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from pressrun.accounts.models import MailMethod, Publisher
from pressrun.billing.pricing import PriceListIncomplete
from pressrun.billing.services import order_release_holds, publisher_lock_balance
from pressrun.core.errors import DomainError
from pressrun.core.events import publish
from pressrun.core.locks import lock_own_rows
from pressrun.core.money import format_money
from pressrun.orders.events import (
    DeletedLine,
    LineChange,
    OrderAddressCorrected,
    OrderChanged,
    OrderDeleted,
)
from pressrun.orders.models import (
    FulfillmentState,
    Order,
    OrderDeletion,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.services import (
    MAX_QUANTITY_PER_LINE,
    MAX_QUANTITY_PER_ORDER,
    NormalizedRecipient,
    OrderRefused,
    order_price,
    recipient_normalize,
)

# What a publisher may modify: HOLD orders only. Test orders may only be deleted ("Test orders
# cannot be converted to prod orders. They should be deleted."); everything else is paid,
# made or shipped.
PUBLISHER_MODIFIABLE = frozenset({OrderStatus.HOLD})
PUBLISHER_DELETABLE = frozenset({OrderStatus.HOLD, OrderStatus.TEST})
# What a customer may correct the address of, within the postage delay.
CUSTOMER_CORRECTABLE = frozenset({OrderStatus.HOLD, OrderStatus.PROCESSING, OrderStatus.TEST})
ADDRESS_FIELDS = ("name", "company", "address", "city", "state", "postal_code", "country")
ADDRESS_ERROR_STATE = FulfillmentState.ADDRESS_ERROR
# Who may correct an address through `order_correct_address`.
CORRECTORS = ("customer", "publisher", "operator")


class OrderChangeRefused(DomainError):
    """The change is not allowed or not valid; the message says why in plain words."""


@dataclass(frozen=True)
class AddressChangeWindow:
    """Whether the customer may correct the address now, until when, and if not, why.
    `reopened` is True while the order is stopped for an address problem: the link works
    again for that order (and only that one) until the address is corrected."""

    is_open: bool
    deadline: datetime | None
    closed_because: str  # "" while open; "not_offered", "too_late" otherwise
    reopened: bool = False


def in_address_error(order: Order) -> bool:
    """Whether the order is stopped for an address problem (ERROR / 10): its customer's link
    is reopened and its publisher and the operators may correct the address."""
    return order.status == OrderStatus.ERROR and order.fulfillment_state == ADDRESS_ERROR_STATE


def customer_address_window(order: Order) -> AddressChangeWindow:
    """The one rule for the customer's address change, used by the notification (whether to
    carry the link), the customer's page and `order_correct_address` (under the row lock).

    Open for a HOLD, PROCESSING or test order until the end of the postage delay fixed when
    it was placed (the deadline its email states), while the publisher offers changes.
    Reopened, without a deadline, while the order is stopped for an address problem (the
    customer was emailed the link to fix it; the publisher's setting does not close it):
    it closes again when the corrected order moves on.
    """
    if in_address_error(order):
        return AddressChangeWindow(True, None, "", reopened=True)
    deadline = order.address_changes_until
    if not order.publisher.customer_address_changes or deadline is None:
        return AddressChangeWindow(False, None, "not_offered")
    if order.status not in CUSTOMER_CORRECTABLE or timezone.now() >= deadline:
        return AddressChangeWindow(False, deadline, "too_late")
    return AddressChangeWindow(True, deadline, "")


def _locked(order_id: int, publisher: Publisher | None = None) -> Order:
    """The order under its row lock, after its publisher's row lock.

    A change may make a HOLD order cheaper, and then releases HOLD orders in the same
    transaction; releasing (like a payment) locks the publisher's row first and the orders'
    rows second, so this takes them in that order too. The order is read with its publisher
    (`select_related`) but the order's own row lock only (`lock_own_rows`): the publisher's
    row is locked explicitly, first. Raises Order.DoesNotExist (nothing locked that matters)
    for an unknown order or another publisher's."""
    publisher_id = (
        publisher.id
        if publisher is not None
        else Order.objects.filter(id=order_id).values_list("publisher_id", flat=True).first()
    )
    if publisher_id is None:
        raise Order.DoesNotExist(f"No order {order_id}.")
    publisher_lock_balance(publisher_id=publisher_id)
    orders = lock_own_rows(Order.objects.select_related("publisher"))
    return orders.filter(publisher_id=publisher_id).get(id=order_id)


_UNCHANGEABLE_BECAUSE: dict[str, str] = {
    OrderStatus.PROCESSING: "is paid and in production",
    OrderStatus.SHIPPED: "has shipped",
    OrderStatus.ERROR: "is held for an address problem that our staff is handling",
    OrderStatus.CANCELLED: "was cancelled and refunded",
}
_WHAT_MAY_CHANGE = "Only HOLD orders can be changed, and HOLD and test orders deleted."


def publisher_refusal(order: Order, verb: str) -> str:
    """Why the publisher may not do `verb` ("modified", "deleted", "changed or deleted") to
    this order, in plain words; "" when it is allowed."""
    if verb == "modified" and order.status == OrderStatus.TEST:
        return (
            f"Order {order.id} is a test order: test orders cannot be changed or made into "
            "production orders. Delete it and place a new one."
        )
    allowed = {
        "modified": PUBLISHER_MODIFIABLE,
        "deleted": PUBLISHER_DELETABLE,
    }.get(verb, PUBLISHER_MODIFIABLE | PUBLISHER_DELETABLE)
    if order.status in allowed:
        return ""
    why = _UNCHANGEABLE_BECAUSE.get(order.status, f"is {order.status}")
    return (
        f"Order {order.id} {why}, so it can no longer be {verb}. {_WHAT_MAY_CHANGE} "
        "Contact us if something must change."
    )


def _refuse_unless_publisher_may(order: Order, verb: str) -> None:
    refusal = publisher_refusal(order, verb)
    if refusal:
        raise OrderChangeRefused(refusal)


def _address_text(values: dict[str, str]) -> str:
    parts = [values["name"], values["company"], values["address"], values["city"]]
    parts += [f"{values['state']} {values['postal_code']}".strip(), values["country"]]
    return ", ".join(part for part in parts if part)


def _normalized(recipient: RecipientRequest, email: str) -> NormalizedRecipient:
    try:
        return recipient_normalize(replace(recipient, email=recipient.email or email))
    except OrderRefused as exc:
        raise OrderChangeRefused(exc.message) from exc


def _reprice(order: Order, lines: list[OrderLine]) -> None:
    """Price `order` again (its own lines, country and mail method) as intake would."""
    try:
        order.shipping_method, price = order_price(
            items=[(line.project.packaging, line.unit_price, line.quantity) for line in lines],
            mail_method=order.mail_method,
            country=order.country,
        )
    except PriceListIncomplete as exc:
        raise OrderChangeRefused(exc.message) from exc
    order.products_cost, order.shipping_cost = price.products, price.shipping
    order.total_cost = price.total


def _release_holds(order: Order, actor: str) -> None:
    """Release what the balance now covers (billing's one release function); `order` is
    brought up to date when it is one of them."""
    released = order_release_holds(publisher_id=order.publisher_id, actor=actor)
    if any(paid.id == order.id for paid in released):
        order.refresh_from_db()


def _apply_recipient(order: Order, clean: NormalizedRecipient) -> list[str]:
    """Set the address fields; returns the names of those that changed."""
    changed = []
    for field in (*ADDRESS_FIELDS, "email"):
        new = getattr(clean, field)
        if getattr(order, field) != new:
            setattr(order, field, new)
            changed.append(field)
    return changed


def order_modify(
    *,
    publisher: Publisher,
    order_id: int,
    recipient: RecipientRequest | None = None,
    quantities: dict[int, int] | None = None,
    mail_method: str | None = None,
    actor: str,
) -> Order:
    """Change a HOLD order's address, line quantities (OrderLine id → 1..250) or mail
    method, and re-price it. Raises Order.DoesNotExist for another publisher's order and
    OrderChangeRefused (nothing written) for any other refusal. No change: no event."""
    with transaction.atomic():
        order = _locked(order_id, publisher)
        _refuse_unless_publisher_may(order, "modified")
        lines = list(order.lines.select_related("project").order_by("position"))
        old_quantities = {line.id: line.quantity for line in lines}
        before = {field: str(getattr(order, field)) for field in (*ADDRESS_FIELDS, "email")}
        notes: list[str] = []

        if recipient is not None:
            changed = _apply_recipient(order, _normalized(recipient, ""))
            if set(changed) & set(ADDRESS_FIELDS):
                after = {field: str(getattr(order, field)) for field in ADDRESS_FIELDS}
                notes.append(f"address {_address_text(before)} → {_address_text(after)}")
            if "email" in changed:
                notes.append(f"email {before['email'] or '(none)'} → {order.email or '(none)'}")

        if quantities:
            by_id = {line.id: line for line in lines}
            unknown = sorted(set(quantities) - set(by_id))
            if unknown:
                raise OrderChangeRefused(f"Order {order.id} has no line {unknown[0]}.")
            for line_id, quantity in sorted(quantities.items()):
                if not 1 <= quantity <= MAX_QUANTITY_PER_LINE:
                    raise OrderChangeRefused(
                        f"Quantity {quantity} is outside 1 to {MAX_QUANTITY_PER_LINE}."
                    )
                line = by_id[line_id]
                if line.quantity != quantity:
                    notes.append(f"product {line.project_id} quantity {line.quantity} → {quantity}")
                    line.quantity = quantity
            total = sum(line.quantity for line in lines)
            if total > MAX_QUANTITY_PER_ORDER:
                raise OrderChangeRefused(
                    f"The total quantity {total} exceeds the maximum {MAX_QUANTITY_PER_ORDER}."
                )

        if mail_method is not None and mail_method != order.mail_method:
            if mail_method not in MailMethod.values:
                known = ", ".join(MailMethod.values)
                raise OrderChangeRefused(f"Mail method '{mail_method[:30]}' is not one of {known}.")
            notes.append(f"mail method {order.mail_method} → {mail_method}")
            order.mail_method = mail_method

        if not notes:
            return order
        old_total = order.total_cost
        _reprice(order, lines)
        if order.total_cost != old_total:
            notes.append(f"total {format_money(old_total)} → {format_money(order.total_cost)}")
        order.save()
        email_key = order.email.lower() if not order.invoice else ""
        for line in lines:
            line.email_key = email_key
        OrderLine.objects.bulk_update(lines, ["quantity", "email_key"])
        history = OrderEvent.objects.create(
            order=order,
            at=timezone.now(),
            kind="modified",
            message="Modified: " + "; ".join(notes) + ".",
            actor=actor,
        )
        publish(
            OrderChanged(
                order=order,
                history_event_id=history.id,
                lines=tuple(
                    LineChange(
                        line.project.title, line.project_id, old_quantities[line.id], line.quantity
                    )
                    for line in lines
                ),
                items_changed=any(old_quantities[line.id] != line.quantity for line in lines),
                address_changed=any(before[f] != str(getattr(order, f)) for f in ADDRESS_FIELDS),
                old_address=tuple(before[field] for field in ADDRESS_FIELDS),
            )
        )
        # A cheaper order (this one, or with it paid an older one) may now be covered.
        _release_holds(order, actor)
    return order


def order_delete(*, publisher: Publisher, order_id: int, actor: str) -> OrderDeletion:
    """Delete a HOLD or test order (never charged, never made). Its invoice is free again.
    A summary is kept as an OrderDeletion. Raises Order.DoesNotExist for another publisher's
    order and OrderChangeRefused for any order that is paid, made or shipped."""
    with transaction.atomic():
        order = _locked(order_id, publisher)
        _refuse_unless_publisher_may(order, "deleted")
        if order.charged_at is not None:  # a paid order never returns to HOLD; be sure
            raise OrderChangeRefused(f"Order {order.id} was charged and cannot be deleted.")
        order_lines = list(order.lines.select_related("project").order_by("position"))
        lines = [[line.project_id, line.quantity] for line in order_lines]
        record = OrderDeletion.objects.create(
            publisher=publisher,
            order_number=order.id,
            mode=order.mode,
            status=order.status,
            invoice=order.invoice,
            source=order.source,
            name=order.name,
            total_cost=order.total_cost,
            placed_at=order.created_at,
            deleted_at=timezone.now(),
            actor=actor,
            lines=lines,
            customer_token=order.customer_token,
        )
        publish(
            OrderDeleted(
                publisher=publisher,
                order_number=order.id,
                mode=order.mode,
                status=order.status,
                invoice=order.invoice,
                email=order.email,
                name=order.name,
                send_notification_email=order.send_notification_email,
                placed_at=order.created_at,
                lines=tuple(
                    DeletedLine(line.project.title, line.project_id, line.quantity)
                    for line in order_lines
                ),
            )
        )
        order.delete()
        # Nothing is paid by a deletion today (the balance is unchanged, and every HOLD order
        # left was already too large for it); run the one release function anyway so the
        # rule holds by construction, whatever the release order becomes.
        order_release_holds(publisher_id=publisher.id, actor=actor)
    return record


def order_correct_address(
    *,
    order_id: int,
    recipient: RecipientRequest,
    actor: str,
    by: str = "customer",
    publisher: Publisher | None = None,
) -> Order:
    """Correct a placed order's address.

    `by="customer"` (the link in the order notification): allowed while
    `customer_address_window` is open — a HOLD, PROCESSING or test order until the postage
    delay ends, when the publisher offers it, and an order stopped for an address problem
    (the link reopened for it). `by="publisher"` (the dashboard; `publisher` required, another
    publisher's order is Order.DoesNotExist) and `by="operator"`: only an order stopped for
    an address problem. A paid order keeps its country (the postage was priced for it); an
    unpaid one is re-priced. The order's address check is cleared (the new address has not
    been checked), one OrderEvent "address_corrected" names `actor`, and
    `OrderAddressCorrected` is published in the transaction (fulfillment puts an order in
    address error back to ready and queues the new address's check). The same address again
    changes nothing. Raises OrderChangeRefused (nothing written) with a reason for whoever
    asked.
    """
    if by not in CORRECTORS:
        raise ValueError(f"unknown corrector {by!r}")
    if by == "publisher" and publisher is None:
        raise ValueError("a publisher's correction names the publisher")
    with transaction.atomic():
        order = _locked(order_id, publisher if by == "publisher" else None)
        was_error = in_address_error(order)
        publisher_of_order = order.publisher
        contact = (
            f"{publisher_of_order.company} at {publisher_of_order.customer_contact}"
            if publisher_of_order.company
            else publisher_of_order.customer_contact
        )
        if by == "customer":
            window = customer_address_window(order)
            if window.closed_because == "not_offered":
                raise OrderChangeRefused(
                    f"Address changes are not offered for this order. Please contact {contact}."
                )
            if not window.is_open:
                raise OrderChangeRefused(
                    "It is too late to change the address: the order is already being "
                    f"shipped. Please contact {contact}."
                )
        elif not was_error:
            raise OrderChangeRefused(
                f"Order {order.id} is not stopped for an address problem, so its address "
                "cannot be corrected here." + (" " + _WHAT_MAY_CHANGE if by == "publisher" else "")
            )
        clean = _normalized(recipient, order.email)
        if order.charged_at is not None and clean.country != order.country:
            raise OrderChangeRefused(
                "The order is paid for delivery in its country; to ship it to another "
                f"country, please contact {contact}."
                if by == "customer"
                else f"Order {order.id} is paid for delivery in {order.country}; it cannot be "
                f"sent to another country ({clean.country}). Cancel it and place a new order."
            )
        before = {field: str(getattr(order, field)) for field in ADDRESS_FIELDS}
        changed = [f for f in _apply_recipient(order, clean) if f in ADDRESS_FIELDS]
        if not changed and not was_error:
            return order
        if order.charged_at is None:
            lines = list(order.lines.select_related("project"))
            _reprice(order, lines)
        # The new address has not been checked (pressrun.fulfillment.address).
        order.address_checked_at = None
        order.address_check_note = ""
        order.save()
        after = {field: str(getattr(order, field)) for field in ADDRESS_FIELDS}
        history = OrderEvent.objects.create(
            order=order,
            at=timezone.now(),
            kind="address_corrected",
            message=(
                f"Address corrected: {_address_text(before)} → {_address_text(after)}."
                if changed
                else f"Address confirmed unchanged: {_address_text(after)}."
            ),
            actor=actor,
        )
        publish(
            OrderAddressCorrected(
                order=order,
                actor=actor,
                history_event_id=history.id,
                old_address=tuple(before[field] for field in ADDRESS_FIELDS),
                was_address_error=was_error,
            )
        )
        # An unpaid order re-priced for its new address may now be covered by the balance.
        _release_holds(order, actor)
    return order


__all__ = [
    "AddressChangeWindow",
    "OrderChangeRefused",
    "customer_address_window",
    "in_address_error",
    "order_correct_address",
    "order_delete",
    "order_modify",
]
