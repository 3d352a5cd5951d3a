"""Connections of shipping stations and warehouses, and the ship notices they send.

A `WarehouseConnection` is one set of credentials for the ShipStation-compatible Custom
Store endpoint (`/warehouses/shipstation`). With no publisher it is pressrun's own shipping
station: it pulls the orders pressrun makes (every publisher's) and posts their tracking
back. With a publisher it is that publisher's own warehouse (issue 11): it pulls the
warehouse orders routed to it and reports their packages (`WarehouseShipment`), and sees
nothing of pressrun's own orders.

A `ShipNotice` is every shipment notice a connection posted (kept once per distinct
request, with how many times it came and what became of it), so that an operator can see
the notices that could not be applied: an unknown or ambiguous order, a cancelled one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from pressrun.accounts.models import Publisher
from pressrun.core.models import OutboundAttempt, OutboundRow
from pressrun.orders.models import Order


class WarehouseConnection(models.Model):
    name = models.CharField(max_length=100, help_text="What the operator calls it.")
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="warehouse_connections",
        help_text="Empty: pressrun's own shipping station (ships every publisher's orders). "
        "Set: that publisher's own warehouse.",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled connection's credentials are refused (403)."
    )
    after_packing = models.BooleanField(
        default=False,
        help_text="Export orders only once they are packed (else every ready order).",
    )
    receives_unknown_skus = models.BooleanField(
        default=False,
        help_text="A publisher's warehouse only: cart lines whose SKU names no project and no "
        "listing of any of the publisher's warehouses are sent here unchanged (at most one "
        "connection per publisher).",
    )
    username = models.CharField(max_length=64, unique=True)
    password = models.CharField(max_length=256, help_text="Django password hash.")
    created_at = models.DateTimeField()
    # The push protocol (warehouses/push.py, docs/warehouses.md "A WMS with an API"): orders
    # are POSTed to `push_url`, signed with the secret, which also signs what the warehouse
    # sends back. Sealed (core/sealed.py): pressrun must read it to sign.
    push_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="A publisher's warehouse only. Set: each order is POSTed here (push). "
        "Empty: the warehouse pulls its orders.",
    )
    push_secret_sealed = models.TextField(
        blank=True, help_text="The push protocol's signing secret, sealed."
    )
    push_secret_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "warehouse connection"
        constraints = [
            models.UniqueConstraint(
                fields=["publisher"],
                condition=Q(receives_unknown_skus=True),
                name="warehouse_one_unknown_sku_connection",
            ),
            models.CheckConstraint(
                condition=Q(receives_unknown_skus=False) | Q(publisher__isnull=False),
                name="warehouse_unknown_skus_publisher_only",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.username})"

    @property
    def is_own_station(self) -> bool:
        return self.publisher_id is None


class NoticeOutcome(models.TextChoices):
    APPLIED = "applied", "Applied: the order is shipped"
    REPEATED = "repeated", "Repeated: the order already had this shipment"
    UNKNOWN = "unknown", "Unknown order"
    AMBIGUOUS = "ambiguous", "Several orders match"
    CANCELLED = "cancelled", "The order is cancelled"
    REFUSED = "refused", "Refused by the order's state or details"


# Outcomes an operator has to look at (until marked resolved).
ATTENTION_OUTCOMES = (
    NoticeOutcome.UNKNOWN,
    NoticeOutcome.AMBIGUOUS,
    NoticeOutcome.CANCELLED,
    NoticeOutcome.REFUSED,
)


class ShipNotice(models.Model):
    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="ship_notices"
    )
    digest = models.CharField(
        max_length=64, help_text="SHA-256 of the query string and body: one row per request."
    )
    received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    times_received = models.PositiveIntegerField(default=1)
    order_number = models.CharField(max_length=100, blank=True, help_text="order_number=")
    notice_order_id = models.CharField(
        max_length=100, blank=True, help_text="The notice's <OrderID>."
    )
    carrier = models.CharField(max_length=100, blank=True)
    service = models.CharField(max_length=100, blank=True)
    tracking_number = models.CharField(max_length=200, blank=True)
    ship_date = models.DateField(null=True, blank=True)
    shipping_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    body = models.TextField(blank=True, help_text="The notice as received.")
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=12, choices=NoticeOutcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-last_received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "digest"], name="ship_notice_once_per_request"
            )
        ]
        indexes = [
            models.Index(
                fields=["last_received_at"],
                name="ship_notice_attention",
                condition=Q(outcome__in=ATTENTION_OUTCOMES, resolved_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"Ship notice {self.order_number or self.notice_order_id} ({self.outcome})"


# The longest SKU a listing takes (Shopify's SKU is at most 255, ShipStation's 100).
MAX_SKU_LENGTH = 100
# The most of one warehouse SKU one channel SKU stands for.
MAX_COMPONENT_QUANTITY = 10_000


class Listing(models.Model):
    """One row of a warehouse connection's listings: the cart's `channel_sku` is sent to the
    warehouse as `quantity` x `warehouse_sku`. Several rows with one channel SKU are a
    bundle (its components, in the order of their ids); one row with quantity 1 is a
    product listing. A channel SKU without rows is sent unchanged (warehouses/listings.py).
    """

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="listings"
    )
    channel_sku = models.CharField(max_length=MAX_SKU_LENGTH, help_text="The cart's SKU.")
    warehouse_sku = models.CharField(
        max_length=MAX_SKU_LENGTH, help_text="The warehouse's SKU it stands for."
    )
    quantity = models.PositiveIntegerField(
        default=1, help_text="How many of the warehouse SKU one of the channel SKU is."
    )

    class Meta:
        ordering = ["channel_sku", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "channel_sku", "warehouse_sku"],
                name="listing_component_once",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1) & Q(quantity__lte=MAX_COMPONENT_QUANTITY),
                name="listing_quantity_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_sku} → {self.quantity} x {self.warehouse_sku}"


class ListingUpload(models.Model):
    """A listings file uploaded on the dashboard and previewed, waiting for the publisher's
    confirmation (the file is kept here rather than sent back and forth through the
    browser). Confirming imports it unless the listings changed since the preview."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="listing_uploads"
    )
    data = models.BinaryField(help_text="The file as uploaded.")
    replace_all = models.BooleanField(default=False)
    state = models.CharField(
        max_length=64, help_text="Digest of the listings the preview was made against."
    )
    created_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "listing upload"

    def __str__(self) -> str:
        return f"Listing upload {self.id} for connection {self.connection_id}"


