"""InboundDelivery: every request a cart sends, kept before it is acted on.

A delivery produces at most one order; the orders it produced are in `orders` (a many-to-many
so that a cart which splits one purchase over several deliveries, or a future cart that sends
several orders in one request, needs no schema change).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from pressrun.accounts.models import MailMethod, Publisher
from pressrun.orders.models import Order
from pressrun.warehouses.models import WarehouseConnection, WarehouseOrder, WarehouseShipment


class Cart(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    SAMCART = "samcart", "SamCart"
    ONESHOPPINGCART = "1shoppingcart", "1ShoppingCart"


class Outcome(models.TextChoices):
    PENDING = "pending", "Pending"
    ORDER_CREATED = "order_created", "Order created"
    ROUTED = "routed", "Routed (to warehouses only)"
    DUPLICATE = "duplicate", "Duplicate (order already imported)"
    IGNORED = "ignored", "Ignored (creates no order)"
    UNMATCHED = "unmatched", "Unmatched (no line matches a project)"
    FAILED = "failed", "Failed"


# Outcomes of the one delivery of a cart order that made orders: pressrun's (with or
# without warehouse orders), or warehouse orders only.
MADE_ORDERS = ("order_created", "routed")


class InboundDelivery(models.Model):
    cart = models.CharField(max_length=20, choices=Cart.choices)
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(db_index=True)
    headers = models.JSONField(default=dict, help_text="Request headers without secrets.")
    body = models.BinaryField(
        help_text="The raw request body, exactly as received (emptied after the retention "
        "period when the delivery made no order: see body_emptied_at)."
    )
    # Kept when the body is emptied, so the record still says what arrived.
    body_size = models.PositiveIntegerField(null=True, blank=True, help_text="Bytes received.")
    body_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the body.")
    body_emptied_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the body was removed (PRESSRUN_CART_BODY_RETENTION_DAYS after it "
        "arrived, for a delivery that made no order).",
    )
    topic = models.CharField(max_length=100, blank=True)
    delivery_id = models.CharField(
        max_length=200, blank=True, help_text="The sender's delivery id (X-Shopify-Webhook-Id)."
    )
    external_key = models.CharField(
        max_length=300, blank=True, help_text='The sender\'s order, e.g. "shop-domain:order-id".'
    )
    test_requested = models.BooleanField(default=False, help_text="The URL had mode=test.")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_queued = models.BooleanField(
        default=False,
        help_text="Failed by an unexpected error, with an automatic retry queued that re-opens it.",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    orders = models.ManyToManyField(Order, blank=True, related_name="inbound_deliveries")
    # The warehouse orders this delivery's lines were routed to (carts/routing.py).
    warehouse_orders = models.ManyToManyField(
        WarehouseOrder, blank=True, related_name="inbound_deliveries"
    )
    notify_email = models.EmailField(
        blank=True, help_text="Where errors about this delivery are emailed (TSErrEM)."
    )
    error_emailed_at = models.DateTimeField(null=True, blank=True)
    # A failed delivery the publisher looked at and let go: out of "Needs attention", still
    # in the log. A replay clears it (a new failure needs attention again).
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "inbound deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["cart", "publisher", "delivery_id"],
                condition=~Q(delivery_id=""),
                name="inbounddelivery_unique_delivery_id",
            ),
            # One order per cart order, whatever topics or repeats bring it: one delivery
            # per cart order made it (pressrun's order, warehouse orders, or both). A
            # delivery without a key names no cart order, so it must not collide with another.
            models.UniqueConstraint(
                fields=["cart", "publisher", "external_key"],
                condition=Q(outcome__in=MADE_ORDERS) & ~Q(external_key=""),
                name="inbounddelivery_one_order_per_external_key",
            ),
        ]
        indexes = [
            models.Index(fields=["cart", "publisher", "external_key"], name="inbound_external_key"),
            # The sweep for deliveries left pending reads only these few rows.
            models.Index(
                fields=["received_at"], condition=Q(outcome="pending"), name="inbound_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cart} delivery {self.id} ({self.outcome})"


class ShippingMatch(models.TextChoices):
    IS = "is", "is"
    STARTS_WITH = "starts_with", "starts with"


class ShippingRule(models.Model):
    """A publisher's own reading of a cart's shipping description (case-insensitive, spaces
    collapsed). Rules are tried in `position` order before the default keyword rule."""

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="shipping_rules"
    )
    match = models.CharField(max_length=20, choices=ShippingMatch.choices)
    text = models.CharField(max_length=200)
    mail_method = models.CharField(max_length=20, choices=MailMethod.choices)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["publisher", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "match", "text"], name="shippingrule_unique_text"
            ),
        ]

    def __str__(self) -> str:
        return f"shipping {self.get_match_display()} '{self.text}' -> {self.mail_method}"


class UnmatchedProduct(models.Model):
    """A cart product that named no project of the publisher, with the kept deliveries that
    carried it, so a mapping fix can re-process them."""

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="unmatched_products"
    )
    cart = models.CharField(max_length=20, choices=Cart.choices)
    product_ref = models.CharField(
        "cart product", max_length=200, help_text="The SKU or product id the cart sent."
    )
    title = models.CharField(max_length=300, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    times_seen = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # "Not a disc: never ask again": ignored products are not listed as needing a mapping,
    # whatever later deliveries carry them, until the publisher asks again (clears it).
    ignored_at = models.DateTimeField(null=True, blank=True)
    ignored_by = models.CharField(max_length=100, blank=True)
    deliveries = models.ManyToManyField(
        InboundDelivery, blank=True, related_name="unmatched_products"
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "cart", "product_ref"], name="unmatchedproduct_unique_ref"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cart} product '{self.product_ref}'"


class LineDestination(models.TextChoices):
    PROJECT = "project", "pressrun's order"
    WAREHOUSE = "warehouse", "Warehouse order"
    UNROUTED = "unrouted", "Not routed"


class CartOrder(models.Model):
    """One order as the cart knows it (publisher, cart, the cart's key), with where each of
    its lines went (`lines`). Kept by routing (carts/routing.py): its row is the lock under
    which the lines of one cart order are routed, and what it keeps of the order (the
    recipient, the shipping, the request intake would be given) lets lines left unrouted be
    routed later without asking the cart again."""

    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="cart_orders")
    cart = models.CharField(max_length=20, choices=Cart.choices)
    external_key = models.CharField(max_length=300)
    name = models.CharField(max_length=100, blank=True, help_text="The cart's name, e.g. #1040.")
    test = models.BooleanField(default=False)
    recipient = models.JSONField(default=dict, help_text="The recipient as the cart sent it.")
    shipping_description = models.CharField(max_length=500, blank=True)
    request = models.JSONField(
        default=dict,
        blank=True,
        help_text="The order request for pressrun's half without its lines, to place it "
        "when a line is mapped to a project later.",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "cart", "external_key"], name="cartorder_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cart} order {self.name or self.external_key}"


class CartOrderLine(models.Model):
    """One line of a cart order and where it went: pressrun's order, a warehouse order, or
    nowhere yet (`reason` says why). Unique per cart order and line: a line is routed once."""

    cart_order = models.ForeignKey(CartOrder, on_delete=models.CASCADE, related_name="lines")
    key = models.CharField(max_length=300, help_text="The cart's line (line item id, …).")
    ref = models.CharField(max_length=255, blank=True, help_text="Its SKU (or product id).")
    has_sku = models.BooleanField(
        default=True, help_text="False: ref is the cart's id of a product without SKU."
    )
    title = models.CharField(max_length=300, blank=True)
    quantity = models.IntegerField(
        null=True, blank=True, help_text="Empty: the cart's quantity was not a whole number."
    )
    destination = models.CharField(
        max_length=20, choices=LineDestination.choices, default=LineDestination.UNROUTED
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    warehouse_order = models.ForeignKey(
        WarehouseOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, help_text="Why it is not routed.")
    routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["cart_order", "key"], name="cartorderline_once"),
            models.CheckConstraint(
                condition=(
                    Q(destination="warehouse", warehouse_order__isnull=False)
                    | (~Q(destination="warehouse") & Q(warehouse_order__isnull=True))
                ),
                name="cartorderline_warehouse_has_order",
            ),
        ]
        indexes = [
            models.Index(
                fields=["ref"], condition=Q(destination="unrouted"), name="cartorderline_unrouted"
            )
        ]

    def __str__(self) -> str:
        return f"line {self.key} ({self.destination})"


class PostbackState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed, retrying"
    GAVE_UP = "gave_up", "Gave up"
    NOT_SUPPORTED = "not_supported", "Not supported by the cart's API"


class CartPostback(models.Model):
    """Posting one shipment (its tracking, and the cart lines it covers) back to the cart the
    order came from, with the task that sends it (carts/postback.py). A shipment is either
    pressrun's own order shipping (`order`: one row per order, written in the transaction
    that marked it shipped) or one package a publisher's warehouse reported
    (`warehouse_shipment`, written with it). The publisher sees its state on the order's page
    and on the warehouse order's."""

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, null=True, blank=True, related_name="cart_postback"
    )
    warehouse_shipment = models.OneToOneField(
        WarehouseShipment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="cart_postback",
    )
    cart_order = models.ForeignKey(
        "CartOrder",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="postbacks",
        help_text="The cart order whose lines it covers (none for an order from before routing).",
    )
    lines = models.JSONField(
        default=list,
        blank=True,
        help_text='The cart lines it covers: [{"key": cart line, "quantity": n}, …]. Empty: '
        "every line of the cart order (pressrun's order was all of it).",
    )
    cart = models.CharField(max_length=20, choices=Cart.choices)
    state = models.CharField(
        max_length=20, choices=PostbackState.choices, default=PostbackState.PENDING
    )
    tracking_id = models.CharField(
        max_length=200, blank=True, help_text="The tracking number this post-back sends."
    )
    carrier = models.CharField(
        max_length=100,
        blank=True,
        help_text="The carrier this post-back sends (a warehouse's package: the one it named).",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    remote_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="What the cart calls the result (a Shopify fulfillment's id).",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["state", "next_attempt_at"],
                name="postback_unfinished",
                condition=Q(state__in=["pending", "retrying"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(order__isnull=False, warehouse_shipment__isnull=True)
                    | Q(order__isnull=True, warehouse_shipment__isnull=False)
                ),
                name="postback_one_shipment",
            ),
        ]

    def __str__(self) -> str:
        if self.order_id is None:
            return (
                f"{self.cart} post-back of warehouse shipment {self.warehouse_shipment_id} "
                f"({self.state})"
            )
        return f"{self.cart} post-back of order {self.order_id} ({self.state})"


