"""A webhook survives its worker being killed (SIGKILL at a fault-injection point, see
pressrun.core.faults) with the real server, real worker processes and a real HTTP receiver:

1. killed while holding the delivery's claim, before sending: a second worker sends it once
   the first one's heartbeat is stale, exactly once;
2. killed after the receiver answered, before the attempt was recorded: the one case of a
   second copy (at least once, docs/webhooks.md), with the same event id and body.

The installation is the email crash tests' (its own data dir or database, no worker of its
own), so each test decides which worker runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.test_email_crash_http import (
    DEAD_AFTER_SECONDS,
    PROMISED_SECONDS,
    CrashService,
    _wait_for_start,
    _wait_until_killed,
    crash_installation,
    crash_service,
)
from tests.e2e.test_gateway_http import place
from tests.live import _read, _stop
from tests.webhooks import receiver as receiver_module
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.e2e

__all__ = ["crash_installation", "crash_service"]


@pytest.fixture
def receiver(crash_service: CrashService) -> Iterator[Receiver]:
    """The publisher's endpoint, with only order.placed chosen."""
    with receiver_module.running() as running:
        running.secret = crash_service.shell(
            "from pressrun.accounts.models import Publisher\n"
            "from pressrun.webhooks.services import webhook_endpoint_save\n"
            f"p = Publisher.objects.get(id={crash_service.service.account.id})\n"
            f"_, s = webhook_endpoint_save(publisher=p, url={running.url!r},\n"
            "    event_types=['order.placed'], enabled=True)\n"
            "from pressrun.webhooks.models import WebhookEndpoint\n"
            "from pressrun.webhooks.services import webhook_secret\n"
            "print(webhook_secret(endpoint=WebhookEndpoint.objects.get(publisher=p)))\n"
        )
        yield running


def _delivery_state(crash: CrashService, order_id: str) -> str:
    return crash.shell(
        "from pressrun.webhooks.models import WebhookDelivery, WebhookAttempt\n"
        f"d = WebhookDelivery.objects.get(order_id={int(order_id)})\n"
        "print(d.status, WebhookAttempt.objects.filter(delivery=d).count(), sep='|')\n"
    )


def _wait_for_state(crash: CrashService, order_id: str, expected: str) -> str:
    deadline = time.monotonic() + 30
    while (state := _delivery_state(crash, order_id)) != expected:
        if time.monotonic() > deadline:
            return state
        time.sleep(0.5)
    return state


def test_a_delivery_claimed_by_a_killed_worker_is_sent_once_by_the_next(
    crash_service: CrashService, receiver: Receiver
) -> None:
    crash = crash_service
    order_id = place(crash.service, crash.service.account, crash.service.unique())
    first, first_log = crash.start_worker("hook-claimed", fault="webhook_claimed_before_send:kill")
    killed_at = _wait_until_killed(first, first_log)
    assert _delivery_state(crash, order_id) == "sending|0"
    assert receiver.received == []

    second, second_log = crash.start_worker("after-hook-claimed")
    _wait_for_start(second, second_log)
    stale_by = killed_at + DEAD_AFTER_SECONDS
    remaining = stale_by + PROMISED_SECONDS - time.monotonic()
    [request] = receiver.wait_for(1, timeout=remaining)
    assert request.signature_valid
    assert request.json()["order"]["id"] == int(order_id)
    assert _wait_for_state(crash, order_id, "delivered|1") == "delivered|1"
    time.sleep(2)  # anything else queued would arrive now
    _stop(second)
    assert len(receiver.received) == 1
    assert "Traceback" not in _read(second_log), _read(second_log)


def test_a_worker_killed_after_the_answer_sends_the_same_event_once_more(
    crash_service: CrashService, receiver: Receiver
) -> None:
    crash = crash_service
    order_id = place(crash.service, crash.service.account, crash.service.unique())
    first, first_log = crash.start_worker(
        "hook-answered", fault="webhook_sent_before_recorded:kill"
    )
    killed_at = _wait_until_killed(first, first_log)
    assert len(receiver.received) == 1

    second, second_log = crash.start_worker("after-hook-answered")
    _wait_for_start(second, second_log)
    remaining = killed_at + DEAD_AFTER_SECONDS + PROMISED_SECONDS - time.monotonic()
    first_copy, second_copy = receiver.wait_for(2, timeout=remaining)
    assert second_copy.body == first_copy.body
    assert second_copy.headers["pressrun-event-id"] == first_copy.headers["pressrun-event-id"]
    assert second_copy.signature_valid
    assert _wait_for_state(crash, order_id, "delivered|1") == "delivered|1"
    time.sleep(2)
    _stop(second)
    assert len(receiver.received) == 2
    assert "Traceback" not in _read(second_log), _read(second_log)
