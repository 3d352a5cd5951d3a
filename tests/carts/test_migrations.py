"""carts 0004 fills the store of Shopify orders placed before orders had one."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from pressrun.carts.models import InboundDelivery, Outcome
from pressrun.carts.services import delivery_process
from pressrun.orders.models import Order
from tests.carts.shopify_payloads import order_json, shopify_headers

pytestmark = pytest.mark.django_db

migration = importlib.import_module("pressrun.carts.migrations.0004_shopify_order_stores")


def test_existing_shopify_orders_get_the_shop_of_the_delivery_that_made_them(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    make_project(publisher, ecommerce_ids="{VTD234-100}")
    target = f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}"
    for shop, order_id in (("a.myshopify.com", "11"), ("b.myshopify.com", "12")):
        Client().post(
            target,
            data=order_json(order_id=order_id, name=f"#{order_id}"),
            content_type="application/json",
            **shopify_headers(shop=shop, webhook_id=order_id),
        )
    for delivery in InboundDelivery.objects.order_by("id"):
        assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
    # As stored before orders had a store.
    Order.objects.update(store="")
    kept = Order.objects.order_by("id").first()
    assert kept is not None
    Order.objects.filter(id=kept.id).update(store="kept.myshopify.com")

    migration.fill_shopify_stores(apps, None)

    assert list(Order.objects.order_by("id").values_list("store", "invoice")) == [
        ("kept.myshopify.com", "#11@a"),
        ("b.myshopify.com", "#12@b"),
    ]
