"""Publishers: the accounts that own projects and orders and sign in to the gateway."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.core.validators import MaxValueValidator
from django.db import models

from pressrun.core.sealed import unseal

# Shopify topics that create an order unless the publisher chooses others (the spec's
# "Order fulfillment" event).
DEFAULT_SHOPIFY_TOPICS = "orders/fulfilled"
DEFAULT_POSTAGE_DELAY_HOURS = 12
MAX_POSTAGE_DELAY_HOURS = 168
DEFAULT_ADDRESS_ERROR_REMINDER_DAYS = 14
MAX_ADDRESS_ERROR_REMINDER_DAYS = 365
SHOPIFY_ORDER_TOPICS = ("orders/fulfilled", "orders/paid", "orders/create")
# Known sign-in addresses kept per account (the least recently used are forgotten first).
MAX_KNOWN_ADDRESSES = 20


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
    customer_address_changes = models.BooleanField(
        "customers may correct their address",
        default=True,
        help_text="The order notification carries a link where the customer can correct the "
        "address until postage is printed.",
    )
    postage_delay_hours = models.PositiveSmallIntegerField(
        default=DEFAULT_POSTAGE_DELAY_HOURS,
        validators=[MaxValueValidator(MAX_POSTAGE_DELAY_HOURS)],
        help_text="Hours after an order is placed before postage is printed; customers may "
        "correct their address until then.",
    )
    address_error_reminder_days = models.PositiveSmallIntegerField(
        default=DEFAULT_ADDRESS_ERROR_REMINDER_DAYS,
        validators=[MaxValueValidator(MAX_ADDRESS_ERROR_REMINDER_DAYS)],
        help_text="Days an order may stay stopped for an address problem before the publisher "
        "is emailed about it (once per problem).",
    )
    error_email = models.EmailField(
        blank=True,
        help_text="Where pressrun sends setup errors and HOLD-order reminders (blank: the "
        "login email).",
    )
    customer_contact_email = models.EmailField(
        blank=True,
        help_text="The address customers see and reply to (order emails, address page). "
        "Blank: the login email.",
    )
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
    shopify_webhook_key_sealed = models.TextField(
        "Shopify webhook signing key (sealed)",
        blank=True,
        help_text="Shopify's webhook signing key (Settings > Notifications > Webhooks), stored "
        "encrypted; set it with publisher_set_cart_credentials. Blank: signatures are not "
        "checked (the URL token still is).",
    )
    shopify_topics = models.CharField(
        max_length=200,
        default=DEFAULT_SHOPIFY_TOPICS,
        help_text="Comma-separated Shopify topics that create orders: orders/fulfilled, "
        "orders/paid, orders/create.",
    )
    shopify_admin_token_sealed = models.TextField(
        "Shopify Admin API access token (sealed)",
        blank=True,
        help_text="The shop's Admin API access token (a custom app's, with the fulfillment "
        "scopes), stored encrypted; pressrun posts tracking back to Shopify with it. Set it "
        "with publisher_set_cart_credentials. Blank: tracking is not posted back.",
    )
    shopify_notify_customer = models.BooleanField(
        "Shopify notifies the customer",
        default=False,
        help_text="When pressrun posts tracking to Shopify, Shopify also sends its own "
        "shipping confirmation to the customer (notifyCustomer). Off by default: pressrun's "
        "own tracking email already goes out.",
    )
    oneshoppingcart_merchant_id = models.CharField(
        "1ShoppingCart merchant ID", max_length=40, blank=True
    )
    oneshoppingcart_api_key_sealed = models.TextField(
        "1ShoppingCart merchant API key (sealed)",
        blank=True,
        help_text="Stored encrypted; set it with publisher_set_cart_credentials.",
    )
    # The event types the publisher's webhook endpoint takes while it is on ([] when it is
    # off or there is none): a copy kept by `webhooks.services.webhook_endpoint_save`, read
    # with the publisher, so intake learns that no webhook follows an order without reading
    # the endpoint for every order (webhooks/subscribers.py). Only that service writes it: a
    # save of the whole row leaves it alone (`save`).
    webhook_events = models.JSONField(default=list, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        label = self.company or self.email
        return f"{self.id} {label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A publisher loaded before its endpoint changed and saved whole afterwards (the
        # operator's admin form) must not put back the old copy of the endpoint's events.
        if kwargs.get("update_fields") is None and not self._state.adding:
            # As Django's own save of a partly loaded row: the loaded fields only.
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key
                and field.name != "webhook_events"
                and field.attname not in deferred
            ]
        super().save(*args, **kwargs)

    @property
    def customer_contact(self) -> str:
        """Where customers write to this publisher."""
        return self.customer_contact_email or self.email

    @property
    def oneshoppingcart_api_key(self) -> str:
        """The plain 1ShoppingCart API key ("" when none is saved or it is unreadable)."""
        return unseal(self.oneshoppingcart_api_key_sealed)

    @property
    def shopify_webhook_key(self) -> str:
        """The plain Shopify webhook signing key ("" when none is saved or it is unreadable).

        Read-only: the key is stored sealed and changed only by publisher_set_cart_credentials.
        """
        return unseal(self.shopify_webhook_key_sealed)

    @property
    def shopify_admin_token(self) -> str:
        """The plain Shopify Admin API access token ("" when none is saved or it is
        unreadable). Read-only: changed only by publisher_set_cart_credentials."""
        return unseal(self.shopify_admin_token_sealed)

    def secret_values(self) -> list[str]:
        """Every secret of this publisher in plain form (password hash, cart token, cart
        credentials): what an operator screen must show only as hints (`core.sealed`)."""
        return [
            self.password,
            self.cart_token,
            self.shopify_webhook_key,
            self.shopify_admin_token,
            self.oneshoppingcart_api_key,
        ]

    @property
    def error_recipient(self) -> str:
        return self.error_email or self.email

    @property
    def shopify_topic_set(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.shopify_topics.split(",") if t.strip())


class SignInRealm(models.TextChoices):
    """Whose sign-in an attempt was: the same login text may exist in both."""

    PUBLISHER = "publisher", "Publisher (dashboard and gateway)"
    OPERATOR = "operator", "Operator (admin console)"
    WAREHOUSE = "warehouse", "Shipping station or warehouse (Custom Store endpoint)"


class LoginFailure(models.Model):
    """One failed sign-in, kept for throttling (accounts/throttle.py).

    The row is written *before* the password is checked, as the attempt's reservation
    (`checked` false), and removed when the password was right or marked checked when it was
    wrong: concurrent attempts each see the others, so no more than the limit are checked.
    """

    realm = models.CharField(
        max_length=16, choices=SignInRealm.choices, default=SignInRealm.PUBLISHER
    )
    login = models.CharField(
        max_length=254, help_text="The login email (publishers) or user name (operators)."
    )
    client_address = models.CharField(
        max_length=64, help_text="An IPv4 address, or an IPv6 client's /64 network."
    )
    at = models.DateTimeField(db_index=True)
    password_digest = models.CharField(
        max_length=64,
        blank=True,
        help_text="Keyed digest of the password tried and the hash it was checked against "
        "(the same wrong password again is not counted twice).",
    )
    checked = models.BooleanField(
        default=True, help_text="False while the password is being checked."
    )

    class Meta:
        indexes = [
            models.Index(fields=["realm", "login", "at"], name="loginfailure_login_at"),
            models.Index(
                fields=["realm", "login", "client_address", "at"],
                name="loginfailure_pair_at",
            ),
            models.Index(fields=["client_address", "at"], name="loginfailure_address_at"),
        ]

    def __str__(self) -> str:
        return f"{self.login} from {self.client_address} at {self.at:%Y-%m-%d %H:%M:%S}"


class KnownSignInAddress(models.Model):
    """A client address from which an account signed in successfully (the right password was
    checked there, or recently verified credentials were used from there).

    Failures from other addresses never hold a known address back (accounts/throttle.py). The
    list is bounded: an address is forgotten `PRESSRUN_KNOWN_ADDRESS_DAYS` after its last
    success, and an account keeps at most `MAX_KNOWN_ADDRESSES` (the least recently used go).
    """

    realm = models.CharField(max_length=16, choices=SignInRealm.choices)
    login = models.CharField(max_length=254)
    client_address = models.CharField(
        max_length=64, help_text="An IPv4 address, or an IPv6 client's /64 network."
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "known sign-in address"
        constraints = [
            models.UniqueConstraint(
                fields=["realm", "login", "client_address"], name="known_address_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.login} from {self.client_address}"


class PasswordResetRequest(models.Model):
    """One accepted request for a password-reset link, kept for the per-hour limits
    (whether or not the email has an account: nothing may tell the two apart)."""

    email = models.CharField(max_length=254)
    client_address = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["email", "at"], name="resetrequest_email_at"),
            models.Index(fields=["client_address", "at"], name="resetrequest_address_at"),
        ]

    def __str__(self) -> str:
        return f"{self.email} from {self.client_address} at {self.at:%Y-%m-%d %H:%M:%S}"
