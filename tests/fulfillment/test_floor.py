"""The production floor: the queue's groups and order, batches created from a group, packed
and pulled out, every step an OrderEvent by the operator, and nothing written when refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.catalog.models import PACKAGING_FOR_MEDIA
from pressrun.fulfillment.batches import (
    BatchRefused,
    batch_add,
    batch_create,
    batch_mark_packed,
    order_mark_packed,
    order_pull_out,
)
from pressrun.fulfillment.floor import FLOOR_GROUPS, MIXED, floor_queue
from pressrun.fulfillment.models import Batch, BatchOrder, BatchState
from pressrun.fulfillment.services import FulfillmentRefused, Refusal, fulfillment_move
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from tests.fulfillment import floor_support
from tests.fulfillment.floor_support import operator, place_order
from tests.fulfillment.support import bring_to, flag_address, ship

pytestmark = pytest.mark.django_db
S = FulfillmentState
publisher = floor_support.publisher
kinds = floor_support.kinds


def history(order: Order) -> list[tuple[str, str, str, str]]:
    return [
        (event.from_state, event.to_state, event.actor, event.message)
        for event in OrderEvent.objects.filter(order=order, kind="fulfillment").order_by("id")
    ]


def snapshot() -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Everything a floor action could write."""
    return (
        list(Order.objects.order_by("id").values_list("id", "fulfillment_state", "status")),
        list(OrderEvent.objects.order_by("id").values_list("id", flat=True)),
        list(Batch.objects.order_by("id").values_list("id", "state")),
        list(BatchOrder.objects.order_by("id").values_list("id", "removed_at")),
    )


def test_the_groups_cover_every_pair_the_catalog_allows() -> None:
    pairs = {
        (media, packaging) for media, packs in PACKAGING_FOR_MEDIA.items() for packaging in packs
    }
    assert {(group.media, group.packaging) for group in FLOOR_GROUPS if group.media} == pairs
    assert [group.label for group in FLOOR_GROUPS] == [
        "CD sleeve",
        "CD jewel case",
        "DVD sleeve",
        "DVD case",
        "USB ecomailer",
        "Mixed (several kinds in one box)",
    ]


def test_the_queue_groups_ready_orders_rush_first_then_oldest(
    kinds: dict[str, Any],
    publisher: Any,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
) -> None:
    sleeve = kinds["cd-sleeve"]
    old_standard = place_order(publisher, (sleeve, 1), hours_ago=5)
    new_express = place_order(publisher, (sleeve, 2), hours_ago=1, mail_method="express")
    priority = place_order(publisher, (sleeve, 1), hours_ago=3, mail_method="priority")
    standard = place_order(publisher, (sleeve, 1), hours_ago=4)
    recorded_ready = place_order(publisher, (sleeve, 1), hours_ago=2)
    fulfillment_move(order_id=recorded_ready.id, to=S.READY, actor="postage window")
    jewel = place_order(publisher, (kinds["cd-jewel-case"], 3))
    usb = place_order(publisher, (kinds["usb-ecomailer"], 1))
    mixed = place_order(publisher, (sleeve, 1), (kinds["usb-ecomailer"], 1))
    dvd_case = place_order(publisher, (kinds["dvd-case"], 4))
    # Never in the queue: window open, test, HOLD, in production, address error, shipped.
    place_order(publisher, (sleeve, 1), ready=False)
    place_order(publisher, (sleeve, 1), mode="test")
    broke = make_publisher(balance="0")
    hold = place_order(broke, (make_project(broke), 1))
    assert hold.status == "HOLD"
    bring_to(place_order(publisher, (sleeve, 1)), S.IN_PRODUCTION)
    flag_address(place_order(publisher, (sleeve, 1)), "No such street.")
    ship(place_order(publisher, (sleeve, 1)))

    queue = floor_queue()
    assert [(group.group.key, [order.id for order in group.orders]) for group in queue] == [
        (
            "cd-sleeve",
            [priority.id, new_express.id, old_standard.id, standard.id, recorded_ready.id],
        ),
        ("cd-jewel-case", [jewel.id]),
        ("dvd-case", [dvd_case.id]),
        ("usb-ecomailer", [usb.id]),
        (MIXED, [mixed.id]),
    ]
    assert [(group.count, group.units, group.rush) for group in queue] == [
        (5, 6, 2),
        (1, 3, 0),
        (1, 4, 0),
        (1, 1, 0),
        (1, 2, 0),
    ]


