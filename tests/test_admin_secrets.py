"""The operator console never shows a password hash or a saved secret in full.

Every page of every registered admin (changelists, searches, change pages, history and delete
confirmations) is rendered for objects that hold known secrets, and none of them may appear
in the HTML: only their hints (`core.sealed.hint`), as on the dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from pressrun.accounts.models import LoginFailure, Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts.models import Cart, InboundDelivery, Outcome
from pressrun.catalog.models import Project
from pressrun.core.sealed import hint
from pressrun.dashboard.tokens import password_reset_token
from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.notifications.services import customer_page_url, notify_order_placed
from pressrun.orders.changes import order_delete
from pressrun.warehouses.models import (
    WarehouseOrder,
    WarehousePush,
    WarehousePushAttempt,
    WarehouseStockLevel,
)
from pressrun.warehouses.push import warehouse_push_configure
from pressrun.warehouses.services import warehouse_create
from pressrun.webhooks.services import webhook_endpoint_save
from tests import intake

pytestmark = pytest.mark.django_db

SHOPIFY_KEY = "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"
API_KEY = "3B2EA25FBE9B4E31915F3CEDD74E8E78"
OPERATOR_PASSWORD = "operator secret password"


@dataclass
class Secrets:
    """Plain secrets that no admin page may contain."""

    values: dict[str, str]

    def found_in(self, html: str) -> list[str]:
        return [name for name, value in self.values.items() if value and value in html]


def _hash_parts(encoded: str) -> list[str]:
    """The full hash and its digest part (the salt and digest are what an attacker needs)."""
    return [encoded, encoded.rsplit("$", 1)[-1]]


def _place(publisher: Publisher, project_id: int, invoice: str) -> Any:
    project = Project.objects.get(id=project_id)
    recipient = {**intake.ADA, "email": "ada@example.com"}
    return intake.place(publisher, [(project, 1)], recipient=recipient, invoice=invoice)


@pytest.fixture
def world(make_publisher: Any, make_project: Any, client: Client) -> tuple[Client, Secrets]:
    """An operator signed in, and one object of every kind that holds or shows a secret."""
    user_model = get_user_model()
    operator = user_model.objects.create_superuser("op", "op@example.com", OPERATOR_PASSWORD)
    other = user_model.objects.create_user("clerk", "clerk@example.com", "clerk password 1")
    client.force_login(operator)

    publisher = make_publisher(email="label@example.com", company="Label", balance="5.00")
    publisher_set_cart_credentials(
        publisher=publisher,
        shopify_webhook_key=SHOPIFY_KEY,
        oneshoppingcart_merchant_id="407733",
        oneshoppingcart_api_key=API_KEY,
    )
    project = make_project(publisher, price=Decimal("4.50"), ecommerce_ids="{SKU-1}")
    kept = _place(publisher, project.id, "INV-KEPT")
    deleted = _place(publisher, project.id, "INV-GONE")
    for order in (kept, deleted):
        (email,) = notify_order_placed(order=order)
        # The email really carries the secret link, so masking it is what is tested.
        assert customer_page_url(order) in email.text
    order_delete(publisher=publisher, order_id=deleted.id, actor="publisher")
    assert OutgoingEmail.objects.filter(order=None, kind=EmailKind.ORDER_PLACED).count() == 1

    url = f"https://shop.example/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}"
    InboundDelivery.objects.create(
        cart=Cart.SHOPIFY,
        publisher=publisher,
        received_at=timezone.now(),
        # As an older version or a misbehaving cart may have left them.
        headers={
            "X-Shopify-Topic": "orders/fulfilled",
            "X-Api-Key": API_KEY,
            "X-Shopify-Hmac-Sha256": "c2lnbmF0dXJlIHRoYXQgbXVzdCBub3Qgc2hvdw==",
            "Referer": url,
        },
        body=json.dumps({"note": f"key {SHOPIFY_KEY}", "id": 1}).encode(),
        outcome=Outcome.FAILED,
        reason=f"Could not read {url}",
    )
    LoginFailure.objects.create(
        login="label@example.com", client_address="10.0.0.1", at=timezone.now()
    )
    _, webhook_secret = webhook_endpoint_save(
        publisher=publisher,
        url="https://hooks.example.com/in",
        event_types=["order.placed"],
        enabled=True,
    )
    _place(publisher, project.id, "INV-HOOKED")  # a webhook delivery for its pages
    # A publisher's warehouse that takes its orders by push, one pushed order and its stock.
    warehouse = warehouse_create(name="Label 3PL", publisher_id=publisher.id).connection
    _, push_secret = warehouse_push_configure(
        connection_id=warehouse.id, url="https://wms.example.com/orders"
    )
    warehouse_order = WarehouseOrder.objects.create(
        publisher=publisher,
        connection=warehouse,
        cart="shopify",
        external_key="shop:1",
        state="open",
        carrier_code="USPS",
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    push = WarehousePush.objects.create(
        order=warehouse_order,
        connection=warehouse,
        idempotency_key="whpush_admin",
        body='{"id": "WH-1"}',
        status="pending",
        created_at=timezone.now(),
    )
    WarehousePushAttempt.objects.create(
        push=push, number=1, started_at=timezone.now(), url=warehouse.push_url, error="HTTP 500"
    )
    WarehouseStockLevel.objects.create(
        connection=warehouse,
        sku="MUG",
        quantity=4,
        reported_at=timezone.now(),
        received_at=timezone.now(),
        changed_at=timezone.now(),
    )

    publisher.refresh_from_db()
    values = {
        "shopify key": SHOPIFY_KEY,
        "1ShoppingCart key": API_KEY,
        "cart token": publisher.cart_token,
        "customer token (kept order)": kept.customer_token,
        "customer token (deleted order)": deleted.customer_token,
        "reset token": password_reset_token(publisher),
        "session key": client.session.session_key or "",
        "shopify signature header": "c2lnbmF0dXJlIHRoYXQgbXVzdCBub3Qgc2hvdw==",
        "webhook signing secret": webhook_secret,
        "warehouse push secret": push_secret,
    }
    for name, user in (("publisher", publisher), ("operator", operator), ("clerk", other)):
        full, digest = _hash_parts(user.password)
        values[f"{name} password hash"] = full
        values[f"{name} password digest"] = digest
    return client, Secrets(values)


def _admin_pages(client: Client) -> Iterator[str]:
    """The URL of every page the registered admins render for the objects that exist."""
    yield reverse("admin:index")
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        yield changelist
        if model_admin.search_fields:
            yield f"{changelist}?q=label"
        objects: list[Model] = list(model._default_manager.all()[:20])
        for obj in objects:
            # The standard pages, and the admins' own (Record a payment, Set password,
            # Change status).
            for view in ("change", "history", "delete", "credit", "password", "transition"):
                try:
                    yield reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk])
                except NoReverseMatch:
                    continue


def test_no_admin_page_shows_a_full_secret(world: tuple[Client, Secrets]) -> None:
    client, secrets = world
    rendered = 0
    leaks: dict[str, list[str]] = {}
    for url in _admin_pages(client):
        response = client.get(url)
        # Delete pages of read-only records answer 403: nothing is shown there.
        assert response.status_code in (200, 403), (url, response.status_code)
        found = secrets.found_in(response.content.decode())
        if found:
            leaks[url] = found
        rendered += response.status_code == 200
    assert leaks == {}
    assert rendered > 40
    publisher = Publisher.objects.get(email="label@example.com")
    for own in ("credit", "password"):
        assert client.get(f"/admin/accounts/publisher/{publisher.id}/{own}/").status_code == 200


def test_the_hints_are_shown_instead(world: tuple[Client, Secrets]) -> None:
    client, secrets = world
    publisher = Publisher.objects.get(email="label@example.com")
    page = client.get(f"/admin/accounts/publisher/{publisher.id}/change/").content.decode()
    assert hint(SHOPIFY_KEY) in page
    assert hint(API_KEY) in page
    assert f"token={hint(publisher.cart_token)}" in page
    assert f"md5 hash {hint(publisher.password)}" in page

    delivery = InboundDelivery.objects.get()
    page = client.get(f"/admin/carts/inbounddelivery/{delivery.id}/change/").content.decode()
    assert hint(API_KEY) in page
    assert f"token={hint(publisher.cart_token)}" in page
    assert f"key {hint(SHOPIFY_KEY)}" in page
    assert "orders/fulfilled" in page

    for email in OutgoingEmail.objects.all():
        page = client.get(f"/admin/notifications/outgoingemail/{email.id}/change/")
        tokens = [
            secrets.values[name]
            for name in secrets.values
            if name.startswith("customer token") and secrets.values[name] in email.text
        ]
        for token in tokens:  # the cancellation email carries no link
            assert f"/c/{hint(token)}" in page.content.decode()


def test_saving_a_publisher_keeps_or_changes_the_secrets_without_showing_them(
    world: tuple[Client, Secrets],
) -> None:
    client, secrets = world
    publisher = Publisher.objects.get(email="label@example.com")
    url = f"/admin/accounts/publisher/{publisher.id}/change/"
    form = {
        "email": publisher.email,
        "company": "Label 2",
        "default_mail_method": "standard",
        "customer_email_notifications": "on",
        "customer_address_changes": "on",
        "postage_delay_hours": "12",
        "is_active": "on",
        "shopify_topics": "orders/fulfilled",
        "oneshoppingcart_merchant_id": "407733",
        "shopify_webhook_key": "",
        "oneshoppingcart_api_key": "",
    }
    assert client.post(url, form).status_code == 302
    publisher.refresh_from_db()
    assert (publisher.company, publisher.shopify_webhook_key) == ("Label 2", SHOPIFY_KEY)
    assert publisher.oneshoppingcart_api_key == API_KEY

    new_key = "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"
    assert client.post(url, {**form, "shopify_webhook_key": new_key}).status_code == 302
    publisher.refresh_from_db()
    assert publisher.shopify_webhook_key == new_key
    assert new_key not in publisher.shopify_webhook_key_sealed
    for page in (url, f"/admin/accounts/publisher/{publisher.id}/history/"):
        html = client.get(page).content.decode()
        assert new_key not in html
        assert secrets.found_in(html) == []

    refused = client.post(url, {**form, "company": "Label 3", "shopify_webhook_key": "a b c"})
    assert refused.status_code == 200
    assert "A key has no spaces." in refused.content.decode()
    publisher.refresh_from_db()
    assert (publisher.company, publisher.shopify_webhook_key) == ("Label 2", new_key)

    cleared = {**form, "clear_shopify_webhook_key": "on", "clear_oneshoppingcart_api_key": "on"}
    assert client.post(url, cleared).status_code == 302
    publisher.refresh_from_db()
    assert (publisher.shopify_webhook_key_sealed, publisher.oneshoppingcart_api_key_sealed) == (
        "",
        "",
    )
