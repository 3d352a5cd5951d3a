"""Reads for the carts: the URLs a publisher pastes into each cart."""

from __future__ import annotations

import os
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from pressrun.accounts.models import Publisher

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
