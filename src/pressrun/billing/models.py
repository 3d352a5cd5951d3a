"""The publisher's ledger, the editable shipping price list, and status-call metering."""

from __future__ import annotations

from django.db import models

from pressrun.accounts.models import Publisher
from pressrun.orders.models import Order, ShippingMethod


class Region(models.TextChoices):
    DOMESTIC = "domestic", "Domestic (US)"
    INTERNATIONAL = "international", "International"


class ShippingRate(models.Model):
    """What one box costs to ship, by shipping method and region. Operators edit these."""

    shipping_method = models.CharField(max_length=20, choices=ShippingMethod.choices)
    region = models.CharField(max_length=15, choices=Region.choices)
    first_unit = models.DecimalField(max_digits=8, decimal_places=2)
    each_additional_unit = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        ordering = ["region", "shipping_method"]
        constraints = [
            models.UniqueConstraint(fields=["shipping_method", "region"], name="rate_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_shipping_method_display()} {self.get_region_display()}"


class LedgerKind(models.TextChoices):
    PAYMENT = "payment", "Payment"
    ORDER_CHARGE = "order_charge", "Order charge"
    STATUS_CALL = "status_call", "Status call charge"
    ADJUSTMENT = "adjustment", "Adjustment"
    ORDER_REFUND = "order_refund", "Order refund"
    # Money Stripe took back from a card payment, or returned (payments/, docs/payments.md).
    PAYMENT_REFUND = "payment_refund", "Card refund"
    PAYMENT_DISPUTE = "payment_dispute", "Card dispute"
    DISPUTE_REINSTATED = "dispute_reinstated", "Card dispute won"


class LedgerEntry(models.Model):
    """One change of a publisher's balance. Credits are positive, charges negative."""

    # No index of its own: `ledger_publisher_at` begins with the publisher. A second index
    # would only be one more b-tree every charge writes (a page of SQLite's log each).
    publisher = models.ForeignKey(
        Publisher, on_delete=models.PROTECT, related_name="ledger", db_index=False
    )
    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    description = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["publisher", "created_at"], name="ledger_publisher_at")]
        constraints = [
            # An order is charged at most once, whatever retries or races happen.
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(kind="order_charge"),
                name="ledger_one_charge_per_order",
            ),
            # And refunded at most once (an operator's cancellation).
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(kind="order_refund"),
                name="ledger_one_refund_per_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d} {self.kind} {self.amount}"


class StatusCallHour(models.Model):
    """A publisher's getOrderStatusByInvoice calls in one clock hour (UTC), counted in place.

    Metering reads at most 24 of these rows per call instead of one row per call; how the
    hours make up the spec's 24-hour period is explained in `billing.services`.
    """

    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="+")
    hour_start = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)
    charged = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # One counter per publisher and hour: concurrent first calls of an hour cannot
            # both insert one (the loser adds to the winner's row instead).
            models.UniqueConstraint(
                fields=["publisher", "hour_start"], name="statuscallhour_one_per_hour"
            )
        ]
        indexes = [models.Index(fields=["hour_start"], name="statuscallhour_hour_start")]

    def __str__(self) -> str:
        return f"{self.publisher_id} {self.hour_start:%Y-%m-%d %H}:00 {self.calls} calls"