# Lengths of a carrier code table's columns and of a rule's text.
MAX_CARRIER_LENGTH = 100
MAX_CODE_LENGTH = 100
MAX_CODE_DESCRIPTION_LENGTH = 200
MAX_RULE_TEXT_LENGTH = 200


class CarrierCode(models.Model):
    """One row of a warehouse connection's carrier-code table (DropStream's CSV
    `Carrier,Code,Description`): a shipping method the warehouse understands, by its code
    (unique per connection). Shipping Description Transformer rules point at these rows
    (warehouses/carrier_codes.py)."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="carrier_codes"
    )
    carrier = models.CharField(max_length=MAX_CARRIER_LENGTH, help_text="e.g. USPS.")
    code = models.CharField(
        max_length=MAX_CODE_LENGTH, help_text="What the warehouse is sent, e.g. USPS_PRIORITY."
    )
    description = models.CharField(max_length=MAX_CODE_DESCRIPTION_LENGTH, blank=True)

    class Meta:
        ordering = ["carrier", "code"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "code"], name="carrier_code_once")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.carrier})"


class DescriptionMatch(models.TextChoices):
    IS = "is", "is"
    STARTS_WITH = "starts_with", "starts with"


class DescriptionRule(models.Model):
    """A Shipping Description Transformer rule: a cart's shipping description that `is` (or
    `starts with`) `text`, character for character, is sent to the warehouse as
    `carrier_code`. Which rule decides: warehouses/carrier_codes.py `transform_description`."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="description_rules"
    )
    match = models.CharField(max_length=12, choices=DescriptionMatch.choices)
    text = models.CharField(max_length=MAX_RULE_TEXT_LENGTH)
    carrier_code = models.ForeignKey(CarrierCode, on_delete=models.PROTECT, related_name="rules")

    class Meta:
        ordering = ["match", "text"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "match", "text"], name="description_rule_once"
            )
        ]

    def __str__(self) -> str:
        return f"description {self.get_match_display()} {self.text!r} → {self.carrier_code_id}"


