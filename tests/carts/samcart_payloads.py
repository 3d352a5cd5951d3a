"""Bodies shaped like SamCart's Notify URL posts (carts.md): one notification per product."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

ORDER_ID = "4821907"


def notification(
    *,
    order_id: str = ORDER_ID,
    product_id: str = "294010",
    product_name: str = "Greatest Hits CD",
    quantity: int = 1,
    event: str = "Order",
    shipping_method: str = "Standard Shipping",
    test_mode: bool = False,
) -> dict[str, Any]:
    return {
        "type": event,
        "order": {
            "id": order_id,
            "total": "19.99",
            "test_mode": test_mode,
            "shipping_method": shipping_method,
        },
        "customer": {
            "id": "771204",
            "first_name": "Bob",
            "last_name": "Norman",
            "email": "bob.norman@example.com",
            "phone_number": "555-555-5555",
            "shipping_address": {
                "address_line_1": "Chestnut Street 92",
                "address_line_2": "",
                "city": "Louisville",
                "region": "KY",
                "postal_code": "40202",
                "country": "USA",
            },
        },
        "product": {"id": product_id, "name": product_name, "quantity": quantity},
    }


def as_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def as_form(data: dict[str, Any]) -> str:
    """The same notification as a form: order[id]=..., customer[shipping_address][city]=..."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else key, item)
        else:
            pairs.append((prefix, str(value).lower() if isinstance(value, bool) else str(value)))

    walk("", data)
    return urlencode(pairs)
