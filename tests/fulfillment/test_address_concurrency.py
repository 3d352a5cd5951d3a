"""The address flow's races on PostgreSQL: reminder sweeps in several workers at once send
one reminder; two checks of the same order record one result; a correction racing the
check leaves the new address unchecked (its own check follows)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from pressrun.fulfillment.address.services import (
    address_check_order,
    address_error_reminders_send,
    address_problem_report,
)
from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.orders.models import Order, OrderEvent
from tests.fulfillment.support import close_window

pytestmark = [
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
    ),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 4


def race(*jobs: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))
    outcomes: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcomes[index] = job()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return outcomes


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.ADDRESS_VERIFIER = "offline"
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://press.example"


def test_reminder_sweeps_at_once_send_one_reminder(paid: Callable[..., Order]) -> None:
    for _ in range(ROUNDS):
        order = paid()
        close_window(order)
        address_problem_report(order_id=order.id, description="No such street.", actor="t")
        Order.objects.filter(id=order.id).update(
            fulfillment_updated_at=timezone.now() - timedelta(days=15)
        )
        outcomes = race(address_error_reminders_send, address_error_reminders_send)
        assert sorted(outcomes) == [0, 1]
        assert (
            OutgoingEmail.objects.filter(kind=EmailKind.ADDRESS_ERROR_REMINDER, order=order).count()
            == 1
        )


def test_two_checks_of_one_order_record_one_result(paid: Callable[..., Order]) -> None:
    for _ in range(ROUNDS):
        order = paid()

        def check(order: Order = order) -> str:
            return address_check_order(order_id=order.id)

        outcomes = race(check, check, check)
        assert outcomes.count("passed") == 1
        assert set(outcomes) <= {"passed", "already_checked"}


def test_two_failing_checks_stop_the_order_once(paid: Callable[..., Order]) -> None:
    for _ in range(ROUNDS):
        order = paid()
        Order.objects.filter(id=order.id).update(state="MN")

        def check(order: Order = order) -> str:
            return address_check_order(order_id=order.id)

        outcomes = race(check, check)
        assert sorted(outcomes) == ["flagged", "not_checkable"]
        assert (
            OrderEvent.objects.filter(
                order=order, kind="fulfillment", to_state="address_error"
            ).count()
            == 1
        )
