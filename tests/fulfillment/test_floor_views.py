"""The floor's operator pages: staff only (signed out → sign-in, not staff → 404), the queue,
creating a batch, the batch page and its PDF, the operator's order page and its actions;
a refused action writes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from pressrun.fulfillment.batches import batch_create
from pressrun.fulfillment.models import Batch, BatchOrder, BatchState
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from tests.fulfillment import floor_support
from tests.fulfillment.floor_support import operator, place_order

pytestmark = pytest.mark.django_db
S = FulfillmentState
publisher = floor_support.publisher
kinds = floor_support.kinds


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(operator("ann"))
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def snapshot() -> tuple[list[Any], ...]:
    return (
        list(Order.objects.order_by("id").values_list("id", "fulfillment_state")),
        list(OrderEvent.objects.order_by("id").values_list("id", flat=True)),
        list(Batch.objects.order_by("id").values_list("id", "state")),
        list(BatchOrder.objects.order_by("id").values_list("id", "removed_at")),
    )


def pages(order_id: int, batch_id: int) -> list[tuple[str, str]]:
    return [
        ("get", "/operator/floor/"),
        ("get", "/operator/floor/batches/"),
        ("post", "/operator/floor/batches/new"),
        ("get", f"/operator/floor/batches/{batch_id}"),
        ("post", f"/operator/floor/batches/{batch_id}/packed"),
        ("get", f"/operator/floor/batches/{batch_id}/pdf"),
        ("get", f"/operator/floor/orders/{order_id}"),
        ("post", f"/operator/floor/orders/{order_id}/batch"),
        ("post", f"/operator/floor/orders/{order_id}/packed"),
        ("post", f"/operator/floor/orders/{order_id}/pull-out"),
    ]


def test_only_staff_see_the_floor(kinds: dict[str, Any], publisher: Any) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    batch = batch_create(group="cd-sleeve", user=operator()).batch
    assert batch is not None
    before = snapshot()
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk", password="a long enough password"))
    for method, url in pages(order.id, batch.id):
        signed_out = getattr(Client(), method)(url)
        assert signed_out.status_code == 302, url
        assert signed_out["Location"].startswith("/admin/login/?next=/operator/floor/"), url
        not_staff = getattr(clerk, method)(url, {"group": "cd-sleeve", "batch": "new"})
        assert not_staff.status_code == 404, url
    assert snapshot() == before


def test_staff_land_on_the_floor_queue(staff: Client) -> None:
    response = staff.get("/operator/")
    assert response.status_code == 302
    assert response["Location"] == "/operator/floor/"
    page = staff.get("/operator/floor/")
    assert page["Cache-Control"] == "no-store, private"
    nav = re.findall(r'<li><a href="([^"]+)"( aria-current="page")?>([^<]+)</a></li>', page.text)
    assert ("/operator/floor/", ' aria-current="page"', "Floor") in nav
    assert ("/operator/floor/batches/", "", "Batches") in nav


def test_the_queue_shows_groups_with_counts_in_order(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    sleeve = kinds["cd-sleeve"]
    old = place_order(publisher, (sleeve, 1), hours_ago=4)
    express = place_order(publisher, (sleeve, 2), hours_ago=1, mail_method="express")
    usb = place_order(publisher, (kinds["usb-ecomailer"], 1))
    place_order(publisher, (sleeve, 1), ready=False)  # waiting: not shown

    page = staff.get("/operator/floor/").text

    assert re.findall(r'<section [^>]*data-testid="group-([a-z-]+)"', page) == [
        "cd-sleeve",
        "usb-ecomailer",
    ]
    counts = dict(re.findall(r'data-testid="group-count-([a-z-]+)">([^<]+)</span>', page))
    assert counts == {
        "cd-sleeve": "2 orders · 3 units · 1 priority/express",
        "usb-ecomailer": "1 order · 1 unit",
    }
    listed = [int(n) for n in re.findall(r'<a href="/operator/floor/orders/(\d+)">', page)]
    assert listed == [express.id, old.id, usb.id]
    assert 'data-testid="queue-total">3 orders ready' in page


def test_an_empty_queue_says_so(staff: Client) -> None:
    page = staff.get("/operator/floor/").text
    assert 'data-testid="queue-empty"' in page


def test_create_a_batch_from_a_group(staff: Client, kinds: dict[str, Any], publisher: Any) -> None:
    sleeve = kinds["cd-sleeve"]
    orders = [place_order(publisher, (sleeve, 1), hours_ago=5 - n) for n in range(3)]

    response = staff.post("/operator/floor/batches/new", {"group": "cd-sleeve", "limit": "2"})

    batch = Batch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/operator/floor/batches/{batch.id}"
    page = staff.get(response["Location"])
    assert messages_of(page) == [f"Batch {batch.id}: 2 orders in production."]
    assert sorted(BatchOrder.objects.values_list("order_id", flat=True)) == [
        orders[0].id,
        orders[1].id,
    ]
    assert re.search(r'data-testid="batch-state">In production<', page.text)
    assert OrderEvent.objects.filter(
        order=orders[0], to_state=S.IN_PRODUCTION, actor="operator:ann"
    ).exists()
    pdf = staff.get(f"/operator/floor/batches/{batch.id}/pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'inline; filename="batch-{batch.id}.pdf"'
    assert pdf.content.startswith(b"%PDF-")
    listing = staff.get("/operator/floor/batches/?state=in_production").text
    assert (
        f'<tr><td><a href="/operator/floor/batches/{batch.id}">{batch.id}</a></td><td>CD sleeve'
        '</td><td>In production</td><td class="num">2</td>'
    ) in listing
    assert (
        "No batches in this state yet." in staff.get("/operator/floor/batches/?state=packed").text
    )


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"group": "cd-sleeve"}, "No batch created: Nothing is ready in CD sleeve."),
        (
            {"group": "vinyl"},
            "No batch created: group: Select a valid choice. vinyl is not one of the "
            "available choices.",
        ),
        (
            {"group": "cd-sleeve", "limit": "0"},
            "No batch created: limit: Ensure this value is greater than or equal to 1.",
        ),
        ({"group": "cd-sleeve", "limit": "x"}, "No batch created: limit: Enter a whole number."),
    ],
)
def test_a_refused_batch_writes_nothing(
    staff: Client, kinds: dict[str, Any], publisher: Any, form: dict[str, str], message: str
) -> None:
    place_order(publisher, (kinds["cd-sleeve"], 1), ready=False)
    before = snapshot()
    response = staff.post("/operator/floor/batches/new", form, follow=True)
    assert response.redirect_chain == [("/operator/floor/", 302)]
    assert messages_of(response) == [message]
    assert snapshot() == before


def test_mark_a_batch_packed_from_its_page(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    first = place_order(publisher, (kinds["cd-sleeve"], 1), hours_ago=2)
    second = place_order(publisher, (kinds["cd-sleeve"], 1), hours_ago=1)
    batch = batch_create(group="cd-sleeve", user=operator()).batch
    assert batch is not None
    url = f"/operator/floor/batches/{batch.id}/packed"

    one = staff.post(url, {"order": str(first.id)}, follow=True)
    assert messages_of(one) == [f"Order {first.id} is packed."]
    everything = staff.post(url, follow=True)
    assert messages_of(everything) == [f"Batch {batch.id}: 1 order marked packed."]
    assert Batch.objects.get(id=batch.id).state == BatchState.PACKED
    assert set(
        Order.objects.filter(id__in=[first.id, second.id]).values_list(
            "fulfillment_state", flat=True
        )
    ) == {S.PACKED}
    before = snapshot()
    again = staff.post(url, follow=True)
    assert messages_of(again) == ["Already packed: nothing to do."]
    stranger = staff.post(url, {"order": "999999"}, follow=True)
    assert messages_of(stranger) == [
        f"Nothing was marked packed: Order 999999 is not in batch {batch.id}."
    ]
    garbage = staff.post(url, {"order": "one"}, follow=True)
    assert messages_of(garbage) == ["Nothing was marked packed: the order number is not valid."]
    assert snapshot() == before


def test_the_order_page_shows_history_and_moves_an_order_through_the_floor(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 2), special_text="Code 1234")
    url = f"/operator/floor/orders/{order.id}"

    page = staff.get(url).text
    assert 'data-testid="order-state">Ready to make<' in page
    assert 'name="batch"' in page
    assert '<option value="new">a new batch</option>' in page
    assert "Mark packed" not in page
    assert "Code 1234" in page
    assert f'<a href="/admin/orders/order/{order.id}/change/">' in page

    # Ready → a new batch.
    put = staff.post(f"{url}/batch", {"batch": "new"}, follow=True)
    batch = Batch.objects.get()
    assert messages_of(put) == [f"Order {order.id} is in production in batch {batch.id}."]
    assert 'data-testid="order-state">In production<' in put.text
    assert "Mark packed" in put.text
    assert "Pull out (back to ready)" in put.text

    # In production → packed.
    packed = staff.post(f"{url}/packed", follow=True)
    assert messages_of(packed) == [f"Order {order.id} is packed."]
    assert "Mark packed" not in packed.text

    # Packed → pulled out: ready again, out of the batch.
    pulled = staff.post(f"{url}/pull-out", follow=True)
    assert messages_of(pulled) == [
        f"Order {order.id} is pulled out of batch {batch.id}: ready to be made again."
    ]
    history = [
        (e.from_state, e.to_state, e.actor)
        for e in OrderEvent.objects.filter(order=order, kind="fulfillment").order_by("id")
    ]
    assert history == [
        ("waiting", "ready", "operator:ann"),
        ("ready", "in_production", "operator:ann"),
        ("in_production", "packed", "operator:ann"),
        ("packed", "ready", "operator:ann"),
    ]
    rows = re.findall(r"<tr><td>[\d: -]+</td><td>([^<]+)</td>", pulled.text)
    assert rows[-3:] == [
        f"In production. Batch {batch.id}.",
        f"Packed. Batch {batch.id}.",
        f"Taken out of production: ready to be made. Pulled out of batch {batch.id}.",
    ]
    assert f"batch {batch.id}</a> (taken out: back to ready)" in pulled.text

    # Ready again: the emptied batch takes no orders; nothing is written.
    assert Batch.objects.get(id=batch.id).state == BatchState.EMPTIED
    before = snapshot()
    refused = staff.post(f"{url}/batch", {"batch": str(batch.id)}, follow=True)
    assert messages_of(refused) == [
        f"Order {order.id} was not put in a batch: Batch {batch.id} is emptied: start a new one."
    ]
    assert snapshot() == before


def test_refused_order_actions_write_nothing(
    staff: Client, kinds: dict[str, Any], publisher: Any
) -> None:
    waiting = place_order(publisher, (kinds["cd-sleeve"], 1), ready=False)
    url = f"/operator/floor/orders/{waiting.id}"
    page = staff.get(url).text
    assert 'data-testid="order-state">Waiting (address window open)<' in page
    assert 'data-testid="floor-actions"' not in page  # the floor has nothing to offer
    before = snapshot()
    packed = staff.post(f"{url}/packed", follow=True)
    assert messages_of(packed) == [
        f"Not marked packed: Order {waiting.id} is waiting (address window open) now, not in "
        "production."
    ]
    pulled = staff.post(f"{url}/pull-out", follow=True)
    assert messages_of(pulled)[0].startswith("Not pulled out: ")
    batched = staff.post(f"{url}/batch", {"batch": "new"}, follow=True)
    assert messages_of(batched) == [
        f"Order {waiting.id} was not put in a batch: Nothing is ready in CD sleeve. "
        f"Order {waiting.id} is not ready to be made in CD sleeve."
    ]
    nonsense = staff.post(f"{url}/batch", {"batch": "'; drop"}, follow=True)
    assert messages_of(nonsense) == [f"Order {waiting.id} was not put in a batch: Choose a batch."]
    assert snapshot() == before


@pytest.mark.parametrize(
    "url",
    [
        "/operator/floor/orders/999999",
        "/operator/floor/orders/99999999999999999999999",
        "/operator/floor/batches/999999",
        "/operator/floor/batches/99999999999999999999999/pdf",
    ],
)
def test_unknown_numbers_are_404(staff: Client, url: str) -> None:
    response = staff.get(url)
    assert response.status_code == 404


def test_actions_answer_only_post(staff: Client, kinds: dict[str, Any], publisher: Any) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    assert staff.get(f"/operator/floor/orders/{order.id}/packed").status_code == 405
    assert staff.get("/operator/floor/batches/new").status_code == 405
    assert staff.post(f"/operator/floor/orders/{order.id}").status_code == 405


def test_a_long_group_lists_the_first_orders_and_counts_them_all(
    staff: Client, kinds: dict[str, Any], publisher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressrun.fulfillment import floor

    monkeypatch.setattr(floor, "LISTED_PER_GROUP", 2)
    orders = [place_order(publisher, (kinds["cd-sleeve"], 1), hours_ago=9 - n) for n in range(3)]
    page = staff.get("/operator/floor/").text
    listed = [int(n) for n in re.findall(r'<a href="/operator/floor/orders/(\d+)">', page)]
    assert listed == [orders[0].id, orders[1].id]
    assert "And 1 more, in the same order: a batch of the group takes them too." in page
    assert 'data-testid="group-count-cd-sleeve">3 orders · 3 units</span>' in page


def test_who_may_not_see_the_floor_learns_nothing_from_the_method(
    kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    url = f"/operator/floor/orders/{order.id}/packed"
    assert Client().get(url).status_code == 302
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk", password="a long enough password"))
    assert clerk.get(url).status_code == 404


def test_batch_only_the_ticked_orders(staff: Client, kinds: dict[str, Any], publisher: Any) -> None:
    sleeve = kinds["cd-sleeve"]
    first, second, third = (place_order(publisher, (sleeve, 1), hours_ago=5 - n) for n in range(3))
    page = staff.get("/operator/floor/").text
    assert (
        f'<input type="checkbox" name="order" value="{second.id}" form="batch-cd-sleeve" '
        f'aria-label="Pick order {second.id}">'
    ) in page
    response = staff.post(
        "/operator/floor/batches/new",
        {"group": "cd-sleeve", "order": [str(second.id), str(third.id)]},
        follow=True,
    )
    batch = Batch.objects.get()
    assert messages_of(response) == [f"Batch {batch.id}: 2 orders in production."]
    assert sorted(BatchOrder.objects.values_list("order_id", flat=True)) == [second.id, third.id]
    assert Order.objects.get(id=first.id).fulfillment_state == S.WAITING  # window over: ready
    before = snapshot()
    for bad in (["x"], ["1" * 40], [str(first.id), "-3"]):
        refused = staff.post(
            "/operator/floor/batches/new", {"group": "cd-sleeve", "order": bad}, follow=True
        )
        assert messages_of(refused) == [
            "No batch created: the ticked orders are not order numbers."
        ]
    assert snapshot() == before
