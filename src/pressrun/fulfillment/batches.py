"""Batches: the production floor's writes. Every order moves through `fulfillment_move`
(one history entry per step, actor "operator:<username>"); this module only adds the batch
rows around the moves.

Concurrency and lock order. An order's row is always locked before a batch's row: a move
locks the order, and the subscriber `batch_follow_move` (run inside every move's transaction)
then updates the batch the order is in. Creating a batch moves its orders in one transaction,
locking them in id order, so two operators creating batches at once wait for each other
order by order: the second finds an order already in production and skips it (reported), and
the membership constraint (one current batch per order) makes a second batch for an order
impossible even then. Packing and pulling out move one order per transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.core.operator_pages import operator_actor
from pressrun.fulfillment.floor import GROUPS_BY_KEY, floor_group_of, ready_in_group
from pressrun.fulfillment.models import Batch, BatchOrder, BatchState
from pressrun.fulfillment.services import FulfillmentRefused, fulfillment_move
from pressrun.orders.events import FulfillmentMoved
from pressrun.orders.models import FulfillmentState, Order

S = FulfillmentState
MAX_BATCH_SIZE = 1000
# Moves that take an order out of its batch (back to the queue, or stopped).
LEAVES_BATCH: dict[str, str] = {
    S.READY: "Back to ready",
    S.WAITING: "Back to waiting",
    S.ADDRESS_ERROR: "Address error",
    S.CANCELLED: "Cancelled",
}

User = AbstractBaseUser | AnonymousUser


class BatchRefused(DomainError):
    """A batch action that cannot be done at all; nothing was written."""


@dataclass(frozen=True)
class Skipped:
    order_id: int
    why: str


@dataclass(frozen=True)
class BatchResult:
    """What a batch action did: the batch, the orders it moved, the ones it left and why."""

    batch: Batch | None
    moved: tuple[int, ...]
    skipped: tuple[Skipped, ...]
    unchanged: tuple[int, ...] = ()  # already where they were asked to go


class _NothingMoved(Exception):
    def __init__(self, skipped: list[Skipped]) -> None:
        super().__init__("nothing moved")
        self.skipped = skipped


def _move_into(
    batch: Batch, order_ids: Sequence[int], *, actor: str
) -> tuple[list[int], list[Skipped]]:
    """Move each order (id order: the lock order) to in_production and make it a member of
    `batch`; inside the caller's transaction."""
    moved: list[int] = []
    skipped: list[Skipped] = []
    for order_id in sorted(set(order_ids)):
        try:
            result = fulfillment_move(
                order_id=order_id,
                to=S.IN_PRODUCTION,
                actor=actor,
                from_states={S.READY},
                note=f"Batch {batch.id}.",
            )
        except FulfillmentRefused as exc:
            skipped.append(Skipped(order_id, str(exc)))
            continue
        except Order.DoesNotExist:
            skipped.append(Skipped(order_id, f"Order {order_id} does not exist."))
            continue
        if not result.changed:
            # Another operator's batch took it first (or it was put in production by hand).
            skipped.append(Skipped(order_id, f"Order {order_id} is already in production."))
            continue
        BatchOrder.objects.create(
            batch=batch, order_id=order_id, added_at=timezone.now(), added_by=actor
        )
        moved.append(order_id)
    return moved, skipped


