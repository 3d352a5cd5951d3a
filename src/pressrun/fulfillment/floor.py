"""The production floor's reads: the groups ready orders are made in, and the queue.

A group is what an operator makes in one run: one media in one packaging (CDs in sleeves,
CDs in jewel cases, ...). An order whose lines are all of one kind is in that kind's group;
an order mixing kinds (a CD and a USB drive in one box) is in the "mixed" group. Within a
group, priority and express orders come first, then the oldest.

The queue is every order that may be made now (`selectors.ready_orders`: ready, or waiting
with the postage window over, production orders only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from pressrun.catalog.models import Media, Packaging
from pressrun.fulfillment.selectors import ready_orders
from pressrun.orders.models import Order, ShippingMethod

MIXED = "mixed"
# The queue page lists this many orders of a group (the counts and batches cover them all).
LISTED_PER_GROUP = 200
# Shipping methods the floor makes first ("we try to get priority and express packages out
# as fast as possible", the spec).
RUSH_SHIPPING = frozenset({ShippingMethod.PRIORITY, ShippingMethod.EXPRESS})


@dataclass(frozen=True)
class FloorGroup:
    key: str
    label: str
    media: str  # "" for the mixed group
    packaging: str


# Every media/packaging pair the catalog allows (catalog.PACKAGING_FOR_MEDIA), in the order
# the queue shows them, and the mixed group last.
FLOOR_GROUPS: tuple[FloorGroup, ...] = (
    FloorGroup("cd-sleeve", "CD sleeve", Media.CD, Packaging.SLEEVE),
    FloorGroup("cd-jewel-case", "CD jewel case", Media.CD, Packaging.JEWEL_CASE),
    FloorGroup("dvd-sleeve", "DVD sleeve", Media.DVD, Packaging.SLEEVE),
    FloorGroup("dvd-case", "DVD case", Media.DVD, Packaging.DVD_CASE),
    FloorGroup("usb-ecomailer", "USB ecomailer", Media.USB, Packaging.USB_ECOMAILER),
    FloorGroup(MIXED, "Mixed (several kinds in one box)", "", ""),
)
GROUPS_BY_KEY: dict[str, FloorGroup] = {group.key: group for group in FLOOR_GROUPS}
_KEY_OF_KIND: dict[tuple[str, str], str] = {
    (group.media, group.packaging): group.key for group in FLOOR_GROUPS if group.media
}


def group_of_kinds(kinds: Iterable[tuple[str, str]]) -> str:
    """The group key for an order whose lines are of these (media, packaging) kinds."""
    distinct = set(kinds)
    if len(distinct) == 1:
        [kind] = distinct
        return _KEY_OF_KIND.get(kind, MIXED)
    return MIXED


def kind_label(media: str, packaging: str) -> str:
    """'CD sleeve', 'USB ecomailer': a media/packaging pair as the floor names it."""
    key = _KEY_OF_KIND.get((media, packaging))
    return GROUPS_BY_KEY[key].label if key else f"{media} {packaging}"


def floor_group_of(order: Order) -> str:
    """The group key of `order` (its lines and their projects, prefetched or not)."""
    return group_of_kinds(
        (line.project.media, line.project.packaging) for line in order.lines.all()
    )


def is_rush(order: Order) -> bool:
    return order.shipping_method in RUSH_SHIPPING


def queue_sort_key(order: Order) -> tuple[int, datetime, int]:
    """Priority and express first, then the oldest placed, then the lowest number."""
    return (0 if is_rush(order) else 1, order.created_at, order.id)


@dataclass
class QueueGroup:
    group: FloorGroup
    orders: list[Order] = field(default_factory=list)

    @property
    def shown(self) -> list[Order]:
        """The first orders, as many as a page lists (every order is counted)."""
        return self.orders[:LISTED_PER_GROUP]

    @property
    def not_shown(self) -> int:
        return max(len(self.orders) - LISTED_PER_GROUP, 0)

    @property
    def count(self) -> int:
        return len(self.orders)

    @property
    def units(self) -> int:
        return sum(line.quantity for order in self.orders for line in order.lines.all())

    @property
    def rush(self) -> int:
        return sum(1 for order in self.orders if is_rush(order))


def _with_lines(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("publisher").prefetch_related("lines__project")


def floor_queue(*, now: datetime | None = None) -> list[QueueGroup]:
    """The ready orders by group (only groups that have some, in FLOOR_GROUPS order), each
    group's orders in queue order (`queue_sort_key`)."""
    found: dict[str, QueueGroup] = {}
    for order in _with_lines(ready_orders(now=now)):
        key = floor_group_of(order)
        found.setdefault(key, QueueGroup(GROUPS_BY_KEY[key])).orders.append(order)
    groups = [found[group.key] for group in FLOOR_GROUPS if group.key in found]
    for queue_group in groups:
        queue_group.orders.sort(key=queue_sort_key)
    return groups


def ready_in_group(
    group_key: str, *, order_ids: Sequence[int] | None = None, now: datetime | None = None
) -> list[Order]:
    """The orders of one group that may be made now, in queue order (only those among
    `order_ids` when given)."""
    orders = ready_orders(now=now)
    if order_ids is not None:
        orders = orders.filter(id__in=list(order_ids))
    found = [order for order in _with_lines(orders) if floor_group_of(order) == group_key]
    found.sort(key=queue_sort_key)
    return found
