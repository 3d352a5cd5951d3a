"""Outbound webhooks: a publisher's endpoint, every event queued for it, every attempt.

A `WebhookDelivery` is written in the same transaction as the fact it tells (an order
placed, held, released, shipped, stopped for its address), together with the task that
sends it: an outbox, so an event is queued if and only if its fact commits. Its JSON body is
fixed when it is written, so every attempt and every redelivery sends the same bytes under
the same event id (receivers deduplicate on it). Sending claims the row first (PENDING →
SENDING, owned by the claiming worker), as emails do (notifications/models.py); a claim
whose worker died is taken over. See docs/webhooks.md.
"""

from __future__ import annotations

from django.db import models

from pressrun.accounts.models import Publisher
from pressrun.core.models import OutboundAttempt, OutboundRow
from pressrun.orders.models import Order


class WebhookEventType(models.TextChoices):
    """The events a publisher may subscribe to (the body's `type`)."""

    ORDER_PLACED = "order.placed", "Order placed (every new order, any status)"
    ORDER_HELD = "order.held", "Order held (placed on HOLD: the balance did not cover it)"
    ORDER_RELEASED = "order.released", "Order released (a HOLD order was paid)"
    ORDER_SHIPPED = "order.shipped", "Order shipped (with tracking when known)"
    ORDER_ADDRESS_ERROR = "order.address_error", "Address error (the order stopped)"
    ORDER_SHIPMENT_CORRECTED = (
        "order.shipment_corrected",
        "Shipment corrected (an operator changed a shipped order's tracking or ship details)",
    )


# The test event of the "Send test event" button; not subscribable, sent once, never retried.
TEST_EVENT_TYPE = "webhook.test"


class WebhookEndpoint(models.Model):
    """Where a publisher's webhooks go (one endpoint per publisher), under which secret."""

    publisher = models.OneToOneField(
        Publisher, on_delete=models.CASCADE, related_name="webhook_endpoint"
    )
    url = models.CharField("endpoint URL", max_length=500)
    # The signing secret, sealed (core/sealed.py); the dashboard shows it on request.
    secret_sealed = models.TextField()
    event_types = models.JSONField(
        default=list, help_text="The WebhookEventType values sent to this endpoint."
    )
    enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    secret_created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Webhooks of publisher {self.publisher_id} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"
    CANCELLED = "cancelled", "Not sent (webhooks turned off)"


class WebhookDelivery(OutboundRow):
    """One event for one publisher's endpoint, and where its sending stands."""

    event_id = models.CharField(max_length=40, unique=True)
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=30)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    body = models.TextField(help_text="The JSON body, exactly as sent.")
    created_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["publisher", "created_at"], name="webhook_publisher_created"),
            # The sweep's read: the few deliveries not yet finished among all ever made.
            models.Index(
                fields=["status"],
                name="webhook_unfinished",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.status})"

    @property
    def is_test(self) -> bool:
        return self.event_type == TEST_EVENT_TYPE


class WebhookAttempt(OutboundAttempt):
    """One HTTP request of a delivery, and what came of it."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
