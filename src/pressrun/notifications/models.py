"""The email log: one row per logical email, written before it is sent.

The unique `key` ("order_placed:<order id>:customer", "hold-orders:<publisher id>:<date>",
...) makes every email idempotent: queueing the same logical email twice stores nothing the
second time, and the send task sends a row only after claiming it (QUEUED → SENDING, owned
by the claiming worker), so a retried or repeated task never sends it again. Operators
(admin) and publishers (each order's page) see what was sent, to whom, when.
"""

from __future__ import annotations

from django.db import models

from pressrun.accounts.models import Publisher
from pressrun.orders.models import Order


class EmailKind(models.TextChoices):
    ORDER_PLACED = "order_placed", "Order notification"
    ORDER_SHIPPED = "order_shipped", "Tracking"
    ORDER_CHANGED = "order_changed", "Order changed"
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"
    HOLD_ORDERS = "hold_orders", "Orders awaiting payment"
    PUBLISHER_ERROR = "publisher_error", "Error report"
    PAYMENT_RECEIPT = "payment_receipt", "Payment receipt"
    PAYMENT_REVERSAL = "payment_reversal", "Card refund or dispute"
    ADDRESS_ERROR = "address_error", "Address problem"
    ADDRESS_ERROR_REMINDER = "address_reminder", "Address problem reminder"


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutgoingEmail(models.Model):
    """One email pressrun sends (or sent), with its rendered content."""

    key = models.CharField(
        max_length=200, unique=True, help_text="Names the logical email; one row per key."
    )
    kind = models.CharField(max_length=20, choices=EmailKind.choices)
    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    # Deleting a HOLD or test order keeps the record of what its customer was sent.
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, related_name="emails", null=True, blank=True
    )
    to = models.CharField(max_length=254)
    from_name = models.CharField(max_length=200, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    html = models.TextField(blank=True)
    is_test = models.BooleanField(default=False, help_text="About a test-mode order.")
    status = models.CharField(
        max_length=10, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # Who holds a SENDING row: the `pressrun worker` that claimed it (its heartbeat's id), or
    # blank when claimed outside a worker. The claim lasts as long as that worker is alive.
    claimed_by = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["publisher", "created_at"], name="email_publisher_created"),
            # The sweep's read, every few seconds: the few rows not yet sent among all ever sent.
            models.Index(
                fields=["status"],
                name="email_unsent",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"
