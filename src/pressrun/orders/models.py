"""Orders, their lines and their history.

An order is one box to one address. It has two state columns: `status`, what the publisher
is told (HOLD, PROCESSING, SHIPPED, ERROR, CANCELLED, TEST; `orders/status.py`), and, once it
is paid, `fulfillment_state`, where the box physically is (`FulfillmentState`; the table of
moves is `pressrun.fulfillment.states`). Every change is one `OrderEvent`, so the history of
an order is always complete.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from pressrun.accounts.models import MailMethod, Publisher
from pressrun.catalog.models import Project


def new_customer_token() -> str:
    """The unguessable secret in a customer's address-change link."""
    return secrets.token_urlsafe(24)


class Mode(models.TextChoices):
    TEST = "test", "Test"
    PROD = "prod", "Production"


class OrderStatus(models.TextChoices):
    """What the publisher is told. TEST orders are reported to publishers as ERROR / 20 and
    CANCELLED ones as ERROR / 30 (docs/gateway.md). A paid order's status follows its
    fulfillment state (`pressrun.fulfillment.states.REPORTED_STATUS`)."""

    HOLD = "HOLD", "Hold (awaiting payment)"
    PROCESSING = "PROCESSING", "Processing"
    SHIPPED = "SHIPPED", "Shipped"
    ERROR = "ERROR", "Error (address problem)"
    CANCELLED = "CANCELLED", "Cancelled (refunded)"
    TEST = "TEST", "Test order"


class FulfillmentState(models.TextChoices):
    """Where a paid order physically is. HOLD and test orders have none (blank): an order
    enters at payment, as WAITING or READY (`orders.status.fulfillment_state_on_payment`),
    and every later move goes through `pressrun.fulfillment.services.fulfillment_move`."""

    WAITING = "waiting", "Waiting (address window open)"
    READY = "ready", "Ready to make"
    IN_PRODUCTION = "in_production", "In production"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped"
    ADDRESS_ERROR = "address_error", "Address error"
    CANCELLED = "cancelled", "Cancelled"


# The physical states of orders that are still to be made or shipped (the partial index).
OPEN_FULFILLMENT_STATES = (
    FulfillmentState.WAITING,
    FulfillmentState.READY,
    FulfillmentState.IN_PRODUCTION,
    FulfillmentState.PACKED,
    FulfillmentState.ADDRESS_ERROR,
)


class ShippingMethod(models.TextChoices):
    """How the box actually travels (the status reply's ShippingMethod values)."""

    STANDARD = "standard", "Standard"
    STANDARD_TRACKING = "standard+tracking", "Standard + tracking"
    PRIORITY = "priority", "Priority"
    EXPRESS = "express", "Express"


class Source(models.TextChoices):
    GATEWAY = "gateway", "HTTP gateway"
    DASHBOARD = "dashboard", "Dashboard"
    SHOPIFY = "shopify", "Shopify"
    SAMCART = "samcart", "SamCart"
    ONESHOPPINGCART = "1shoppingcart", "1ShoppingCart"


