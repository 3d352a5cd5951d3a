"""Online payments: our own record of every Stripe Checkout a publisher starts, and every
Stripe event received.

A payment is credited from our `Checkout` row (its publisher and amount), never from what an
event or a return URL says: Stripe's word is only taken for "this session was paid, this
much, in this currency", and that must match the row. Each checkout is credited at most
once (a conditional status change, and a unique ledger entry per checkout); each Stripe event
is stored once (unique event id).
"""

from __future__ import annotations

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

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"