class CarrierCodeUpload(models.Model):
    """A carrier-code file uploaded on the dashboard and previewed, waiting for the
    publisher's confirmation (as `ListingUpload`)."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="carrier_code_uploads"
    )
    data = models.BinaryField(help_text="The file as uploaded.")
    state = models.CharField(
        max_length=64, help_text="Digest of the table the preview was made against."
    )
    created_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "carrier code upload"

    def __str__(self) -> str:
        return f"Carrier code upload {self.id} for connection {self.connection_id}"


class WarehouseOrderState(models.TextChoices):
    """DropStream's visible order states (warehouses/states.py declares the moves)."""

    NEW = "new", "New"
    OPEN = "open", "Open"
    ROUTED = "routed", "Routed"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    CLOSED = "closed", "Closed"
    ERROR = "error", "Error"


MAX_EXTERNAL_KEY_LENGTH = 300
MAX_LINE_KEY_LENGTH = 300


class WarehouseOrder(models.Model):
    """The lines of one cart order that go to one of the publisher's warehouses (the other
    half of the cart order, if any, is pressrun's own order). One per (connection, cart,
    cart order): lines routed later join it while it has not gone to the warehouse.

    The cart side (which deliveries and cart lines it came from) is kept by `carts`, which
    sits above this app; this row keeps what the warehouse needs: the recipient and the
    shipping description as the cart sent them, and the carrier code the description became.
    """

    publisher = models.ForeignKey(
        Publisher, on_delete=models.PROTECT, related_name="warehouse_orders"
    )
    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.PROTECT, related_name="orders"
    )
    cart = models.CharField(max_length=20, help_text="The cart it came from (shopify, …).")
    external_key = models.CharField(
        max_length=MAX_EXTERNAL_KEY_LENGTH,
        help_text='The cart\'s own key of the order, e.g. "shop-domain:order-id".',
    )
    cart_order_name = models.CharField(
        max_length=100, blank=True, help_text="What the cart calls the order, e.g. #1040."
    )
    test = models.BooleanField(
        default=False, help_text="A test order of the cart: never handed to the warehouse."
    )
    ship_name = models.CharField(max_length=200, blank=True)
    ship_company = models.CharField(max_length=200, blank=True)
    ship_address = models.CharField(max_length=500, blank=True)
    ship_city = models.CharField(max_length=200, blank=True)
    ship_state = models.CharField(max_length=100, blank=True)
    ship_postal_code = models.CharField(max_length=50, blank=True)
    ship_country = models.CharField(max_length=100, blank=True)
    ship_email = models.CharField(max_length=254, blank=True)
    shipping_description = models.CharField(
        max_length=500, blank=True, help_text="The shipping the customer chose, as the cart said."
    )
    carrier_code = models.CharField(
        max_length=MAX_CODE_LENGTH,
        blank=True,
        help_text="What the description became (Shipping Description Transformer rules).",
    )
    state = models.CharField(
        max_length=20, choices=WarehouseOrderState.choices, default=WarehouseOrderState.NEW
    )
    error = models.TextField(blank=True, help_text="Why the order is in error.")
    shipped_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the warehouse had shipped every line (the order then waits, partially "
        "shipped, for the tracking to reach the cart, which closes it).",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(
        help_text="Its last change: ShipStation's LastModified for a pulling warehouse."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "cart", "external_key"],
                name="warehouse_order_once_per_cart_order",
            ),
            models.CheckConstraint(
                condition=~Q(state=WarehouseOrderState.ERROR) | ~Q(error=""),
                name="warehouse_order_error_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["connection", "state"], name="warehouse_order_state"),
        ]

    def __str__(self) -> str:
        return f"Warehouse order {self.id} ({self.state})"


class WarehouseOrderLine(models.Model):
    """One line as the warehouse is sent it: `quantity` x `warehouse_sku`, from the cart line
    `line_key` (its `channel_sku`). A bundle's cart line gives one row per component."""

    order = models.ForeignKey(WarehouseOrder, on_delete=models.CASCADE, related_name="lines")
    line_key = models.CharField(
        max_length=MAX_LINE_KEY_LENGTH, help_text="The cart's line (a Shopify line item id, …)."
    )
    # A cart's SKU may be longer than a listing's (Shopify: 255); sent unchanged it stays so.
    channel_sku = models.CharField(max_length=255)
    warehouse_sku = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    quantity_shipped = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_key", "warehouse_sku"],
                name="warehouse_order_line_once",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1) & Q(quantity_shipped__lte=models.F("quantity")),
                name="warehouse_order_line_quantities",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.warehouse_sku}"