def batch_create(
    *,
    group: str,
    user: User,
    order_ids: Collection[int] | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """A new batch of the orders of floor group `group` that may be made now (only those in
    `order_ids` when given; the first `limit` in queue order when given), each moved ready →
    in_production by the operator `user`, in one transaction.

    An order that stopped being ready meanwhile (or is not in the group) is skipped and
    reported. Raises `BatchRefused` (nothing written) for an unknown group, a bad limit, or
    when no order could be moved."""
    if group not in GROUPS_BY_KEY:
        raise BatchRefused(f"There is no floor group '{group[:40]}'.")
    if limit is not None and not 1 <= limit <= MAX_BATCH_SIZE:
        raise BatchRefused(f"A batch holds 1 to {MAX_BATCH_SIZE} orders.")
    label = GROUPS_BY_KEY[group].label
    candidates = ready_in_group(
        group, order_ids=None if order_ids is None else list(order_ids), now=now
    )
    skipped: list[Skipped] = []
    if order_ids is not None:
        found = {order.id for order in candidates}
        skipped += [
            Skipped(order_id, f"Order {order_id} is not ready to be made in {label}.")
            for order_id in sorted(set(order_ids) - found)
        ]
    chosen = candidates[: limit or MAX_BATCH_SIZE]
    if not chosen:
        raise BatchRefused(
            f"Nothing is ready in {label}." + "".join(f" {skip.why}" for skip in skipped[:5])
        )
    actor = operator_actor(user)
    at = now or timezone.now()
    try:
        with transaction.atomic():
            batch = Batch.objects.create(
                group=group,
                created_by=user if isinstance(user, AuthUser) else None,
                created_by_name=user.get_username(),
                created_at=at,
                state_changed_at=at,
            )
            moved, refused = _move_into(batch, [order.id for order in chosen], actor=actor)
            if not moved:
                raise _NothingMoved(refused)
    except _NothingMoved as nothing:
        raise BatchRefused(
            f"No order could be put in production: {' '.join(s.why for s in nothing.skipped[:5])}"
        ) from None
    return BatchResult(batch=batch, moved=tuple(moved), skipped=tuple(skipped + refused))


def batch_add(*, batch_id: int, order_ids: Collection[int], user: User) -> BatchResult:
    """Add ready orders of the batch's group to batch `batch_id` (in production or packed),
    in one transaction; orders that cannot be added are skipped and reported. Raises
    `BatchRefused` when the batch takes no orders or none could be added."""
    batch = Batch.objects.filter(id=batch_id).first()
    if batch is None:
        raise BatchRefused(f"There is no batch {batch_id}.")
    if batch.state not in (BatchState.IN_PRODUCTION, BatchState.PACKED):
        raise BatchRefused(
            f"Batch {batch.id} is {batch.get_state_display().lower()}: start a new one."
        )
    label = GROUPS_BY_KEY[batch.group].label
    ready = {order.id for order in ready_in_group(batch.group, order_ids=list(order_ids))}
    skipped = [
        Skipped(order_id, f"Order {order_id} is not ready to be made in {label}.")
        for order_id in sorted(set(order_ids) - ready)
    ]
    try:
        with transaction.atomic():
            moved, refused = _move_into(batch, sorted(ready), actor=operator_actor(user))
            if not moved:
                raise _NothingMoved(refused)
            batch_refresh_state(batch_id=batch.id)
    except _NothingMoved as nothing:
        reasons = [s.why for s in (skipped + nothing.skipped)[:5]]
        raise BatchRefused(f"Nothing was added to batch {batch.id}: {' '.join(reasons)}") from None
    return BatchResult(batch=batch, moved=tuple(moved), skipped=tuple(skipped + refused))


def _current_members(batch_id: int) -> list[int]:
    return list(
        BatchOrder.objects.filter(batch_id=batch_id, removed_at__isnull=True)
        .order_by("order_id")
        .values_list("order_id", flat=True)
    )


def batch_mark_packed(
    *, batch_id: int, user: User, order_ids: Collection[int] | None = None
) -> BatchResult:
    """Mark the batch's current orders packed (only `order_ids` when given), one move per
    order (in_production → packed). Already packed orders are left as they are; an order
    that moved on meanwhile (shipped, pulled out) is skipped and reported. Raises
    `BatchRefused` for an unknown batch or an order that is not in it."""
    batch = Batch.objects.filter(id=batch_id).first()
    if batch is None:
        raise BatchRefused(f"There is no batch {batch_id}.")
    members = _current_members(batch.id)
    if order_ids is not None:
        strangers = sorted(set(order_ids) - set(members))
        if strangers:
            raise BatchRefused(f"Order {strangers[0]} is not in batch {batch.id}.")
        members = sorted(set(order_ids))
    if not members:
        raise BatchRefused(f"Batch {batch.id} has no orders.")
    actor = operator_actor(user)
    moved: list[int] = []
    unchanged: list[int] = []
    skipped: list[Skipped] = []
    for order_id in members:
        try:
            result = fulfillment_move(
                order_id=order_id,
                to=S.PACKED,
                actor=actor,
                from_states={S.IN_PRODUCTION},
                note=f"Batch {batch.id}.",
            )
        except FulfillmentRefused as exc:
            skipped.append(Skipped(order_id, str(exc)))
            continue
        (moved if result.changed else unchanged).append(order_id)
    batch.refresh_from_db()
    return BatchResult(
        batch=batch, moved=tuple(moved), skipped=tuple(skipped), unchanged=tuple(unchanged)
    )


def order_mark_packed(*, order_id: int, user: User) -> BatchResult:
    """Mark one order in production packed (in a batch or not). Raises `FulfillmentRefused`
    (nothing written) when it is not in production."""
    member = BatchOrder.objects.filter(order_id=order_id, removed_at__isnull=True).first()
    note = f"Batch {member.batch_id}." if member else ""
    result = fulfillment_move(
        order_id=order_id,
        to=S.PACKED,
        actor=operator_actor(user),
        from_states={S.IN_PRODUCTION},
        note=note,
    )
    batch = Batch.objects.get(id=member.batch_id) if member else None
    if not result.changed:
        return BatchResult(batch=batch, moved=(), skipped=(), unchanged=(order_id,))
    return BatchResult(batch=batch, moved=(order_id,), skipped=())


def order_pull_out(*, order_id: int, user: User) -> BatchResult:
    """Take an order in production or packed back to ready (out of its batch, if it is in
    one: `batch_follow_move` ends the membership in the same transaction). Raises
    `FulfillmentRefused` (nothing written) from any other state."""
    member = BatchOrder.objects.filter(order_id=order_id, removed_at__isnull=True).first()
    note = f"Pulled out of batch {member.batch_id}." if member else ""
    result = fulfillment_move(
        order_id=order_id,
        to=S.READY,
        actor=operator_actor(user),
        from_states={S.IN_PRODUCTION, S.PACKED},
        note=note,
    )
    batch = Batch.objects.get(id=member.batch_id) if member else None
    if not result.changed:
        return BatchResult(batch=batch, moved=(), skipped=(), unchanged=(order_id,))
    return BatchResult(batch=batch, moved=(order_id,), skipped=())


def batch_refresh_state(*, batch_id: int) -> str:
    """Recompute the batch's state from its current orders (under the batch's row lock,
    taken after the orders' by every caller); returns it."""
    batch = Batch.objects.select_for_update().get(id=batch_id)
    counts = BatchOrder.objects.filter(batch_id=batch_id, removed_at__isnull=True).aggregate(
        total=Count("id"),
        making=Count("id", filter=Q(order__fulfillment_state=S.IN_PRODUCTION)),
        shipped=Count("id", filter=Q(order__fulfillment_state=S.SHIPPED)),
    )
    if not counts["total"]:
        state = BatchState.EMPTIED
    elif counts["making"]:
        state = BatchState.IN_PRODUCTION
    elif counts["shipped"] == counts["total"]:
        state = BatchState.SHIPPED
    else:
        state = BatchState.PACKED
    if batch.state != state:
        batch.state = state
        batch.state_changed_at = timezone.now()
        batch.save(update_fields=["state", "state_changed_at"])
    return state


def batch_follow_move(event: FulfillmentMoved) -> None:
    """Subscriber to every fulfillment move (any actor: the floor, the admin, a shipping
    station): an order leaving production ends its batch membership, and its batch's state
    follows. Runs in the move's transaction, after the order's row lock."""
    member = (
        BatchOrder.objects.filter(order_id=event.order.id, removed_at__isnull=True)
        .only("id", "batch_id")
        .first()
    )
    if member is None:
        return
    why = LEAVES_BATCH.get(event.to_state)
    if why is not None:
        BatchOrder.objects.filter(id=member.id).update(
            removed_at=timezone.now(), removed_by=event.actor[:100], removed_why=why
        )
    batch_refresh_state(batch_id=member.batch_id)


def floor_group_label(order: Order) -> str:
    return GROUPS_BY_KEY[floor_group_of(order)].label
