"""Helpers for the production floor's tests: orders of several kinds, placed through intake,
made ready (or left waiting) and dated as a test needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from pressrun.orders.models import Order
from tests import intake
from tests.fulfillment.support import close_window

_counter = iter(range(1, 1_000_000))

RECIPIENT = intake.ANN


def place_order(
    publisher: Any,
    *lines: tuple[Any, int],
    ready: bool = True,
    hours_ago: float = 1,
    mode: str = "prod",
    recipient: dict[str, str] | None = None,
    **options: Any,
) -> Order:
    """An order of `lines` ((project, quantity), ...) placed `hours_ago`; paid orders have
    their postage window closed when `ready` (so every reader counts them ready, though the
    window task has not run)."""
    order = intake.place(
        publisher,
        lines,
        recipient={**RECIPIENT, **(recipient or {})},
        mode=mode,
        invoice=options.pop("invoice", f"FL-{next(_counter)}"),
        **options,
    )
    Order.objects.filter(id=order.id).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    if ready and order.fulfillment_state:
        close_window(order)
    return Order.objects.get(id=order.id)


def operator(username: str = "ann") -> User:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    return user


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    return make_publisher(balance="1000", company="Acme Discs")


@pytest.fixture
def kinds(make_project: Callable[..., Any], publisher: Any) -> dict[str, Any]:
    """One project of every media/packaging pair, keyed by floor group."""
    return {
        "cd-sleeve": make_project(publisher, title="Hits", media="cd", packaging="sleeve"),
        "cd-jewel-case": make_project(
            publisher, title="Hits Deluxe", media="cd", packaging="jewel-case"
        ),
        "dvd-sleeve": make_project(publisher, title="Film", media="dvd", packaging="sleeve"),
        "dvd-case": make_project(publisher, title="Film Deluxe", media="dvd", packaging="dvd-case"),
        "usb-ecomailer": make_project(
            publisher, title="Archive", media="usb", packaging="usb-ecomailer"
        ),
    }


__all__ = ["RECIPIENT", "kinds", "operator", "place_order", "publisher"]