class Order(models.Model):
    id = models.BigAutoField(primary_key=True, verbose_name="order number")
    # No index of its own: the composite indexes below lead with publisher, and a lone
    # publisher index tempts SQLite's planner into scanning all of a publisher's orders
    # for an invoice lookup.
    publisher = models.ForeignKey(
        Publisher, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    status = models.CharField(max_length=12, choices=OrderStatus.choices)
    invoice = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    external_ref = models.CharField(
        max_length=200, blank=True, help_text="The sender's own id for this order, if any."
    )
    store = models.CharField(
        "cart store",
        max_length=255,
        blank=True,
        help_text="The cart's store the order came from (Shopify: its shop domain, e.g. "
        "artist-a.myshopify.com); with external_ref it identifies the cart's order.",
    )

    # recipient
    email = models.CharField("customer email", max_length=254, blank=True)
    name = models.CharField(max_length=100)
    company = models.CharField("company / attention", max_length=100, blank=True)
    address = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    state = models.CharField("state / province", max_length=60, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")

    # shipping and options
    mail_method = models.CharField(
        "requested mail method", max_length=20, choices=MailMethod.choices
    )
    shipping_method = models.CharField(max_length=20, choices=ShippingMethod.choices)
    special_text = models.TextField(blank=True, max_length=500)
    customer_price = models.DecimalField(
        "price shown to the customer (nprice)",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
    )
    use_price_on_customs_form = models.BooleanField(default=False)
    send_notification_email = models.BooleanField(
        null=True, blank=True, help_text="Overrides the publisher's setting when set."
    )

    # money
    products_cost = models.DecimalField(max_digits=12, decimal_places=2)
    shipping_cost = models.DecimalField(max_digits=12, decimal_places=2)
    total_cost = models.DecimalField(max_digits=12, decimal_places=2)
    charged_at = models.DateTimeField(null=True, blank=True)

    # fulfillment
    fulfillment_state = models.CharField(
        max_length=16,
        choices=FulfillmentState.choices,
        blank=True,
        default="",
        help_text="Where the paid order physically is; blank for HOLD and test orders. "
        "Changed only by fulfillment_move (and set at payment).",
    )
    fulfillment_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the fulfillment state last changed (a waiting order that became ready "
        "counts from the end of its postage window). Readers use "
        "pressrun.fulfillment.selectors.fulfillment_last_modified.",
    )
    error_description = models.CharField(
        max_length=500,
        blank=True,
        help_text="The status reply's OrderStatusErrDesc: the address problem (address "
        "error) or why the order was cancelled.",
    )
    ship_date = models.DateField(null=True, blank=True)
    tracking_id = models.CharField(max_length=100, blank=True)
    carrier = models.CharField(max_length=50, blank=True, help_text="e.g. USPS, UPS, FedEx.")
    service = models.CharField(
        "carrier service", max_length=100, blank=True, help_text="e.g. USPS Priority Mail."
    )
    postage_cost = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What the postage cost us (the label's price); the publisher paid shipping_cost.",
    )
    customer_token = models.CharField(
        max_length=64,
        unique=True,
        default=new_customer_token,
        editable=False,
        help_text="Secret in the customer's address-change link.",
    )

    # The address check (pressrun.fulfillment.address): when the order's current address
    # last passed a check, and what the check said. Cleared whenever the address changes,
    # so a set `address_checked_at` always speaks of the address the order has now.
    address_checked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the current address passed the address check; empty while it has not "
        "(not checked yet, changed since, or in address error).",
    )
    address_check_note = models.CharField(
        max_length=500,
        blank=True,
        help_text="What the last address check said (which verifier, a fallback, a problem).",
    )
    address_error_reminded_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the publisher was last reminded of this order's unfixed address error.",
    )

    address_changes_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="End of the postage delay: until then the customer may correct the address. "
        "Fixed when the order is placed (a later change of the publisher's delay does not move "
        "it); empty when the publisher offered no address changes.",
    )

    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # On SQLite it also holds the status reply's columns, so the status call reads
            # the index alone (migration 0011, tests/orders/test_status_index.py).
            models.Index(fields=["publisher", "invoice"], name="order_publisher_invoice"),
            models.Index(
                fields=["publisher", "status", "created_at"], name="order_publisher_status"
            ),
            # The orders still to be made or shipped, by state and last change: the postage
            # window task, the floor queue, the shipping export. Shipped and cancelled orders
            # (nearly all of them, in time) leave it.
            models.Index(
                fields=["fulfillment_state", "fulfillment_updated_at"],
                name="order_fulfillment_open",
                condition=Q(fulfillment_state__in=OPEN_FULFILLMENT_STATES),
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.id}"

    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.lines.all())


class OrderLine(models.Model):
    """A project and its quantity in an order.

    `mode`, `invoice` and `email_key` repeat the order's values so the duplicate rules can be
    enforced by a constraint and an index on this table alone.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="order_lines")
    position = models.PositiveSmallIntegerField()
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    mode = models.CharField(max_length=4, choices=Mode.choices)
    invoice = models.CharField(max_length=50, blank=True)
    email_key = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            # Spec: an invoice may be used once per product (per mode, so a publisher's
            # test orders never block the same invoice in production).
            models.UniqueConstraint(
                fields=["project", "mode", "invoice"],
                condition=~Q(invoice=""),
                name="orderline_unique_invoice_per_project",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1) & Q(quantity__lte=250), name="orderline_quantity_range"
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "mode", "email_key", "created_at"],
                name="orderline_email_window",
                condition=Q(invoice="") & ~Q(email_key=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.project_id}"


class OrderEvent(models.Model):
    """One entry of an order's history: placed, charged, status changed, corrected..."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=30)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, blank=True)
    from_state = models.CharField(
        "from fulfillment state", max_length=16, blank=True, choices=FulfillmentState.choices
    )
    to_state = models.CharField(
        "to fulfillment state", max_length=16, blank=True, choices=FulfillmentState.choices
    )
    message = models.TextField(blank=True)
    actor = models.CharField(max_length=100, blank=True, help_text="Who or what did it.")
    # True on a `placed` event until the worker's relay has handed the new order to the
    # layers above (`orders.relay`); None once relayed, and on every other event. Intake's
    # transaction writes this instead of the follow-ups' task rows.
    relay_pending = models.BooleanField(null=True, default=None)

    class Meta:
        ordering = ["order", "at", "id"]
        indexes = [
            # Small: only the placed events not yet relayed are in it.
            models.Index(
                fields=["id"], name="orderevent_relay_pending", condition=Q(relay_pending=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class OrderDeletion(models.Model):
    """What remains of a HOLD or test order its publisher deleted (the order, its lines and
    history are gone; its invoice may be used again)."""

    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="+")
    order_number = models.BigIntegerField()
    mode = models.CharField(max_length=4, choices=Mode.choices)
    status = models.CharField(max_length=12, choices=OrderStatus.choices)
    invoice = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    name = models.CharField(max_length=100)
    total_cost = models.DecimalField(max_digits=12, decimal_places=2)
    lines = models.JSONField(default=list, help_text="[[project ID, quantity], ...]")
    placed_at = models.DateTimeField()
    deleted_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=100, blank=True)
    customer_token = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The deleted order's customer link, so it can say the order was cancelled.",
    )

    class Meta:
        ordering = ["-deleted_at", "-id"]

    def __str__(self) -> str:
        return f"Order {self.order_number} (deleted)"
