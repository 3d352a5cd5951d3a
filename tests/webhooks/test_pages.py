"""Integrations → Webhooks: the settings form and its validation, the secret shown once and
on request, rotation, the test event, the log and a delivery's attempts, redelivery, and
isolation between publishers."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.core.sealed import unseal
from pressrun.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from pressrun.webhooks.services import webhook_delivery_attempt
from tests.dashboard.conftest import sign_in
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db

PAGE = "/integrations/webhooks"
ALL = [
    "order.placed",
    "order.held",
    "order.released",
    "order.shipped",
    "order.address_error",
    "order.shipment_corrected",
]


@pytest.fixture
def browser(publisher: Any) -> Client:
    client = Client()
    sign_in(client, publisher)
    return client


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def secret_on(page: str) -> str:
    match = re.search(r'data-testid="webhook-secret">(whsec_[A-Za-z0-9_-]+)<', page)
    assert match, page[:3000]
    return match.group(1)


def test_page_without_endpoint(browser: Client) -> None:
    page = text(browser.get(PAGE))
    assert "A secret is made when you first save an endpoint URL." in page
    assert "Nothing sent yet." in page
    assert re.search(r"<button type=\"submit\" disabled>Send test event</button>", page)
    assert "1, 4, 16, 64, 256 minutes" in page
    # Every event ticked by default.
    assert page.count('name="event_types"') == len(ALL)
    assert page.count("checked") == len(ALL)
    assert "/integrations/webhooks" in text(browser.get("/integrations"))


def test_first_save_shows_the_secret_once_then_reveal_and_rotate(
    browser: Client, publisher: Any, receiver: Receiver
) -> None:
    response = browser.post(PAGE, {"url": receiver.url, "event_types": ALL[:2], "enabled": "on"})
    assert response.status_code == 200
    page = text(response)
    secret = secret_on(page)
    endpoint = WebhookEndpoint.objects.get(publisher=publisher)
    assert (endpoint.url, endpoint.event_types, endpoint.enabled) == (
        receiver.url,
        ["order.held", "order.placed"],
        True,
    )
    assert secret not in endpoint.secret_sealed
    assert unseal(endpoint.secret_sealed) == secret
    assert response["Cache-Control"] == "no-store, private"

    page = text(browser.get(PAGE))
    assert secret not in page
    assert "••••••••" + secret[-4:] in page

    page = text(browser.post(f"{PAGE}/secret", {"action": "reveal"}))
    assert secret_on(page) == secret

    page = text(browser.post(f"{PAGE}/secret", {"action": "rotate"}))
    new = secret_on(page)
    assert new != secret
    assert unseal(WebhookEndpoint.objects.get().secret_sealed) == new

    # A later save keeps the secret and redirects.
    response = browser.post(PAGE, {"url": receiver.url, "event_types": ALL})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.event_types) == (False, sorted(ALL))
    assert unseal(endpoint.secret_sealed) == new


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "http://hooks.example.com/x", "enabled": "on", "event_types": ALL}, "https://"),
        ({"url": "https://10.0.0.1/x", "enabled": "on", "event_types": ALL}, "private"),
        ({"url": "", "enabled": "on", "event_types": ALL}, "Enter the URL"),
        (
            {"url": "https://hooks.example.com/x", "enabled": "on"},
            "Choose at least one event to send",
        ),
        (
            {"url": "https://hooks.example.com/x", "event_types": ["order.deleted"]},
            "Select a valid choice",
        ),
        ({"url": "https://" + "a" * 600 + ".com"}, "at most 500 characters"),
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_written(
    browser: Client, data: dict[str, Any], message: str
) -> None:
    response = browser.post(PAGE, data)
    assert response.status_code == 400
    assert message in text(response)
    assert not WebhookEndpoint.objects.exists()


def test_escaped_url(browser: Client, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    url = 'http://127.0.0.1:1/"><script>alert(1)</script>'
    response = browser.post(PAGE, {"url": url, "event_types": ALL})
    assert response.status_code == 400
    content = response.content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "The URL may not contain spaces" in content


def test_test_event_and_log_and_redelivery(
    browser: Client, publisher: Any, receiver: Receiver, connect: Callable[..., str]
) -> None:
    connect(publisher)
    response = browser.post(f"{PAGE}/test")
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#log"
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "webhook.test"
    assert receiver.received == []  # queued, not sent inside the request
    page = text(browser.get(PAGE))
    assert f"Test event {delivery.event_id} is queued" in page
    assert "webhook.test" in page
    assert "Pending" in page

    receiver.status = 418
    receiver.reply = b"<b>teapot</b>"
    webhook_delivery_attempt(delivery_id=delivery.id)
    page = text(browser.get(PAGE))
    assert "Failed (gave up)" in page
    assert "HTTP 418" in page
    detail = browser.get(f"{PAGE}/deliveries/{delivery.id}")
    assert detail.status_code == 200
    assert "&lt;b&gt;teapot&lt;/b&gt;" in detail.content.decode()
    assert delivery.event_id in text(detail)
    assert "Send again" in text(detail)

    receiver.status = 200
    response = browser.post(f"{PAGE}/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    # Redelivering again while pending is refused with a message, nothing changes.
    response = browser.post(f"{PAGE}/deliveries/{delivery.id}/redeliver", follow=True)
    assert "is still being sent" in text(response)
    webhook_delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 2


def test_test_event_needs_a_url(browser: Client) -> None:
    response = browser.post(f"{PAGE}/test", follow=True)
    assert "Save an endpoint URL first." in text(response)
    assert not WebhookDelivery.objects.exists()


def test_publishers_never_see_each_others_webhooks(
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    connect: Callable[..., str],
    place: Any,
    receiver: Receiver,
) -> None:
    a = make_publisher(balance="50")
    b = make_publisher(balance="50")
    connect(b)
    place(b, make_project(b))
    theirs = WebhookDelivery.objects.get()
    browser = Client()
    sign_in(browser, a)
    page = text(browser.get(PAGE))
    assert receiver.url not in page
    assert theirs.event_id not in page
    assert "Nothing sent yet." in page
    assert browser.get(f"{PAGE}/deliveries/{theirs.id}").status_code == 404
    assert browser.post(f"{PAGE}/deliveries/{theirs.id}/redeliver").status_code == 404
    # A's reveal shows nothing of B's secret: A has no endpoint.
    response = browser.post(f"{PAGE}/secret", {"action": "reveal"}, follow=True)
    assert "whsec_" not in text(response)
    assert "Save an endpoint URL first" in text(response)
    theirs.refresh_from_db()
    assert theirs.status == DeliveryStatus.PENDING


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    url=st.text(max_size=80),
    events=st.lists(st.sampled_from([*ALL, "x", ""]), max_size=3),
    enabled=st.booleans(),
)
def test_settings_form_fuzzed(browser: Client, url: str, events: list[str], enabled: bool) -> None:
    data: dict[str, Any] = {"url": url, "event_types": events}
    if enabled:
        data["enabled"] = "on"
    before = list(WebhookEndpoint.objects.values())
    response = browser.post(PAGE, data)
    assert response.status_code in (200, 302, 400)
    endpoint = WebhookEndpoint.objects.filter().first()
    if response.status_code == 400:
        assert list(WebhookEndpoint.objects.values()) == before
        return
    assert endpoint is not None
    assert endpoint.url == url.strip()
    assert endpoint.enabled is enabled
