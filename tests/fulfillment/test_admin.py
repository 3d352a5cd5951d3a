"""The operator's order pages: the physical state shown, and "Change status" offering the
moves the table allows and making them through `fulfillment_move` (or paying a HOLD order
through billing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from tests.fulfillment.support import bring_to, close_window, today

pytestmark = pytest.mark.django_db

S = FulfillmentState


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


def url(order: Order) -> str:
    return f"/admin/orders/order/{order.id}/transition/"


def offered(operator: Client, order: Order) -> list[str]:
    page = operator.get(url(order)).content.decode()
    return re.findall(r'<option value="([a-z_]+)"', page)


def test_the_moves_offered_follow_the_table_and_the_window(
    operator: Client, paid: Callable[..., Order], place: Any, make_publisher: Any, make_project: Any
) -> None:
    waiting = paid()
    assert offered(operator, waiting) == ["address_error", "cancelled"]
    page = operator.get(url(waiting)).content.decode()
    assert "The customer may correct the address until" in page
    close_window(waiting)  # readers (and the page) treat it as ready now
    assert offered(operator, waiting) == [
        "in_production",
        "packed",
        "shipped",
        "address_error",
        "cancelled",
    ]
    assert offered(operator, bring_to(paid(), S.ADDRESS_ERROR)) == ["ready", "cancelled"]
    assert offered(operator, bring_to(paid(), S.PACKED)) == [
        "ready",
        "in_production",
        "shipped",
        "address_error",
        "cancelled",
    ]
    assert offered(operator, bring_to(paid(), S.SHIPPED)) == ["correct_shipment"]
    assert offered(operator, bring_to(paid(), S.CANCELLED)) == []
    broke = make_publisher()
    assert offered(operator, place(broke, make_project(broke))) == ["pay"]
    test = place(broke, make_project(broke), mode="test")
    assert offered(operator, test) == []
    assert (
        "Test orders are never paid, made or shipped." in operator.get(url(test)).content.decode()
    )


def test_operator_ships_with_date_carrier_service_tracking_and_postage(
    operator: Client, paid: Callable[..., Order]
) -> None:
    order = paid()
    close_window(order)
    reply = operator.post(
        url(order),
        {
            "to": "shipped",
            "ship_date": today().isoformat(),
            "carrier": "USPS",
            "service": "Priority Mail",
            "tracking_id": " 9400111 ",
            "postage_cost": "$8.70",
        },
    )
    assert reply.status_code == 302
    assert reply["Location"] == f"/admin/orders/order/{order.id}/change/"
    order.refresh_from_db()
    assert (
        order.status,
        order.fulfillment_state,
        order.ship_date,
        order.carrier,
        order.service,
        order.tracking_id,
        order.postage_cost,
    ) == ("SHIPPED", S.SHIPPED, today(), "USPS", "Priority Mail", "9400111", Decimal("8.70"))
    history = list(OrderEvent.objects.filter(order=order, kind="fulfillment").order_by("id"))
    assert [(e.from_state, e.to_state, e.actor) for e in history] == [
        (S.WAITING, S.READY, "operator:op"),
        (S.READY, S.SHIPPED, "operator:op"),
    ]
    page = operator.get(f"/admin/orders/order/{order.id}/change/").content.decode()
    assert "is now SHIPPED, shipped." in page


def test_a_refused_move_is_explained_and_changes_nothing(
    operator: Client, paid: Callable[..., Order]
) -> None:
    order = paid()
    close_window(order)
    reply = operator.post(url(order), {"to": "shipped", "tracking_id": "1"})
    assert reply.status_code == 200
    assert "A ship date is required to mark an order shipped." in reply.content.decode()
    reply = operator.post(url(order), {"to": "address_error"})
    assert "Describe the address problem for the publisher." in reply.content.decode()
    reply = operator.post(url(order), {"to": "waiting"})  # not offered: the form refuses it
    assert "Select a valid choice." in reply.content.decode()
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING
    assert not OrderEvent.objects.filter(order=order, kind="fulfillment").exists()


def test_operator_reports_an_address_error_and_cancels_with_a_refund(
    operator: Client, paid: Callable[..., Order], publisher: Any
) -> None:
    order = paid()
    operator.post(url(order), {"to": "address_error", "description": "No such street."})
    order.refresh_from_db()
    assert (order.status, order.error_description) == ("ERROR", "No such street.")
    publisher.refresh_from_db()
    balance = publisher.balance
    reply = operator.post(url(order), {"to": "cancelled", "reason": "Customer moved away."})
    assert reply.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state) == ("CANCELLED", S.CANCELLED)
    publisher.refresh_from_db()
    assert publisher.balance == balance + order.total_cost
    assert LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND).count() == 1


def test_operator_corrects_a_shipment(operator: Client, paid: Callable[..., Order]) -> None:
    order = bring_to(paid(), S.SHIPPED)
    reply = operator.post(
        url(order),
        {"to": "correct_shipment", "ship_date": today().isoformat(), "tracking_id": "NEW-1"},
    )
    assert reply.status_code == 302
    order.refresh_from_db()
    assert (order.fulfillment_state, order.tracking_id) == (S.SHIPPED, "NEW-1")
    assert OrderEvent.objects.filter(order=order).latest("id").kind == "shipment_corrected"


def test_operator_pays_a_hold_order_or_is_told_why_not(
    operator: Client, place: Any, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    order = place(publisher, make_project(publisher))
    reply = operator.post(url(order), {"to": "pay"})
    assert reply.status_code == 200
    assert f"Order {order.id} is not paid and the balance does not cover $6.00." in (
        reply.content.decode()
    )
    assert Order.objects.get(id=order.id).status == "HOLD"
    publisher.balance = Decimal("6.00")  # money recorded some other way, no release run
    publisher.save(update_fields=["balance"])
    assert operator.post(url(order), {"to": "pay"}).status_code == 302
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state) == ("PROCESSING", S.WAITING)
    assert LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_CHARGE).count() == 1


def test_the_pay_action_on_the_list(
    operator: Client, place: Any, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    cd = make_project(publisher)
    first, second = place(publisher, cd), place(publisher, cd)
    publisher.balance = Decimal("6.00")
    publisher.save(update_fields=["balance"])
    reply = operator.post(
        "/admin/orders/order/",
        {"action": "pay_from_balance", "_selected_action": [first.id, second.id]},
        follow=True,
    )
    page = reply.content.decode()
    assert "1 order(s) paid: PROCESSING." in page
    assert f"Order {second.id} is not paid and the balance does not cover $6.00." in page
    assert Order.objects.get(id=first.id).status == "PROCESSING"
    assert Order.objects.get(id=second.id).status == "HOLD"


def test_the_list_shows_and_filters_the_physical_state(
    operator: Client, paid: Callable[..., Order]
) -> None:
    ready = bring_to(paid(), S.READY)
    packed = bring_to(paid(), S.PACKED)
    page = operator.get("/admin/orders/order/").content.decode()
    assert "Ready to make" in page
    assert "Packed" in page
    passed = paid()
    close_window(passed)  # still stored as waiting: listed as ready

    def listed(state: str) -> set[int]:
        page = operator.get("/admin/orders/order/", {"fulfillment": state}).content.decode()
        return {int(i) for i in re.findall(r'href="/admin/orders/order/(\d+)/change/', page)}

    assert listed("packed") == {packed.id}
    assert listed("ready") == {ready.id, passed.id}
    assert listed("waiting") == set()
    detail = operator.get(f"/admin/orders/order/{packed.id}/change/").content.decode()
    assert "Packed" in detail
    assert "Change status" in detail


def test_the_order_page_links_the_operator_page(
    operator: Client, paid: Callable[..., Order]
) -> None:
    order = paid()
    page = operator.get(f"/admin/orders/order/{order.id}/change/").content.decode()
    assert (
        f'<a href="/operator/floor/orders/{order.id}" data-testid="operator-page-link">'
        "Operator page</a>" in page
    )
    assert operator.get(f"/operator/floor/orders/{order.id}").status_code == 200


def test_batches_are_listed_read_only(
    operator: Client, make_publisher: Any, make_project: Any
) -> None:
    from django.contrib.auth.models import User

    from pressrun.fulfillment.batches import batch_create, order_pull_out
    from pressrun.fulfillment.models import Batch
    from tests.fulfillment.floor_support import place_order

    publisher = make_publisher(balance="100")
    cd = make_project(publisher, media="cd", packaging="sleeve")
    orders = [place_order(publisher, (cd, 1)) for _ in range(3)]
    ann = User.objects.create_user("ann", is_staff=True)
    batch = batch_create(group="cd-sleeve", user=ann).batch
    assert batch is not None
    order_pull_out(order_id=orders[0].id, user=ann)

    listing = operator.get("/admin/fulfillment/batch/").content.decode()
    row = listing.split(f'href="/admin/fulfillment/batch/{batch.id}/change/"')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[:4] == ["CD sleeve", "In production", "2", "ann"]
    assert "Add batch" not in listing

    page = operator.get(f"/admin/fulfillment/batch/{batch.id}/change/").content.decode()
    assert f'<a href="/operator/floor/batches/{batch.id}">Batch {batch.id} on the floor</a>' in page
    assert 'type="submit"' not in page.split('id="batch_form"')[-1].split("</form>")[0]
    before = list(Batch.objects.values_list("id", "state", "group", "created_by_name"))
    response = operator.post(
        f"/admin/fulfillment/batch/{batch.id}/change/", {"state": "shipped", "group": "usb"}
    )
    assert response.status_code == 403
    assert (
        operator.post(f"/admin/fulfillment/batch/{batch.id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert operator.get("/admin/fulfillment/batch/add/").status_code == 403
    assert list(Batch.objects.values_list("id", "state", "group", "created_by_name")) == before
