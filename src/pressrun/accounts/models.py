"""Publishers: the accounts that own projects and orders and sign in to the gateway."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import models

# Shopify topics that create an order unless the publisher chooses others (the spec's
# "Order fulfillment" event).
DEFAULT_SHOPIFY_TOPICS = "orders/fulfilled"
SHOPIFY_ORDER_TOPICS = ("orders/fulfilled", "orders/paid", "orders/create")


def new_cart_token() -> str:
    """A random, unguessable secret for a publisher's cart webhook URLs."""
    return secrets.token_urlsafe(24)


class MailMethod(models.TextChoices):
    """What a publisher or an order asks for (the gateway's typeMailMethod values)."""

    STANDARD = "standard", "Standard (letter rate where possible)"
    RTRACKSTANDARD = "rtrackstandard", "Standard + tracking"
    PRIORITY = "priority", "Priority (2-3 days)"
    EXPRESS = "express", "Express (1-2 days)"


class Publisher(models.Model):
    """A publisher account. `id` is the numeric publisher ID the carts' URLs use."""

    id = models.BigAutoField(primary_key=True, verbose_name="publisher ID")
    email = models.EmailField("login email", max_length=254, unique=True)
    password = models.CharField(max_length=256, help_text="Django password hash.")
    company = models.CharField(max_length=200, blank=True)
    default_mail_method = models.CharField(
        "default order mail method",
        max_length=20,
        choices=MailMethod.choices,
        default=MailMethod.STANDARD,
    )
    customer_email_notifications = models.BooleanField(default=True)
    balance = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="Kept equal to the sum of the ledger; changed only by billing services.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cart_token = models.CharField(
        max_length=64,
        default=new_cart_token,
        help_text="Secret in the publisher's cart webhook URLs; rotate it if it leaks.",
    )
    shopify_webhook_key = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shopify's webhook signing key (Settings > Notifications > Webhooks). "
        "Blank: signatures are not checked (the URL token still is).",
    )
    shopify_topics = models.CharField(
        max_length=200,
        default=DEFAULT_SHOPIFY_TOPICS,
        help_text="Comma-separated Shopify topics that create orders: orders/fulfilled, "
        "orders/paid, orders/create.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        label = self.company or self.email
        return f"{self.id} {label}"

    @property
    def shopify_topic_set(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.shopify_topics.split(",") if t.strip())


class LoginFailure(models.Model):
    """One failed sign-in, kept for throttling by account and by client address."""

    email = models.CharField(max_length=254)
    client_address = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["email", "at"], name="loginfailure_email_at"),
            models.Index(fields=["client_address", "at"], name="loginfailure_address_at"),
        ]

    def __str__(self) -> str:
        return f"{self.email} from {self.client_address} at {self.at:%Y-%m-%d %H:%M:%S}"
