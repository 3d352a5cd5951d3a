"""Publishers: the accounts that own projects and orders and sign in to the gateway."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


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

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        label = self.company or self.email
        return f"{self.id} {label}"


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