def test_batch_a_whole_group_moves_every_order_to_production(
    kinds: dict[str, Any], publisher: Any
) -> None:
    sleeve, jewel = kinds["cd-sleeve"], kinds["cd-jewel-case"]
    waiting_over = place_order(publisher, (sleeve, 1), hours_ago=2)  # still "waiting" in the row
    ready = place_order(publisher, (sleeve, 2), hours_ago=1)
    fulfillment_move(order_id=ready.id, to=S.READY, actor="postage window")
    other = place_order(publisher, (jewel, 1))

    result = batch_create(group="cd-sleeve", user=operator("ann"))

    assert result.batch is not None
    assert result.moved == (waiting_over.id, ready.id)
    assert result.skipped == ()
    batch = Batch.objects.get()
    assert (batch.group, batch.state, batch.created_by_name) == (
        "cd-sleeve",
        BatchState.IN_PRODUCTION,
        "ann",
    )
    assert batch.created_by == operator("ann")
    assert sorted(BatchOrder.objects.filter(batch=batch).values_list("order_id", flat=True)) == [
        waiting_over.id,
        ready.id,
    ]
    assert Order.objects.get(id=other.id).fulfillment_state == S.WAITING  # untouched
    assert history(waiting_over) == [
        ("waiting", "ready", "operator:ann", history(waiting_over)[0][3]),
        ("ready", "in_production", "operator:ann", f"In production. Batch {batch.id}."),
    ]
    assert history(waiting_over)[0][3].startswith("Postage window ended ")
    assert history(ready)[-1] == (
        "ready",
        "in_production",
        "operator:ann",
        f"In production. Batch {batch.id}.",
    )
    assert floor_queue()[0].group.key == "cd-jewel-case"


def test_a_limit_takes_the_first_orders_in_queue_order(
    kinds: dict[str, Any], publisher: Any
) -> None:
    sleeve = kinds["cd-sleeve"]
    oldest = place_order(publisher, (sleeve, 1), hours_ago=9)
    express = place_order(publisher, (sleeve, 1), hours_ago=1, mail_method="express")
    newest = place_order(publisher, (sleeve, 1), hours_ago=0.5)
    result = batch_create(group="cd-sleeve", user=operator(), limit=2)
    assert sorted(result.moved) == sorted([express.id, oldest.id])
    assert [order.id for order in floor_queue()[0].orders] == [newest.id]


def test_named_orders_that_are_not_ready_in_the_group_are_skipped_and_reported(
    kinds: dict[str, Any], publisher: Any
) -> None:
    sleeve = kinds["cd-sleeve"]
    ready = place_order(publisher, (sleeve, 1))
    waiting = place_order(publisher, (sleeve, 1), ready=False)
    jewel = place_order(publisher, (kinds["cd-jewel-case"], 1))
    result = batch_create(
        group="cd-sleeve", user=operator(), order_ids=[ready.id, waiting.id, jewel.id]
    )
    assert result.moved == (ready.id,)
    assert [(skip.order_id, skip.why) for skip in result.skipped] == [
        (waiting.id, f"Order {waiting.id} is not ready to be made in CD sleeve."),
        (jewel.id, f"Order {jewel.id} is not ready to be made in CD sleeve."),
    ]


