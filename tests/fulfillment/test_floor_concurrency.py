"""Two operators create batches of the same group at the same moment, on PostgreSQL: every
ready order ends up in exactly one batch, in production once, with one history entry; the
rest is reported as skipped. Packing and pulling out race with a shipping station too."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from pressrun.fulfillment.batches import (
    BatchRefused,
    BatchResult,
    batch_create,
    batch_mark_packed,
    order_pull_out,
)
from pressrun.fulfillment.models import Batch, BatchOrder, BatchState
from pressrun.fulfillment.services import FulfillmentRefused, fulfillment_move
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from tests.fulfillment import floor_support
from tests.fulfillment.floor_support import operator, place_order
from tests.fulfillment.support import today

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

S = FulfillmentState
ROUNDS = 4
ORDERS = 12
publisher = floor_support.publisher
kinds = floor_support.kinds


def race(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs at the same moment, one thread each; their results or domain refusals.
    Any other exception (a deadlock, an integrity error) fails the test."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcomes[index] = job()
        except (BatchRefused, FulfillmentRefused) as exc:
            outcomes[index] = exc
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return outcomes


def test_two_operators_batching_the_same_group_never_share_an_order(
    kinds: dict[str, Any], publisher: Any
) -> None:
    ann, bob = operator("ann"), operator("bob")
    for _ in range(ROUNDS):
        orders = [place_order(publisher, (kinds["cd-sleeve"], 1)) for _ in range(ORDERS)]
        ids = {order.id for order in orders}

        outcomes = race(
            lambda: batch_create(group="cd-sleeve", user=ann),
            lambda: batch_create(group="cd-sleeve", user=bob),
        )

        made = [o for o in outcomes if isinstance(o, BatchResult)]
        assert made  # at least one batch; the other may find nothing left
        moved = [order_id for result in made for order_id in result.moved]
        assert sorted(moved) == sorted(ids)  # each order moved once, by one of them
        skipped = [skip.order_id for result in made for skip in result.skipped]
        assert set(skipped) <= ids  # what one skipped, the other had moved
        for refused in (o for o in outcomes if isinstance(o, BatchRefused)):
            assert str(refused).startswith(("No order could be put in production", "Nothing"))
        members = list(
            BatchOrder.objects.filter(order_id__in=ids).values_list("order_id", "batch_id")
        )
        assert sorted(order_id for order_id, _ in members) == sorted(ids)
        assert all(
            Order.objects.get(id=order_id).fulfillment_state == S.IN_PRODUCTION for order_id in ids
        )
        assert (
            OrderEvent.objects.filter(
                order_id__in=ids, kind="fulfillment", to_state=S.IN_PRODUCTION
            ).count()
            == ORDERS
        )
        # No empty batch is left behind by the operator who found nothing.
        assert not Batch.objects.filter(memberships__isnull=True).exists()


def test_packing_a_batch_while_a_station_ships_one_of_its_orders(
    kinds: dict[str, Any], publisher: Any
) -> None:
    for _ in range(ROUNDS):
        orders = [place_order(publisher, (kinds["cd-sleeve"], 1)) for _ in range(4)]
        result = batch_create(
            group="cd-sleeve", user=operator("ann"), order_ids=[o.id for o in orders]
        )
        assert result.batch is not None
        batch_id = result.batch.id
        shipped = orders[-1].id

        def ship(order_id: int = shipped) -> Any:
            return fulfillment_move(
                order_id=order_id, to=S.SHIPPED, actor="shipstation:1", ship_date=today()
            )

        def pack(batch_id: int = batch_id) -> Any:
            return batch_mark_packed(batch_id=batch_id, user=operator("bob"))

        def pull(order_id: int = orders[0].id) -> Any:
            return order_pull_out(order_id=order_id, user=operator("cy"))

        outcomes = race(ship, pack, pull)
        assert not isinstance(outcomes[0], Exception)
        states = dict(
            Order.objects.filter(id__in=[o.id for o in orders]).values_list(
                "id", "fulfillment_state"
            )
        )
        assert states == {
            orders[0].id: S.READY,  # pulled out, before or after it was packed
            orders[1].id: S.PACKED,
            orders[2].id: S.PACKED,
            shipped: S.SHIPPED,
        }
        current = BatchOrder.objects.filter(batch_id=batch_id, removed_at__isnull=True)
        assert sorted(current.values_list("order_id", flat=True)) == [
            orders[1].id,
            orders[2].id,
            shipped,
        ]
        assert Batch.objects.get(id=batch_id).state == BatchState.PACKED