class StockSync(models.Model):
    """A publisher's stock sync to Shopify (carts/stock_sync.py): which shop, and the location
    whose "available" quantities are set. No location: the sync is off. The row is also the
    claim under which one sync of the publisher runs at a time (`claimed_until`)."""

    publisher = models.OneToOneField(Publisher, on_delete=models.CASCADE, related_name="stock_sync")
    shop_domain = models.CharField(
        max_length=255, blank=True, help_text="The shop's myshopify.com domain."
    )
    location_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The Shopify location stock is set at (gid://shopify/Location/…). Empty: off.",
    )
    location_name = models.CharField(max_length=255, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A sync is running until then at the latest."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last run failed, if it did.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a failed run is tried again."
    )

    class Meta:
        verbose_name = "Shopify stock sync"

    def __str__(self) -> str:
        where = self.location_name or self.location_id or "off"
        return f"stock sync of publisher {self.publisher_id} to {self.shop_domain} ({where})"

    @property
    def is_on(self) -> bool:
        return bool(self.location_id and self.shop_domain)


class StockSyncItem(models.Model):
    """One channel SKU's stock at one warehouse connection, and what the sync last did with
    it: the quantity the warehouse's levels allow (None: a component has no reported level,
    named in `last_error`), the quantity last sent to Shopify for the channel SKU (all the
    publisher's warehouses together) and when."""

    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.CASCADE, related_name="stock_sync_items"
    )
    channel_sku = models.CharField(max_length=255)
    components = models.CharField(
        max_length=1000, help_text='The warehouse SKUs it is made of, e.g. "A x 1 + B x 2".'
    )
    quantity_available = models.PositiveIntegerField(null=True, blank=True)
    quantity_sent = models.PositiveIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["connection", "channel_sku"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "channel_sku"], name="stocksyncitem_once")
        ]

    def __str__(self) -> str:
        return f"{self.channel_sku}: {self.quantity_available}"


class ShopifyInventoryItem(models.Model):
    """Which Shopify inventory item a SKU is in a publisher's shop (looked up once with the
    productVariants search; forgotten when Shopify says the item is unknown)."""

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="shopify_inventory_items"
    )
    shop_domain = models.CharField(max_length=255)
    sku = models.CharField(max_length=255)
    inventory_item_id = models.CharField(max_length=100)
    found_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "shop_domain", "sku"], name="shopifyinventoryitem_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} → {self.inventory_item_id}"
