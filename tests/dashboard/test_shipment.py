"""The publisher's order page shows the shipment (carrier, service, ship date, tracking with
the carrier's link) and the post-back to the cart; the settings page takes the Shopify Admin
API access token (sealed) and the notify-customer choice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts.models import CartPostback, PostbackState
from pressrun.carts.tasks import postback_send
from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.dashboard.pages import text
from tests.fulfillment.support import ship, today

TOKEN = "shpat_feedfacefeedfacefeedfacefeedface"


@pytest.fixture(autouse=True)
def _queued_tasks(settings: Any) -> None:
    # Post-backs are run by hand here (an immediate backend would also run the retries).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def emulator(settings: Any) -> Iterator[ShopifyAdminEmulator]:
    with shopify_admin_api(tokens={"artist-a": TOKEN}) as emulator:
        settings.PRESSRUN_SHOPIFY_ADMIN_API_BASE = emulator.base_url + "/{shop}"
        yield emulator


@pytest.fixture
def place(publisher: Publisher, make_project: Callable[..., Any]) -> Callable[..., Order]:
    Publisher.objects.filter(id=publisher.id).update(balance="100")
    project = make_project(publisher)
    counter = iter(range(1, 1000))

    def place(source: str = "shopify", external_ref: str = "7001") -> Order:
        return order_place(
            request=OrderRequest(
                publisher_id=publisher.id,
                lines=(LineRequest(project_id=project.id, quantity=1),),
                recipient=RecipientRequest(
                    name="Ada Customer",
                    address="1 Main Street",
                    city="Springfield",
                    state="IL",
                    postal_code="62701",
                    email="ada@example.com",
                ),
                mode="prod",
                source=source,
                invoice=f"#{next(counter)}@artist-a",
                external_ref=external_ref,
                store="artist-a.myshopify.com" if source == "shopify" else "",
            ),
            publisher=Publisher.objects.get(id=publisher.id),
        )

    return place


def run_postback(order: Order) -> None:
    postback = CartPostback.objects.get(order=order)
    postback_send.call(postback_id=postback.id, attempt=postback.attempts + 1)


def test_the_order_page_shows_the_shipment_and_the_post_back_sent(
    signed_in: Client,
    publisher: Publisher,
    place: Callable[..., Order],
    emulator: ShopifyAdminEmulator,
) -> None:
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    emulator.add_order("7001")
    order = place()
    ship(order, tracking_id="1Z999AA10123456784", carrier="UPS", service="UPS Ground")
    run_postback(order)
    postback = CartPostback.objects.get(order=order)
    assert postback.sent_at is not None
    response = signed_in.get(f"/orders/{order.id}")
    page = text(response)
    assert (
        f"Ship date {today():%Y-%m-%d} Carrier UPS Service UPS Ground "
        "Tracking 1Z999AA10123456784 (UPS) "
        f"To Shopify Tracking sent to Shopify at {postback.sent_at:%Y-%m-%d %H:%M} UTC."
    ) in page
    html = response.content.decode()
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"' in html
    assert 'data-state="sent"' in html
    assert "Send again" not in page


def test_unknown_carrier_shows_the_number_without_a_link(
    signed_in: Client, place: Callable[..., Order]
) -> None:
    order = place(source="gateway", external_ref="")
    ship(order, tracking_id="AF-778899", carrier="Acme <b>Freight</b>")
    response = signed_in.get(f"/orders/{order.id}")
    assert "Tracking AF-778899 (Acme <b>Freight</b>)" in text(response)
    html = response.content.decode()
    assert "Acme &lt;b&gt;Freight&lt;/b&gt;" in html  # escaped
    assert 'href="https://' not in html.split('data-testid="order-tracking"')[1].split("</dd>")[0]
    assert 'data-testid="order-postback"' not in html  # a gateway order has no cart


def test_a_letter_without_tracking(signed_in: Client, place: Callable[..., Order]) -> None:
    order = place(source="gateway", external_ref="")
    ship(order)
    assert "Tracking None (shipped without tracking)" in text(signed_in.get(f"/orders/{order.id}"))


def test_retrying_then_gave_up_with_send_again(
    *,
    signed_in: Client,
    publisher: Publisher,
    place: Callable[..., Order],
    emulator: ShopifyAdminEmulator,
    client_for: Callable[..., Client],
    make_publisher: Callable[..., Any],
) -> None:
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    emulator.add_order("7001")
    order = place()
    ship(order, tracking_id="9400100000000000000011")
    emulator.down = True
    run_postback(order)
    postback = CartPostback.objects.get(order=order)
    assert postback.next_attempt_at is not None
    page = text(signed_in.get(f"/orders/{order.id}"))
    assert (
        "To Shopify Failed: Shopify answered HTTP 503. Retrying at "
        f"{postback.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC (attempt 2 of 12)."
    ) in page
    # The token is removed; the next attempt gives up, and the page offers to send again.
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token="")
    run_postback(order)
    response = signed_in.get(f"/orders/{order.id}")
    assert (
        "To Shopify Not sent to Shopify: No Shopify Admin API access token is saved: add it "
        "under Settings → Cart credentials, then send again. Send again"
    ) in text(response)
    # Another publisher cannot touch it.
    other = client_for(make_publisher(email="other@example.com"))
    url = f"/orders/{order.id}/send-tracking-again"
    assert other.post(url).status_code == 404
    assert CartPostback.objects.get(order=order).state == PostbackState.GAVE_UP
    # Token saved again; the publisher sends again.
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    emulator.down = False
    response = signed_in.post(url, follow=True)
    assert "Sending the tracking to Shopify again." in text(response)
    assert CartPostback.objects.get(order=order).state == PostbackState.PENDING
    run_postback(order)
    assert CartPostback.objects.get(order=order).state == PostbackState.SENT
    # Nothing left to send again.
    response = signed_in.post(url, follow=True)
    assert "There is nothing to send again for this order." in text(response)


def test_samcart_order_says_not_supported(signed_in: Client, place: Callable[..., Order]) -> None:
    order = place(source="samcart", external_ref="88001")
    ship(order, tracking_id="9400100000000000000012")
    assert (
        "To SamCart Not supported by SamCart's API: it can read orders but has no way to mark "
        "one shipped or attach tracking."
    ) in text(signed_in.get(f"/orders/{order.id}"))


def test_settings_save_the_admin_token_sealed_and_the_notify_choice(
    signed_in: Client, publisher: Publisher
) -> None:
    response = signed_in.post(
        "/settings/carts",
        {"shopify_admin_token": TOKEN, "shopify_notify_customer": "on"},
    )
    assert response.status_code == 302
    publisher.refresh_from_db()
    assert publisher.shopify_admin_token == TOKEN
    assert TOKEN not in publisher.shopify_admin_token_sealed
    assert publisher.shopify_notify_customer is True
    page = signed_in.get("/settings").content.decode()
    assert TOKEN not in page
    assert "••••••••face" in page
    # Blank keeps the token; the unticked box turns Shopify's own email off.
    signed_in.post("/settings/carts", {"shopify_admin_token": ""})
    publisher.refresh_from_db()
    assert publisher.shopify_admin_token == TOKEN
    assert publisher.shopify_notify_customer is False
    # A token with spaces is refused, nothing saved.
    response = signed_in.post("/settings/carts", {"shopify_admin_token": "shpat bad"})
    assert response.status_code == 400
    assert "The Shopify Admin API access token is at most 200 characters, without spaces." in (
        text(response)
    )
    publisher.refresh_from_db()
    assert publisher.shopify_admin_token == TOKEN
    signed_in.post("/settings/carts", {"clear_shopify_admin_token": "on"})
    publisher.refresh_from_db()
    assert publisher.shopify_admin_token_sealed == ""