class WarehouseShipment(models.Model):
    """One package a warehouse reported shipped for one of its orders (a ShipStation
    ShipNotice, warehouses/shipments.py): its tracking and the order lines it covers. One per
    (order, tracking number): the same notice again is a repeat, not a second package."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="shipments"
    )
    order = models.ForeignKey(WarehouseOrder, on_delete=models.CASCADE, related_name="shipments")
    tracking_number = models.CharField(max_length=200)
    carrier = models.CharField(max_length=100, blank=True)
    service = models.CharField(max_length=100, blank=True)
    ship_date = models.DateField()
    lines = models.JSONField(
        default=list,
        help_text='The lines it covers: [{"line": WarehouseOrderLine id, "sku": …, '
        '"quantity": n}, …].',
    )
    body = models.TextField(blank=True, help_text="The notice as received.")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "tracking_number"], name="warehouse_shipment_once_per_tracking"
            )
        ]

    def __str__(self) -> str:
        return f"Shipment {self.tracking_number} of warehouse order {self.order_id}"


class PushStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    DELIVERED = "delivered", "Accepted by the warehouse"
    REFUSED = "refused", "Refused by the warehouse"
    FAILED = "failed", "Given up"
    CANCELLED = "cancelled", "Not sent (the warehouse pulls its orders now)"


class WarehousePush(OutboundRow):
    """The push of one warehouse order to its warehouse's URL (warehouses/push.py): an outbox
    row, written with its task in the transaction that opens the order. The JSON body is
    fixed at the first attempt (from then on no line joins the order) and sent again, under
    the same idempotency key, by every attempt, so a warehouse that saw an attempt whose
    answer was lost takes the retry as the same order."""

    order = models.OneToOneField(WarehouseOrder, on_delete=models.CASCADE, related_name="push")
    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="pushes"
    )
    idempotency_key = models.CharField(max_length=64, unique=True)
    body = models.TextField(blank=True, help_text="The JSON body, exactly as sent.")
    status = models.CharField(max_length=10, choices=PushStatus.choices, default=PushStatus.PENDING)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "warehouse push"
        indexes = [
            # The sweep's read: the few pushes not yet finished among all ever made.
            models.Index(
                fields=["status"],
                name="warehouse_push_unfinished",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Push of warehouse order {self.order_id} ({self.status})"


class WarehousePushAttempt(OutboundAttempt):
    """One POST of a push, and what came of it (the warehouse order page's log)."""

    push = models.ForeignKey(WarehousePush, on_delete=models.CASCADE, related_name="attempts")

    class Meta:
        ordering = ["push", "number"]
        constraints = [
            models.UniqueConstraint(fields=["push", "number"], name="warehouse_push_attempt_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of push {self.push_id}"


class WarehouseStockLevel(models.Model):
    """The stock of one warehouse SKU as the warehouse last reported it (warehouses/stock.py).
    A report older than the stored one changes nothing. `sync_pending` marks a level that
    changed and has not yet been passed on (the carts' stock sync reads and clears it)."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="stock_levels"
    )
    sku = models.CharField(max_length=255, help_text="The warehouse's SKU.")
    quantity = models.PositiveIntegerField(help_text="Units available to sell.")
    reported_at = models.DateTimeField(help_text="As of when the warehouse counted them.")
    received_at = models.DateTimeField()
    changed_at = models.DateTimeField(help_text="When the quantity last changed.")
    sync_pending = models.BooleanField(
        default=True, help_text="Changed since the carts' stock sync last read it."
    )

    class Meta:
        ordering = ["connection", "sku"]
        verbose_name = "warehouse stock level"
        constraints = [
            models.UniqueConstraint(fields=["connection", "sku"], name="warehouse_stock_once")
        ]
        indexes = [
            models.Index(
                fields=["connection"],
                name="warehouse_stock_sync_pending",
                condition=Q(sync_pending=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.quantity}"
