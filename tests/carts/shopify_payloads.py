"""Bodies and headers shaped exactly like Shopify's order webhooks (REST Order resource)."""

from __future__ import annotations

import json
from typing import Any

BIG_ORDER_ID = "820982911946154508"  # above 2^53: a float would change it
BIGGER_ORDER_ID = "9007199254740993"  # 2^53 + 1: the first integer a float cannot hold
SHOP = "press-demo.myshopify.com"


def order_json(
    *,
    order_id: str = BIG_ORDER_ID,
    name: str = "#1001",
    skus: tuple[tuple[str | None, int, str], ...] = (("VTD234-100", 1, "Greatest Hits CD"),),
    shipping_title: str | None = "Standard Shipping",
    shipping_code: str | None = "Standard",
    test: bool = False,
    address2: str | None = None,
    email: str = "bob.norman@example.com",
) -> bytes:
    """The raw body, with the order id written as a bare JSON integer like Shopify does."""
    line_items = [
        {
            "id": 466157049 + index,
            "variant_id": 39072856 + index,
            "product_id": 632910392 + index,
            "title": title,
            "quantity": quantity,
            "sku": sku,
            "variant_title": "",
            "vendor": None,
            "fulfillment_service": "manual",
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "name": title,
            "price": "19.99",
            "properties": [],
        }
        for index, (sku, quantity, title) in enumerate(skus)
    ]
    body: dict[str, Any] = {
        "id": "__ORDER_ID__",
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "email": email,
        "contact_email": email,
        "created_at": "2026-11-21T10:11:12-05:00",
        "currency": "USD",
        "financial_status": "paid",
        "fulfillment_status": "fulfilled",
        "name": name,
        "number": 1,
        "order_number": 1001,
        "test": test,
        "total_price": "23.99",
        "line_items": line_items,
        "shipping_address": {
            "first_name": "Bob",
            "last_name": "Norman",
            "name": "Bob Norman",
            "company": None,
            "address1": "123 Amoebobacterium Street",
            "address2": address2,
            "city": "Louisville",
            "province": "Kentucky",
            "province_code": "KY",
            "zip": "40202",
            "country": "United States",
            "country_code": "US",
            "phone": "+1(502)-459-2181",
            "latitude": None,
            "longitude": None,
        },
        "shipping_lines": [
            {
                "id": 271878346596884015,
                "title": shipping_title,
                "code": shipping_code,
                "price": "4.00",
                "source": "shopify",
            }
        ],
        "customer": {
            "id": 115310627314723954,
            "email": email,
            "first_name": "Bob",
            "last_name": "Norman",
        },
    }
    return json.dumps(body).replace('"__ORDER_ID__"', order_id).encode()


def shopify_headers(
    *,
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    topic: str = "orders/fulfilled",
    shop: str = SHOP,
    signature: str | None = None,
) -> dict[str, str]:
    """Test-client keyword arguments for Shopify's headers (letter case as Shopify sends)."""
    headers = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": shop,
        "HTTP_X_SHOPIFY_API_VERSION": "2025-01",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id,
        "HTTP_X_SHOPIFY_EVENT_ID": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": "2026-11-21T15:11:13.000000Z",
    }
    if signature is not None:
        headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = signature
    return headers
