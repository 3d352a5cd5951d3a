"""The publisher sees where a paid order physically is: on the order list (with a filter
that applies the postage-window rule), on the home page's recent orders, and on the order's
page with its carrier, service and history of moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.models import Order
from tests.dashboard.pages import text
from tests.dashboard.test_orders import listed_ids
from tests.fulfillment.support import bring_to, close_window, ship, today


def test_the_list_shows_and_filters_the_physical_state(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    cd = make_project(publisher)
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("100"))
    waiting = place_order(publisher, cd)
    passed = place_order(publisher, cd)
    close_window(passed)  # ready for every reader, before the window task has run
    packed = bring_to(place_order(publisher, cd), "packed")
    shipped = place_order(publisher, cd)
    ship(shipped, tracking_id="9400 7")
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("0"))
    hold = place_order(publisher, cd)

    def ids(**query: str) -> list[int]:
        response = signed_in.get("/orders", query)
        assert response.status_code == 200, query
        return listed_ids(response)

    assert ids(fulfillment="waiting") == [waiting.id]
    assert ids(fulfillment="ready") == [passed.id]
    assert ids(fulfillment="packed") == [packed.id]
    assert ids(fulfillment="shipped") == [shipped.id]
    assert ids(fulfillment="cancelled") == []
    assert ids(fulfillment="shipped", status="SHIPPED") == [shipped.id]
    assert hold.id in ids()
    response = signed_in.get("/orders", {"fulfillment": "lost"})
    assert response.status_code == 400
    assert "Select a valid choice. lost is not one of the available choices." in text(response)

    page = text(signed_in.get("/orders"))
    assert f"{waiting.id} {waiting.invoice} Ada Customer" in page
    assert "PROCESSING Waiting (address window open)" in page
    assert "PROCESSING Ready to make" in page
    assert "PROCESSING Packed" in page
    # A shipped or held order needs no second word.
    assert "SHIPPED Shipped" not in page
    home = text(signed_in.get("/home"))
    assert "PROCESSING Ready to make" in home

    # The export takes the same filter.
    export = signed_in.get("/orders/export.csv", {"fulfillment": "ready"})
    rows = b"".join(export.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert len(rows) == 2
    assert rows[1].startswith(f"{passed.id},")


def test_the_order_page_says_where_the_order_is(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    cd = make_project(publisher)
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("100"))
    order = place_order(publisher, cd)
    deadline = Order.objects.get(id=order.id).address_changes_until
    assert deadline is not None
    page = text(signed_in.get(f"/orders/{order.id}"))
    assert (
        f"Fulfillment Waiting (address window open) until {deadline:%Y-%m-%d %H:%M} UTC "
        "(the customer may still correct the address)"
    ) in page
    close_window(order)
    fulfillment_move(order_id=order.id, to="in_production", actor="operator:ann")
    page = text(signed_in.get(f"/orders/{order.id}"))
    assert "Fulfillment In production Ship date —" in page
    assert "PROCESSING → PROCESSING Waiting (address window open) → Ready to make" in page
    assert "PROCESSING → PROCESSING Ready to make → In production operator:ann" in page

    fulfillment_move(
        order_id=order.id,
        to="shipped",
        actor="operator:ann",
        ship_date=today(),
        carrier="USPS",
        service="Priority Mail",
        tracking_id="9400 1118",
        postage_cost=Decimal("8.70"),
    )
    page = text(signed_in.get(f"/orders/{order.id}"))
    assert (
        f"Fulfillment Shipped Ship date {today():%Y-%m-%d} Carrier USPS Service Priority Mail "
        "Tracking 9400 1118 (USPS)"
    ) in page
    # What postage cost the shop is not the publisher's business.
    assert "$8.70" not in page

    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("0"))
    hold = place_order(publisher, cd)
    page = text(signed_in.get(f"/orders/{hold.id}"))
    assert "Fulfillment Starts when the order is paid" in page


def test_a_cancelled_order_on_the_dashboard(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    cd = make_project(publisher)
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("100"))
    order = place_order(publisher, cd)
    fulfillment_move(
        order_id=order.id, to="cancelled", actor="operator:ann", reason="Duplicate purchase."
    )
    page = text(signed_in.get(f"/orders/{order.id}"))
    assert "Status CANCELLED Duplicate purchase." in page
    assert "Fulfillment Cancelled" in page
    assert "Cancelled: Duplicate purchase. Refunded $6.00 to the balance." in page
    assert timezone.now() - timedelta(minutes=1) < Order.objects.get(id=order.id).updated_at
    billing = text(signed_in.get("/billing"))
    assert f"Refund of cancelled order {order.id}: Duplicate purchase." in billing
    assert "refunds of cancelled orders $6.00" in billing
