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


class WebhookDelivery(models.Model):
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
    # Attempts of the current series (the first send, or a redelivery), for the schedule.
    series_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Who holds a SENDING row: the `pressrun worker` that claimed it, or blank outside one.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

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


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, and what came of it."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField(help_text="1, 2, ... over the delivery's life.")
    started_at = models.DateTimeField()
    url = models.CharField(max_length=500)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(
        max_length=500, blank=True, help_text="The start of the response body, nothing more."
    )
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300
