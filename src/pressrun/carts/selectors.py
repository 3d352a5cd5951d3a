"""Reads for the carts: the URLs a publisher pastes into each cart, the unmatched products
waiting for a mapping, and a publisher's shipping rules."""

from __future__ import annotations

import os
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from pressrun.accounts.models import Publisher
from pressrun.carts.models import Cart, Outcome, ShippingRule, UnmatchedProduct
from pressrun.catalog.models import Project
from pressrun.catalog.selectors import project_for_sku_method2, projects_for_cart_ids

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def public_base_url() -> str:
    """Where carts reach this installation (setting or env PRESSRUN_PUBLIC_BASE_URL)."""
    configured = getattr(settings, "PRESSRUN_PUBLIC_BASE_URL", "") or os.environ.get(
        "PRESSRUN_PUBLIC_BASE_URL", ""
    )
    return str(configured or DEFAULT_PUBLIC_BASE_URL).rstrip("/")


def shopify_webhook_url(publisher: Publisher, *, test: bool = False) -> str:
    """The exact URL to paste into Shopify's webhook form for this publisher."""
    query = {"idpub": str(publisher.id), "token": publisher.cart_token}
    if test:
        query["mode"] = "test"
    return f"{public_base_url()}{reverse('carts:shopify')}?{urlencode(query)}"


def samcart_notify_url(publisher: Publisher, *, test: bool = False) -> str:
    """The exact Notify URL to paste into SamCart for this publisher."""
    query = {"idpub": str(publisher.id), "token": publisher.cart_token}
    if test:
        query["mode"] = "test"
    return f"{public_base_url()}{reverse('carts:samcart')}?{urlencode(query)}"


def oneshoppingcart_notify_url(
    publisher: Publisher, *, test: bool = False, error_email: str = ""
) -> str:
    """The exact Notification URL to paste into 1ShoppingCart (API Settings) for this
    publisher: TSMode=test while trying it out, prod after; TSErrEM (optional) gets errors."""
    query = {
        "TSMode": "test" if test else "prod",
        "TSPub": str(publisher.id),
        "token": publisher.cart_token,
    }
    if error_email:
        query["TSErrEM"] = error_email
    return f"{public_base_url()}{reverse('carts:oneshoppingcart')}?{urlencode(query)}"


def unmatched_products_open(publisher: Publisher) -> QuerySet[UnmatchedProduct]:
    """The publisher's unmatched cart products not yet resolved, last seen first.

    Each row carries `delivery_count` (kept deliveries that named it) and `waiting_count`
    (those still unmatched: what a mapping fix would re-process).
    """
    return (
        UnmatchedProduct.objects.filter(publisher=publisher, resolved_at__isnull=True)
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