def test_an_order_that_stopped_being_ready_meanwhile_is_skipped(
    kinds: dict[str, Any], publisher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue was read, then another operator flagged one order before the batch locked
    it: the batch takes the others and reports the one it skipped."""
    from pressrun.fulfillment import batches

    sleeve = kinds["cd-sleeve"]
    first = place_order(publisher, (sleeve, 1), hours_ago=3)
    second = place_order(publisher, (sleeve, 1), hours_ago=2)
    read_queue = batches.ready_in_group

    def read_then_flag(*args: Any, **kwargs: Any) -> list[Order]:
        found = read_queue(*args, **kwargs)
        flag_address(second, "Unit number missing.", actor="operator:bob")
        return found

    monkeypatch.setattr(batches, "ready_in_group", read_then_flag)
    result = batch_create(group="cd-sleeve", user=operator())
    assert result.moved == (first.id,)
    assert [(skip.order_id, skip.why) for skip in result.skipped] == [
        (second.id, f"Order {second.id} is address error now, not ready to make.")
    ]
    assert Order.objects.get(id=second.id).fulfillment_state == S.ADDRESS_ERROR
    assert not BatchOrder.objects.filter(order=second).exists()


def test_refused_batches_write_nothing(kinds: dict[str, Any], publisher: Any) -> None:
    place_order(publisher, (kinds["cd-sleeve"], 1), ready=False)
    before = snapshot()
    with pytest.raises(BatchRefused, match=r"^Nothing is ready in CD sleeve\.$"):
        batch_create(group="cd-sleeve", user=operator())
    with pytest.raises(BatchRefused, match=r"There is no floor group 'cd-case'\."):
        batch_create(group="cd-case", user=operator())
    with pytest.raises(BatchRefused, match=r"A batch holds 1 to 1000 orders\."):
        batch_create(group="cd-sleeve", user=operator(), limit=0)
    assert snapshot() == before


def test_a_batch_whose_every_order_moved_on_is_not_created(
    kinds: dict[str, Any], publisher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressrun.fulfillment import batches

    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    read_queue = batches.ready_in_group

    def read_then_cancel(*args: Any, **kwargs: Any) -> list[Order]:
        found = read_queue(*args, **kwargs)
        fulfillment_move(order_id=order.id, to=S.CANCELLED, actor="operator:bob", reason="Asked")
        return found

    monkeypatch.setattr(batches, "ready_in_group", read_then_cancel)
    before_batches = list(Batch.objects.values_list("id"))
    with pytest.raises(BatchRefused) as refused:
        batch_create(group="cd-sleeve", user=operator())
    assert str(refused.value) == (
        f"No order could be put in production: Order {order.id} is cancelled now, not ready "
        "to make."
    )
    assert list(Batch.objects.values_list("id")) == before_batches
    assert not BatchOrder.objects.exists()


def test_one_order_is_never_in_two_current_batches(kinds: dict[str, Any], publisher: Any) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    first = batch_create(group="cd-sleeve", user=operator()).batch
    assert first is not None
    # Already in production: a second batch cannot take it.
    with pytest.raises(BatchRefused):
        batch_create(group="cd-sleeve", user=operator(), order_ids=[order.id])
    # And the database refuses a second current membership outright.
    other = Batch.objects.create(
        group="cd-sleeve",
        created_by_name="x",
        created_at=timezone.now(),
        state_changed_at=timezone.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        BatchOrder.objects.create(batch=other, order=order, added_at=timezone.now(), added_by="x")


def test_mark_a_whole_batch_packed_then_it_is_packed(kinds: dict[str, Any], publisher: Any) -> None:
    sleeve = kinds["cd-sleeve"]
    a = place_order(publisher, (sleeve, 1), hours_ago=2)
    b = place_order(publisher, (sleeve, 1), hours_ago=1)
    batch = batch_create(group="cd-sleeve", user=operator("ann")).batch
    assert batch is not None
    order_mark_packed(order_id=a.id, user=operator("bob"))
    assert Batch.objects.get(id=batch.id).state == BatchState.IN_PRODUCTION

    result = batch_mark_packed(batch_id=batch.id, user=operator("cy"))
    assert (result.moved, result.unchanged, result.skipped) == ((b.id,), (a.id,), ())
    assert Batch.objects.get(id=batch.id).state == BatchState.PACKED
    assert history(a)[-1] == (
        "in_production",
        "packed",
        "operator:bob",
        f"Packed. Batch {batch.id}.",
    )
    assert history(b)[-1] == (
        "in_production",
        "packed",
        "operator:cy",
        f"Packed. Batch {batch.id}.",
    )
    # Again: nothing changes, nothing is written.
    before = snapshot()
    again = batch_mark_packed(batch_id=batch.id, user=operator("cy"))
    assert (again.moved, again.unchanged) == ((), (a.id, b.id))
    assert snapshot() == before
    # Shipped by anyone: the batch follows.
    ship(a)
    ship(b)
    assert Batch.objects.get(id=batch.id).state == BatchState.SHIPPED


def test_pull_an_order_out_back_to_ready(kinds: dict[str, Any], publisher: Any) -> None:
    sleeve = kinds["cd-sleeve"]
    a = place_order(publisher, (sleeve, 1), hours_ago=2)
    b = place_order(publisher, (sleeve, 1), hours_ago=1)
    batch = batch_create(group="cd-sleeve", user=operator("ann")).batch
    assert batch is not None
    result = order_pull_out(order_id=a.id, user=operator("bob"))
    assert result.batch == batch
    assert result.moved == (a.id,)
    assert Order.objects.get(id=a.id).fulfillment_state == S.READY
    assert history(a)[-1] == (
        "in_production",
        "ready",
        "operator:bob",
        f"Taken out of production: ready to be made. Pulled out of batch {batch.id}.",
    )
    member = BatchOrder.objects.get(order=a)
    assert (member.removed_by, member.removed_why) == ("operator:bob", "Back to ready")
    assert member.removed_at is not None
    assert [order.id for order in floor_queue()[0].orders] == [a.id]
    # The packed one may come out too; then the batch is empty.
    order_mark_packed(order_id=b.id, user=operator("bob"))
    assert Batch.objects.get(id=batch.id).state == BatchState.PACKED
    order_pull_out(order_id=b.id, user=operator("bob"))
    assert Batch.objects.get(id=batch.id).state == BatchState.EMPTIED
    # Pulled out, it can go into another batch.
    again = batch_create(group="cd-sleeve", user=operator("ann"), order_ids=[a.id])
    assert again.moved == (a.id,)
    assert BatchOrder.objects.filter(order=a).count() == 2


def test_refused_moves_write_nothing(kinds: dict[str, Any], publisher: Any) -> None:
    ready = place_order(publisher, (kinds["cd-sleeve"], 1))
    waiting = place_order(publisher, (kinds["cd-sleeve"], 1), ready=False)
    shipped = ship(place_order(publisher, (kinds["cd-sleeve"], 1)))
    before = snapshot()
    for order in (ready, waiting, shipped):
        with pytest.raises(FulfillmentRefused) as refused:
            order_mark_packed(order_id=order.id, user=operator())
        assert refused.value.reason == Refusal.STATE_CHANGED
        with pytest.raises(FulfillmentRefused):
            order_pull_out(order_id=order.id, user=operator())
    assert snapshot() == before


def test_stopped_orders_leave_their_batch(kinds: dict[str, Any], publisher: Any) -> None:
    sleeve = kinds["cd-sleeve"]
    flagged = place_order(publisher, (sleeve, 1), hours_ago=2)
    cancelled = place_order(publisher, (sleeve, 1), hours_ago=1)
    batch = batch_create(group="cd-sleeve", user=operator()).batch
    assert batch is not None
    flag_address(flagged, "No such street.", actor="operator:bob")
    fulfillment_move(order_id=cancelled.id, to=S.CANCELLED, actor="operator:bob", reason="Asked")
    assert list(
        BatchOrder.objects.order_by("order_id").values_list("order_id", "removed_why", "removed_by")
    ) == [
        (flagged.id, "Address error", "operator:bob"),
        (cancelled.id, "Cancelled", "operator:bob"),
    ]
    assert Batch.objects.get(id=batch.id).state == BatchState.EMPTIED


def test_add_a_ready_order_to_an_open_batch(kinds: dict[str, Any], publisher: Any) -> None:
    sleeve = kinds["cd-sleeve"]
    first = place_order(publisher, (sleeve, 1))
    batch = batch_create(group="cd-sleeve", user=operator()).batch
    assert batch is not None
    batch_mark_packed(batch_id=batch.id, user=operator())
    assert Batch.objects.get(id=batch.id).state == BatchState.PACKED
    late = place_order(publisher, (sleeve, 1))
    jewel = place_order(publisher, (kinds["cd-jewel-case"], 1))
    result = batch_add(batch_id=batch.id, order_ids=[late.id], user=operator("bob"))
    assert result.moved == (late.id,)
    assert Batch.objects.get(id=batch.id).state == BatchState.IN_PRODUCTION
    before = snapshot()
    with pytest.raises(BatchRefused) as refused:
        batch_add(batch_id=batch.id, order_ids=[jewel.id], user=operator("bob"))
    assert str(refused.value) == (
        f"Nothing was added to batch {batch.id}: Order {jewel.id} is not ready to be made in "
        "CD sleeve."
    )
    assert snapshot() == before
    assert first.id in BatchOrder.objects.filter(batch=batch).values_list("order_id", flat=True)


def test_a_packed_order_may_go_back_in_production_and_the_batch_follows(
    kinds: dict[str, Any], publisher: Any
) -> None:
    order = place_order(publisher, (kinds["cd-sleeve"], 1))
    batch = batch_create(group="cd-sleeve", user=operator()).batch
    assert batch is not None
    batch_mark_packed(batch_id=batch.id, user=operator())
    fulfillment_move(order_id=order.id, to=S.IN_PRODUCTION, actor="operator:bob")
    assert Batch.objects.get(id=batch.id).state == BatchState.IN_PRODUCTION
    assert BatchOrder.objects.get(order=order).removed_at is None
