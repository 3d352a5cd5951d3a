"""Online payments: our own record of every Stripe Checkout a publisher starts, and every
Stripe event received.

A payment is credited from our `Checkout` row (its publisher and amount), never from what an
event or a return URL says: Stripe's word is only taken for "this session was paid, this
much, in this currency", and that must match the row. Each checkout is credited at most
once (a conditional status change, and a unique ledger entry per checkout); each Stripe event
is stored once (unique event id).

What Stripe later takes back from a credited payment (refunds, disputes) is kept as Stripe's
own running figures — the largest cumulative refund seen on the checkout, and per dispute
what was withdrawn and reinstated — and the balance is moved by the difference between what
those figures say is gone and what was already taken (`Checkout.taken_back`), so a replayed,
repeated or out-of-order event moves nothing twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry


class CheckoutStatus(models.TextChoices):
    STARTING = "starting", "Starting (asking Stripe for a payment page)"
    OPEN = "open", "Open (waiting for the publisher to pay)"
    PAID = "paid", "Paid and credited"
    CANCELED = "canceled", "Canceled by the publisher"
    FAILED = "failed", "Could not start (Stripe refused or did not answer)"
    MISMATCH = "mismatch", "Paid, but not as asked: not credited, needs an operator"


class Checkout(models.Model):
    """One "Add credit" payment a publisher started: what we asked Stripe to collect."""

    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(
        max_length=10, choices=CheckoutStatus.choices, default=CheckoutStatus.STARTING
    )
    stripe_session_id = models.CharField("Stripe Checkout Session", max_length=255, blank=True)
    stripe_payment_intent = models.CharField("Stripe payment", max_length=255, blank=True)
    ledger_entry = models.OneToOneField(
        LedgerEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The payment line this checkout was credited as.",
    )
    note = models.CharField(
        max_length=500, blank=True, help_text="Why it failed or was not credited."
    )
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded = models.DecimalField(
        "refunded in Stripe",
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="The largest cumulative refund Stripe reported for this payment.",
    )
    taken_back = models.DecimalField(
        "taken from the balance",
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text=(
            "What refunds and disputes took from the balance so far, net of disputes won; "
            "never more than the amount credited."
        ),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["publisher", "created_at"], name="checkout_publisher_at")]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_session_id"],
                condition=~Q(stripe_session_id=""),
                name="checkout_unique_session",
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent"],
                condition=~Q(stripe_payment_intent=""),
                name="checkout_unique_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"Checkout {self.id} ({self.status})"


class EventOutcome(models.TextChoices):
    CREDITED = "credited", "Credited the payment"
    ALREADY_CREDITED = "already_credited", "Already credited (nothing more done)"
    NOT_PAID = "not_paid", "Session not paid (yet)"
    UNKNOWN_SESSION = "unknown_session", "Not a session of this installation"
    MISMATCH = "mismatch", "Does not match our checkout: not credited"
    IGNORED = "ignored", "Event type not used"
    REFUNDED = "refunded", "Took the refund from the balance"
    DISPUTE_DEBITED = "dispute_debited", "Took the disputed amount from the balance"
    DISPUTE_RETURNED = "dispute_returned", "Gave the dispute's reinstated funds back"
    NO_CHANGE = "no_change", "Already taken into account (nothing changed)"
    UNKNOWN_PAYMENT = "unknown_payment", "Not a payment pressrun credited: nothing changed"
    OTHER_CURRENCY = "other_currency", "Another currency than the payment's: nothing changed"
    UNREADABLE = "unreadable", "Amounts missing or malformed: nothing changed"


class StripeEvent(models.Model):
    """A verified Stripe webhook event, stored once per event id with what it led to."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=50, blank=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    received_at = models.DateTimeField()
    payload = models.TextField()
    checkout = models.ForeignKey(
        Checkout, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    outcome = models.CharField(max_length=20, choices=EventOutcome.choices)
    note = models.CharField(max_length=500, blank=True)
    ledger_entry = models.OneToOneField(
        LedgerEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The ledger line this event's refund or dispute wrote (of its checkout).",
    )

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class StripeDispute(models.Model):
    """A dispute (chargeback) of a credited card payment: Stripe's figures, and what pressrun
    took from and gave back to the balance for it. One row per Stripe dispute id, changed
    only under its checkout's row lock."""

    dispute_id = models.CharField("Stripe dispute", max_length=255, unique=True)
    checkout = models.ForeignKey(Checkout, on_delete=models.PROTECT, related_name="disputes")
    amount = models.DecimalField("disputed amount", max_digits=12, decimal_places=2)
    status = models.CharField(max_length=30, blank=True, help_text="Stripe's, as last reported.")
    withdrawn = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What Stripe withdrew for it (empty: nothing yet, e.g. an inquiry).",
    )
    reinstated = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What Stripe gave back when it closed (empty: nothing yet).",
    )
    taken = models.DecimalField(
        "taken from the balance", max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    given_back = models.DecimalField(
        "given back to the balance", max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Dispute {self.dispute_id} ({self.status})"
