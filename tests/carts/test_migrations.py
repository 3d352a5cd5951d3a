"""carts 0004 fills the store of Shopify orders placed before orders had one."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

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


keys_migration = importlib.import_module("pressrun.carts.migrations.0005_oneshoppingcart_test_keys")


def test_existing_1shoppingcart_test_deliveries_get_the_test_key(make_publisher: Any) -> None:
    publisher = make_publisher()

    def delivery(cart: str, key: str, *, test: bool) -> InboundDelivery:
        return InboundDelivery.objects.create(
            cart=cart,
            publisher=publisher,
            received_at=timezone.now(),
            body=b"",
            external_key=key,
            test_requested=test,
            outcome=Outcome.ORDER_CREATED,
        )

    test_one = delivery("1shoppingcart", "81234567", test=True)
    prod_one = delivery("1shoppingcart", "81234568", test=False)
    done = delivery("1shoppingcart", "test:81234569", test=True)
    blank = delivery("1shoppingcart", "", test=True)
    shopify = delivery("shopify", "shop:1", test=True)

    keys_migration.prefix_test_keys(apps, None)

    def key(item: InboundDelivery) -> str:
        item.refresh_from_db()
        return item.external_key

    assert [key(d) for d in (test_one, prod_one, done, blank, shopify)] == [
        "test:81234567",
        "81234568",
        "test:81234569",
        "",
        "shop:1",
    ]
    keys_migration.unprefix_test_keys(apps, None)
    assert [key(d) for d in (test_one, done)] == ["81234567", "81234569"]
