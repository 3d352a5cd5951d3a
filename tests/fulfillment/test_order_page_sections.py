"""The operator's order page gathers every part's actions as sections registered from the
apps' ready(): the floor's, the address check's (fulfillment.address), shipping's
(warehouses) and the cart post-back's (carts). Staff only; a refused action writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from pressrun.carts.models import CartPostback, PostbackState
from pressrun.fulfillment.order_page import _SECTIONS
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from pressrun.warehouses.models import NoticeOutcome, ShipNotice
from pressrun.warehouses.services import warehouse_create
from tests.fulfillment import floor_support
from tests.fulfillment.floor_support import operator, place_order
from tests.fulfillment.support import bring_to, ship, today

pytestmark = pytest.mark.django_db
S = FulfillmentState
publisher = floor_support.publisher
kinds = floor_support.kinds
PROBLEM = "The carrier returned it: no such street number."


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(operator("ann"))
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def snapshot() -> tuple[list[Any], ...]:
    return (
        list(
            Order.objects.order_by("id").values_list(
                "id", "fulfillment_state", "status", "error_description", "updated_at"
            )
        ),
        list(OrderEvent.objects.order_by("id").values_list("id", flat=True)),
        list(
            CartPostback.objects.order_by("id").values_list("id", "state", "attempts", "updated_at")
        ),
    )


def gave_up(order: Order, *, state: str = PostbackState.GAVE_UP) -> CartPostback:
    now = timezone.now() - timedelta(hours=1)
    return CartPostback.objects.create(
        order=order,
        cart="shopify",
        state=state,
        attempts=8,
        last_error="Shopify answered 401: Invalid API key or access token.",
        created_at=now,
        updated_at=now,
    )


def section_keys(page: str) -> list[str]:
    keys = {
        "floor-actions": "floor",
        "address-section": "address",
        "shipping-section": "shipping",
        "postback-section": "cart_postback",
    }
    found = sorted((page.find(f'data-testid="{testid}"'), key) for testid, key in keys.items())
    return [key for position, key in found if position >= 0]


def test_the_sections_are_registered_by_their_apps() -> None:
    assert {key: (s.order, s.template) for key, s in _SECTIONS.items()} == {
        "floor": (10, "fulfillment/floor/floor_actions.html"),
        "address": (20, "fulfillment/address/order_section.html"),
        "shipping": (30, "warehouses/order_section.html"),
        "cart_postback": (40, "carts/order_section.html"),
    }


def test_only_staff_may_act_from_the_sections(kinds: dict[str, Any], publisher: Any) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    shipped = place_order(publisher, (kinds["cd-sleeve"], 1))
    ship(shipped, tracking_id="9400100000000000000001", carrier="USPS")
    gave_up(shipped)
    before = snapshot()
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk", password="a long enough password"))
    posts = [
        (f"/operator/address-errors/{order.id}/report", {"description": PROBLEM}),
        (f"/operator/carts/orders/{shipped.id}/postback", {}),
    ]
    for url, data in posts:
        signed_out = Client().post(url, data)
        assert signed_out.status_code == 302, url
        assert signed_out["Location"].startswith("/admin/login/?next=/operator/"), url
        assert clerk.post(url, data).status_code == 404, url
    assert clerk.get(f"/operator/floor/orders/{order.id}").status_code == 404
    assert snapshot() == before


def test_a_ready_order_shows_the_floor_the_address_check_and_shipping(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    page = staff.get(f"/operator/floor/orders/{order.id}").text
    assert section_keys(page) == ["floor", "address", "shipping"]
    assert (
        'data-testid="address-status">Not checked yet: it is not handed to a shipping station '
        "until its check has passed.<" in page
    )
    assert f'action="/operator/address-errors/{order.id}/report"' in page
    assert ">Stop the order for its address</button>" in page
    assert (
        f'<a href="/operator/shipping/orders/{order.id}/ship" class="button" '
        'data-testid="ship-link">Enter tracking / mark shipped</a>' in page
    )
    assert (
        'data-testid="shipping-status">Not shipped yet. It is not in the shipping stations\' '
        "export until its address check has passed; a letter-rate order may be marked shipped "
        "without tracking.<" in page
    )

    Order.objects.filter(id=order.id).update(
        address_checked_at=timezone.now(), address_check_note="offline: complete"
    )
    page = staff.get(f"/operator/floor/orders/{order.id}").text
    assert 'data-testid="address-status">Checked ' in page
    assert 'data-testid="address-note">The last check said: offline: complete<' in page
    assert (
        'data-testid="shipping-status">Not shipped yet. Shipping stations find it in their '
        "export; a letter-rate order may be marked shipped without tracking.<" in page
    )


def test_a_hold_order_has_no_address_or_shipping_section(
    staff: Client, make_publisher: Any, make_project: Any
) -> None:
    poor = make_publisher(balance="0", company="Broke Discs")
    order = place_order(poor, (make_project(poor), 1))
    assert order.status == "HOLD"
    page = staff.get(f"/operator/floor/orders/{order.id}").text
    assert section_keys(page) == []
    assert "No action from this state." in page


def test_reporting_from_the_order_page_stops_the_order_and_links_the_correction(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    url = f"/operator/floor/orders/{order.id}"
    response = staff.post(
        f"/operator/address-errors/{order.id}/report", {"description": PROBLEM}, follow=True
    )
    assert response.redirect_chain == [(url, 302)]
    assert messages_of(response) == [
        f"Order {order.id} is stopped for its address (ERROR / 10); its customer is emailed "
        "the link to correct it."
    ]
    order.refresh_from_db()
    assert (order.fulfillment_state, order.status, order.error_description) == (
        S.ADDRESS_ERROR,
        "ERROR",
        PROBLEM,
    )
    event = order.events.order_by("-id").first()
    assert event is not None
    assert (event.to_state, event.actor) == (S.ADDRESS_ERROR, "operator:ann")

    page = response.text
    assert f'data-testid="address-status">Stopped for its address: {PROBLEM}<' in page
    assert f'href="/operator/address-errors/{order.id}/correct?back=order"' in page
    assert "Stop the order for its address" not in page
    assert "It cannot be shipped now (address error)." in page
    assert 'data-testid="ship-link"' not in page

    listing = staff.get("/operator/address-errors/").text
    assert f'<a href="{url}">{order.id}</a>' in listing

    # The same report again changes nothing.
    before = snapshot()
    again = staff.post(
        f"/operator/address-errors/{order.id}/report", {"description": PROBLEM}, follow=True
    )
    assert messages_of(again) == [f"Order {order.id} was already stopped for this problem."]
    assert snapshot() == before

    # Corrected from the order page: back to it, ready again.
    correct_url = f"/operator/address-errors/{order.id}/correct?back=order"
    form = staff.get(correct_url).text
    assert f'<a href="{url}">← Order {order.id}</a>' in form
    corrected = staff.post(
        correct_url,
        {
            "name": "Ann Buyer",
            "address": "12 Main St",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78701",
            "country": "United States",
        },
        follow=True,
    )
    assert corrected.redirect_chain == [(url, 302)]
    order.refresh_from_db()
    assert (order.fulfillment_state, order.address) == (S.READY, "12 Main St")


def test_refused_reports_write_nothing(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    shipped = place_order(publisher, (kinds["cd-sleeve"], 1))
    ship(shipped, tracking_id="9400100000000000000001", carrier="USPS")
    before = snapshot()

    empty = staff.post(f"/operator/address-errors/{order.id}/report", {}, follow=True)
    assert empty.redirect_chain == [(f"/operator/floor/orders/{order.id}", 302)]
    assert messages_of(empty) == ["Not reported: This field is required."]
    too_long = staff.post(
        f"/operator/address-errors/{order.id}/report", {"description": "x" * 501}, follow=True
    )
    assert messages_of(too_long) == [
        "Not reported: Ensure this value has at most 500 characters (it has 501)."
    ]
    late = staff.post(
        f"/operator/address-errors/{shipped.id}/report", {"description": PROBLEM}, follow=True
    )
    assert messages_of(late) == [
        f"Not reported: Order {shipped.id} is shipped; it cannot be moved to address error "
        "(shipped and cancelled orders are final)."
    ]
    assert (
        staff.post("/operator/address-errors/999999/report", {"description": PROBLEM}).status_code
        == 404
    )
    assert (
        staff.post(
            "/operator/address-errors/99999999999999999999/report", {"description": PROBLEM}
        ).status_code
        == 404
    )
    assert staff.get(f"/operator/address-errors/{order.id}/report").status_code == 405
    assert snapshot() == before


def test_a_shipped_order_shows_its_shipment_notices_and_post_back(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    bring_to(order, S.PACKED)
    ship(
        order,
        tracking_id="9400100000000000000001",
        carrier="USPS",
        service="USPS First Class Mail",
        postage_cost=Decimal("4.37"),
    )
    station = warehouse_create(name="Desk <station>").connection
    now = timezone.now()
    ShipNotice.objects.create(
        connection=station,
        digest="a" * 64,
        received_at=now,
        last_received_at=now,
        times_received=2,
        order_number=order.invoice,
        carrier="USPS",
        tracking_number="9400100000000000000002",
        ship_date=today(),
        order=order,
        outcome=NoticeOutcome.REFUSED,
        detail="A different shipment than the one recorded.",
    )
    postback = gave_up(order)
    page = staff.get(f"/operator/floor/orders/{order.id}").text
    assert section_keys(page) == ["address", "shipping", "cart_postback"]
    shipment = page.split('data-testid="order-shipment">')[1].split("</dl>")[0]
    assert [part.strip() for part in shipment.replace("</dd>", "|").split("|")][:5] == [
        f"<dt>Ship date</dt><dd>{today():%m/%d/%Y}",
        "<dt>Carrier</dt><dd>USPS",
        "<dt>Service</dt><dd>USPS First Class Mail",
        "<dt>Tracking</dt><dd>9400100000000000000001",
        "<dt>Postage cost</dt><dd>$4.37 (the publisher paid $1.50)",
    ]
    assert "Correct the shipment</a>" in page
    assert "Stop the order for its address" not in page
    notices = page.split('data-testid="order-ship-notices">')[1].split("</ul>")[0]
    assert "from Desk &lt;station&gt; (2\u00d7)" in notices
    assert "Refused by the order&#x27;s state or details: A different shipment" in notices
    assert '(<a href="/operator/shipping/notices">to look at</a>)' in notices

    assert (
        'data-testid="order-postback" data-state="gave_up">Not sent to Shopify: Shopify '
        "answered 401: Invalid API key or access token.<" in page
    )
    assert f'action="/operator/carts/orders/{order.id}/postback"' in page

    sent = staff.post(f"/operator/carts/orders/{order.id}/postback", follow=True)
    assert sent.redirect_chain == [(f"/operator/floor/orders/{order.id}", 302)]
    assert messages_of(sent) == ["Sending the tracking to Shopify again."]
    postback.refresh_from_db()
    assert (postback.state, postback.attempts) == (PostbackState.PENDING, 0)
    assert "Waiting to be sent to Shopify." in sent.text
    assert f'action="/operator/carts/orders/{order.id}/postback"' not in sent.text

    # Not given up (any more): nothing is sent again, nothing written.
    before = snapshot()
    refused = staff.post(f"/operator/carts/orders/{order.id}/postback", follow=True)
    assert messages_of(refused) == [
        "Nothing was sent again: only a post-back that gave up can be sent again."
    ]
    assert snapshot() == before


def test_send_again_needs_a_post_back(staff: Client, kinds: dict[str, Any], publisher: Any) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    before = snapshot()
    assert staff.post(f"/operator/carts/orders/{order.id}/postback").status_code == 404
    assert staff.get(f"/operator/carts/orders/{order.id}/postback").status_code == 405
    assert snapshot() == before


def test_the_ship_page_links_back_to_the_order_page(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    page = staff.get(f"/operator/shipping/orders/{order.id}/ship").text
    assert f'<a href="/operator/floor/orders/{order.id}" data-testid="order-page-link">' in page
