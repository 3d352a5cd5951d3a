"""The dashboard's push protocol pages: setting a warehouse's push URL (the secret shown once),
replacing the secret, every attempt of an order's push on the Orders page, and "Send again";
each for the publisher's own connections and pushes only (every URL a 404 for another
publisher's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.warehouses.carrier_codes import description_rule_create
from pressrun.warehouses.models import PushStatus, WarehouseConnection, WarehousePush
from pressrun.warehouses.orders import CartLineToRoute, CartOrderHeader, warehouse_order_add
from pressrun.warehouses.push import (
    warehouse_push_attempt,
    warehouse_push_configure,
    warehouse_push_secret,
)
from pressrun.warehouses.services import warehouse_create
from tests.dashboard.test_warehouse_orders import make_warehouse, text
from tests.warehouses import warehouse_emulator

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _queued_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    settings.WAREHOUSE_PUSH_TIMEOUT_SECONDS = 2


@pytest.fixture
def connection(publisher: Publisher) -> WarehouseConnection:
    return make_warehouse(publisher)


def test_saving_a_push_url_shows_the_secret_once(
    signed_in: Client, connection: WarehouseConnection
) -> None:
    page = f"/integrations/warehouses/{connection.id}/push"
    body = text(signed_in.get(page))
    assert "This warehouse pulls its orders (no push URL)." in body
    assert f"/warehouses/{connection.id}/shipments" in body
    assert f"/warehouses/{connection.id}/inventory" in body
    response = signed_in.post(page, {"url": "https://wms.example.com/pressrun/orders"})
    assert response.status_code == 200
    connection.refresh_from_db()
    secret = warehouse_push_secret(connection)
    assert secret.startswith("wmssec_")
    assert f'<code data-testid="push-secret-value">{secret}</code>' in text(response)
    assert "This warehouse receives its orders by push." in text(response)
    # Afterwards only its last four characters are ever shown.
    again = text(signed_in.get(page))
    assert secret not in again
    assert "••••••••" + secret[-4:] in again
    # Saving the URL again keeps the secret; a refused URL writes nothing.
    signed_in.post(page, {"url": "https://wms.example.com/v2"})
    refused = signed_in.post(page, {"url": "http://wms.example.com/v3"})
    assert refused.status_code == 400
    assert "The URL must start with https://" in text(refused)
    connection.refresh_from_db()
    assert connection.push_url == "https://wms.example.com/v2"
    assert warehouse_push_secret(connection) == secret
    # A new secret replaces it and is shown once.
    rotated = signed_in.post(f"/integrations/warehouses/{connection.id}/push/secret")
    connection.refresh_from_db()
    new_secret = warehouse_push_secret(connection)
    assert new_secret != secret
    assert new_secret in text(rotated)


def test_an_orders_push_attempts_are_listed_and_a_refused_one_sent_again(
    signed_in: Client, connection: WarehouseConnection, publisher: Publisher
) -> None:
    with warehouse_emulator.running(script=[500, 422]) as wms:
        _, wms.secret = warehouse_push_configure(connection_id=connection.id, url=wms.url)
        description_rule_create(
            connection_id=connection.id, match="is", text="Standard", carrier_code="USPS_PRIORITY"
        )
        connection.refresh_from_db()
        order, _ = warehouse_order_add(
            connection=connection,
            header=CartOrderHeader(
                cart="shopify",
                external_key="shop:1",
                name="#1001",
                test=False,
                recipient={"name": "Ann"},
                shipping_description="Standard",
            ),
            lines=[CartLineToRoute(line_key="1", sku="SHIRT-M", title="Shirt", quantity=1)],
        )
        push = WarehousePush.objects.filter(order=order).first()
        assert push is not None
        now = timezone.now()
        assert warehouse_push_attempt(push_id=push.id, now=now) == PushStatus.PENDING
        later = now + timedelta(minutes=1)
        assert warehouse_push_attempt(push_id=push.id, now=later) == PushStatus.REFUSED
        page = text(signed_in.get(f"/integrations/warehouses/{connection.id}/orders"))
        assert "Refused by the warehouse" in page
        assert f"{now:%Y-%m-%d %H:%M:%S}: HTTP 500" in page
        assert f"{later:%Y-%m-%d %H:%M:%S}: HTTP 422" in page
        assert "The warehouse refused the order (HTTP 422): {&quot;error&quot;" in page
        again = f"/integrations/warehouses/{connection.id}/push/{push.id}/again"
        assert again in page
        response = signed_in.post(again, follow=True)
        assert f"WH-{order.id} is being sent to the warehouse again." in text(response)
        push.refresh_from_db()
        assert push.status == PushStatus.PENDING
        assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
        order.refresh_from_db()
        assert order.state == "routed"


def test_another_publishers_push_pages_are_404s(
    client_for: Callable[..., Client],
    connection: WarehouseConnection,
    make_publisher: Callable[..., Any],
) -> None:
    _, secret = warehouse_push_configure(
        connection_id=connection.id, url="https://wms.example.com/orders"
    )
    order, _ = warehouse_order_add(
        connection=connection,
        header=CartOrderHeader(
            cart="shopify",
            external_key="shop:1",
            name="#1",
            test=False,
            recipient={},
            shipping_description="",
        ),
        lines=[CartLineToRoute(line_key="1", sku="SHIRT-M", title="Shirt", quantity=1)],
    )
    push = WarehousePush.objects.create(
        order=order,
        connection=connection,
        idempotency_key="whpush_x",
        status=PushStatus.REFUSED,
        created_at=timezone.now(),
    )
    other = client_for(make_publisher(email="other@example.com", company="Other"))
    own_station = warehouse_create(name="Main station").connection
    for target in (connection.id, own_station.id):
        base = f"/integrations/warehouses/{target}/push"
        assert other.get(base).status_code == 404
        assert other.post(base, {"url": "https://evil.example.com/"}).status_code == 404
        assert other.post(base + "/secret").status_code == 404
        assert other.post(f"{base}/{push.id}/again").status_code == 404
    connection.refresh_from_db()
    assert connection.push_url == "https://wms.example.com/orders"
    assert warehouse_push_secret(connection) == secret
    push.refresh_from_db()
    assert push.status == PushStatus.REFUSED
