"""Reads for the carts: the URLs a publisher pastes into each cart, the processing timings
and the deliveries left pending past them, the unmatched products waiting for a mapping, and
a publisher's shipping rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import Publisher
from pressrun.carts.models import (
    MADE_ORDERS,
    Cart,
    CartOrderLine,
    InboundDelivery,
    LineDestination,
    Outcome,
    ShippingRule,
    UnmatchedProduct,
)
from pressrun.catalog.models import Project
from pressrun.catalog.selectors import project_for_sku_method2, projects_for_cart_ids
from pressrun.core.selectors import public_base_url
from pressrun.warehouses.listings import connections_listing
from pressrun.warehouses.models import WarehouseConnection


def samcart_grace_seconds() -> int:
    """How long a SamCart notification waits for the other products of its order."""
    return max(0, int(settings.PRESSRUN_SAMCART_GRACE_SECONDS))


def stale_pending_delivery_ids(*, delivery_ids: Iterable[int] | None = None) -> list[int]:
    """Pending deliveries nothing will process: due (received, plus SamCart's grace window)
    more than PRESSRUN_CART_STALE_PENDING_SECONDS ago, with no processing task queued or running for
    them. Oldest first; only among `delivery_ids` when given.

    A delivery waiting for a scheduled retry, or queued behind a backlog or a stopped worker,
    has its task queued and is not stale; one whose task was lost (it failed outside the
    task's own error handling, or its row was removed) has none.
    """
    from pressrun.carts.tasks import process_delivery

    overdue_before = timezone.now() - timedelta(
        seconds=settings.PRESSRUN_CART_STALE_PENDING_SECONDS
    )
    grace = timedelta(seconds=samcart_grace_seconds())
    overdue = Q(cart=Cart.SAMCART, received_at__lt=overdue_before - grace) | (
        ~Q(cart=Cart.SAMCART) & Q(received_at__lt=overdue_before)
    )
    pending = InboundDelivery.objects.filter(overdue, outcome=Outcome.PENDING)
    if delivery_ids is not None:
        pending = pending.filter(id__in=list(delivery_ids))
    candidates = list(pending.order_by("received_at", "id").values_list("id", flat=True))
    if not candidates:
        return []
    # Read in Python rather than through a JSON lookup, which compares differently on SQLite
    # and PostgreSQL; only deliveries already overdue get here, which is rare.
    queued = DBTaskResult.objects.filter(
        task_path=process_delivery.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True)
    with_task = {
        args_kwargs.get("kwargs", {}).get("delivery_id")
        for args_kwargs in queued
        if isinstance(args_kwargs, dict)
    }
    return [delivery_id for delivery_id in candidates if delivery_id not in with_task]


def delivery_replayable_by_publisher(delivery: InboundDelivery) -> bool:
    """Whether the dashboard offers Replay for this delivery: failed or unmatched, not
    refused for its signature, and its body not removed after the retention period (see
    `carts.services.delivery_replay`); or it made orders and left lines not routed (Replay
    routes those lines only)."""
    from pressrun.carts.services import NEVER_REPLAYED_REASONS

    if delivery.outcome in MADE_ORDERS:
        return delivery_lines_left(delivery)
    return (
        delivery.outcome in (Outcome.FAILED, Outcome.UNMATCHED)
        and delivery.reason not in NEVER_REPLAYED_REASONS
        and delivery.body_emptied_at is None
    )


def shopify_url_needs_token(publisher: Publisher) -> bool:
    """Whether the publisher's Shopify URL must carry the cart token: until Shopify's webhook
    signing key is saved, nothing else proves the sender."""
    return not publisher.shopify_webhook_key


def shopify_webhook_url(
    publisher: Publisher, *, test: bool = False, with_token: bool | None = None
) -> str:
    """The exact URL to paste into Shopify's webhook form for this publisher.

    Once the publisher has saved Shopify's signing key it is the spec's URL, `?idpub=` alone:
    the signature proves the sender. Before, it carries the cart token (`with_token` forces
    either form). The token URL keeps working after the key is saved.
    """
    if with_token is None:
        with_token = shopify_url_needs_token(publisher)
    query = {"idpub": str(publisher.id)}
    if with_token:
        query["token"] = publisher.cart_token
    if test:
        query["mode"] = "test"
    return f"{public_base_url()}{reverse('carts:shopify')}?{urlencode(query)}"


def samcart_notify_url(publisher: Publisher, *, test: bool = False) -> str:
    """The exact Notify URL to paste into SamCart for this publisher. It always carries the
    cart token: SamCart signs nothing, so the token is what proves the sender."""
    query = {"idpub": str(publisher.id), "token": publisher.cart_token}
    if test:
        query["mode"] = "test"
    return f"{public_base_url()}{reverse('carts:samcart')}?{urlencode(query)}"


def oneshoppingcart_notify_url(
    publisher: Publisher, *, test: bool = False, error_email: str = ""
) -> str:
    """The exact Notification URL to paste into 1ShoppingCart (API Settings) for this
    publisher, as the spec prints it: TSMode=test while trying it out, prod after; TSPub the
    publisher ID; TSErrEM (optional) gets errors. No token: the notification only names an
    order, which pressrun reads from 1ShoppingCart's API with the publisher's own key."""
    query = {"TSMode": "test" if test else "prod", "TSPub": str(publisher.id)}
    if error_email:
        query["TSErrEM"] = error_email
    return f"{public_base_url()}{reverse('carts:oneshoppingcart')}?{urlencode(query)}"


def unmatched_products_ignored(publisher: Publisher) -> QuerySet[UnmatchedProduct]:
    """The publisher's products marked "not a disc: never ask again", last ignored first."""
    return UnmatchedProduct.objects.filter(publisher=publisher, ignored_at__isnull=False).order_by(
        "-ignored_at", "-id"
    )


def unmatched_products_open(publisher: Publisher) -> QuerySet[UnmatchedProduct]:
    """The publisher's unmatched cart products not yet resolved nor ignored, last seen first.

    Each row carries `delivery_count` (kept deliveries that named it) and `waiting_count`
    (those still unmatched: what a mapping fix would re-process).
    """
    return (
        UnmatchedProduct.objects.filter(
            publisher=publisher, resolved_at__isnull=True, ignored_at__isnull=True
        )
        .annotate(
            delivery_count=Count("deliveries", distinct=True),
            waiting_count=Count(
                "deliveries", filter=Q(deliveries__outcome=Outcome.UNMATCHED), distinct=True
            ),
        )
        .order_by("-last_seen_at", "-id")
    )


def unmatched_product_projects(product: UnmatchedProduct) -> list[Project]:
    """The publisher's active projects the product names now (eCommerce ID String; for
    Shopify also Method 2, the SKU being the project ID). [] while it still maps nowhere."""
    found = projects_for_cart_ids(
        publisher_id=product.publisher_id, cart_ids=[product.product_ref]
    )[product.product_ref]
    if not found and product.cart == Cart.SHOPIFY:
        project = project_for_sku_method2(
            publisher_id=product.publisher_id, sku=product.product_ref
        )
        found = [project] if project is not None else []
    return found


def unmatched_product_connections(product: UnmatchedProduct) -> list[int]:
    """The publisher's enabled warehouse connections the product's lines would go to now:
    those listing its SKU, else the one receiving unknown SKUs. [] while there is none."""
    listed = connections_listing(
        publisher_id=product.publisher_id, channel_skus=[product.product_ref]
    )[product.product_ref]
    if listed:
        return listed
    return list(
        WarehouseConnection.objects.filter(
            publisher_id=product.publisher_id, enabled=True, receives_unknown_skus=True
        ).values_list("id", flat=True)
    )


def delivery_lines_left(delivery: InboundDelivery) -> bool:
    """Whether a delivery that made orders left lines not routed that routing again could
    still send somewhere (the dashboard offers to route them)."""
    if delivery.outcome not in MADE_ORDERS or not delivery.external_key:
        return False
    if (
        delivery.outcome == Outcome.ORDER_CREATED
        and not WarehouseConnection.objects.filter(
            publisher_id=delivery.publisher_id, enabled=True
        ).exists()
    ):
        # pressrun's order is placed and there is no warehouse: a line left can only be
        # added to the order by hand (as before warehouses existed).
        return False
    return CartOrderLine.objects.filter(
        cart_order__publisher_id=delivery.publisher_id,
        cart_order__cart=delivery.cart,
        cart_order__external_key=delivery.external_key,
        destination=LineDestination.UNROUTED,
    ).exists()


def shipping_rules_for(publisher: Publisher) -> QuerySet[ShippingRule]:
    """The publisher's shipping rules in the order they are tried."""
    return ShippingRule.objects.filter(publisher=publisher).order_by("position", "id")


def shipping_rule_taken(
    *, publisher_id: int, match: str, text: str, exclude_id: int | None = None
) -> bool:
    """Whether the publisher has another rule with this match and (cleaned) text."""
    rules = ShippingRule.objects.filter(publisher_id=publisher_id, match=match, text=text)
    if exclude_id is not None:
        rules = rules.exclude(id=exclude_id)
    return rules.exists()
