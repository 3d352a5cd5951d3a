"""The production floor's batches: a group of ready orders made together.

An order's physical state stays on the order (`Order.fulfillment_state`); a batch records
which orders an operator put into production together, so that they get one pick list and
their packing slips in one PDF (`fulfillment/packing.py`). Membership is a row per order and
batch; it ends (`removed_at`) when the order is pulled out, goes back to ready by any other
path, or is stopped (address error, cancelled). A database constraint allows one current
membership per order, so no order is ever in two batches at once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from pressrun.orders.models import Order


class BatchState(models.TextChoices):
    """Where a batch is, computed from its current orders (`batches.batch_refresh_state`)."""

    IN_PRODUCTION = "in_production", "In production"
    PACKED = "packed", "Packed"  # no current order is still in production
    SHIPPED = "shipped", "Shipped"  # every current order has shipped
    EMPTIED = "emptied", "Emptied"  # every order was pulled out


class Batch(models.Model):
    """Orders of one floor group (`fulfillment.floor.FloorGroup`) put into production
    together. `id` is the batch number."""

    id = models.BigAutoField(primary_key=True, verbose_name="batch number")
    group = models.CharField(max_length=30, help_text="The floor group (media and packaging).")
    state = models.CharField(
        max_length=16, choices=BatchState.choices, default=BatchState.IN_PRODUCTION
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by_name = models.CharField(
        max_length=150, help_text="The operator's username, kept if the user is deleted."
    )
    created_at = models.DateTimeField()
    state_changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["state", "id"], name="batch_state")]

    def __str__(self) -> str:
        return f"Batch {self.id}"

    @property
    def number(self) -> int:
        return self.id


class BatchOrder(models.Model):
    """An order's membership of a batch. Current while `removed_at` is empty."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="memberships")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="batch_memberships")
    added_at = models.DateTimeField()
    added_by = models.CharField(max_length=100)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.CharField(max_length=100, blank=True)
    removed_why = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["batch", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(removed_at__isnull=True),
                name="batch_order_one_current_batch",
            )
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id} in batch {self.batch_id}"
