"""The operator console shows webhooks read-only: the endpoint with its secret as a hint, a
delivery with its attempts; nothing can be added, changed or deleted there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.core.sealed import hint
from pressrun.webhooks.models import WebhookDelivery, WebhookEndpoint
from pressrun.webhooks.services import webhook_delivery_attempt
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db


def test_operator_sees_endpoint_and_attempts_read_only(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any, receiver: Receiver
) -> None:
    secret = connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    receiver.status = 500
    receiver.reply = b"<i>broken</i>"
    webhook_delivery_attempt(delivery_id=delivery.id)
    operator = get_user_model().objects.create_superuser("op", "op@example.com", "pw op 12345")
    client = Client()
    client.force_login(operator)

    endpoint = WebhookEndpoint.objects.get()
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/").content.decode()
    assert hint(secret) in page
    assert secret not in page
    assert receiver.url in page

    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.id}/change/").content.decode()
    assert delivery.event_id in page
    assert "&lt;i&gt;broken&lt;/i&gt;" in page
    assert "500" in page
    changelist = client.get("/admin/webhooks/webhookdelivery/?q=" + delivery.event_id)
    assert delivery.event_id in changelist.content.decode()

    before = WebhookDelivery.objects.values().get()
    response = client.post(f"/admin/webhooks/webhookdelivery/{delivery.id}/change/", {})
    assert response.status_code == 403
    assert client.get("/admin/webhooks/webhookdelivery/add/").status_code == 403
    assert client.post(f"/admin/webhooks/webhookdelivery/{delivery.id}/delete/").status_code == 403
    assert WebhookDelivery.objects.values().get() == before
