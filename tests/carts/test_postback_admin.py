"""Operators see the post-backs in the admin (read-only) and can send again the ones that
gave up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client

from pressrun.carts.models import CartPostback, PostbackState
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
from tests.fulfillment.support import ship


def test_the_admin_lists_post_backs_and_sends_again(
    admin_client: Client,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    settings: Any,
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    orders = []
    for number, source in enumerate(("shopify", "samcart"), start=1):
        order = order_place(
            request=OrderRequest(
                publisher_id=publisher.id,
                lines=(LineRequest(project_id=project.id, quantity=1),),
                recipient=RecipientRequest(
                    name="Ann <b>Buyer</b>",
                    address="1 Main St",
                    city="Austin",
                    state="TX",
                    postal_code="78701",
                ),
                mode="prod",
                source=source,
                invoice=f"#{number}",
                external_ref=str(9000 + number),
                store="shop.myshopify.com" if source == "shopify" else "",
            ),
            publisher=publisher,
        )
        ship(order, tracking_id=f"9400{number}")
        orders.append(order)
    shopify = CartPostback.objects.get(order=orders[0])
    CartPostback.objects.filter(id=shopify.id).update(
        state=PostbackState.GAVE_UP, last_error="Shopify refused <script>x</script>"
    )
    listing = admin_client.get("/admin/carts/cartpostback/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "Not sent to Shopify: Shopify refused &lt;script&gt;x&lt;/script&gt;" in page
    assert "Not supported by SamCart&#x27;s API" in page
    assert admin_client.get(f"/admin/carts/cartpostback/{shopify.id}/change/").status_code == 200
    assert admin_client.get("/admin/carts/cartpostback/add/").status_code == 403
    samcart = CartPostback.objects.get(order=orders[1])
    response = admin_client.post(
        "/admin/carts/cartpostback/",
        {"action": "send_again", "_selected_action": [shopify.id, samcart.id]},
        follow=True,
    )
    assert "1 post-back(s) queued again; the others had not given up." in response.content.decode()
    assert CartPostback.objects.get(id=shopify.id).state == PostbackState.PENDING
    assert CartPostback.objects.get(id=samcart.id).state == PostbackState.NOT_SUPPORTED
