"""Webhooks queued with their facts, signed, sent to a real local HTTP endpoint, retried on
the exact schedule (simulated time), given up with one email, and never lost by a worker
that dies. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.billing.services import ledger_credit
from pressrun.core.models import WorkerHeartbeat
from pressrun.fulfillment.services import fulfillment_move
from pressrun.notifications.models import OutgoingEmail
from pressrun.orders.models import FulfillmentState, Order, OrderStatus
from pressrun.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEventType,
)
from pressrun.webhooks.services import (
    RETRY_SCHEDULE,
    webhook_delivery_attempt,
    webhook_endpoint_save,
    webhook_redeliver,
    webhook_secret_rotate,
    webhook_test_send,
    webhooks_requeue_stranded,
)
from pressrun.webhooks.signing import signature
from tests.fulfillment.support import close_window, correct_shipment, ship
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

E = WebhookEventType


def deliver_task_runs(delivery: WebhookDelivery) -> list[DBTaskResult]:
    return [
        run
        for run in DBTaskResult.objects.filter(
            task_path="pressrun.webhooks.tasks.webhook_deliver", status=TaskResultStatus.READY
        ).order_by("enqueued_at")
        if run.args_kwargs["kwargs"] == {"delivery_id": delivery.id}
    ]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_placed_order_is_queued_with_it_and_delivered_signed(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    secret = connect(publisher)
    order = place(publisher, cd, invoice="INV-77")
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.event_type, delivery.order_id, delivery.status) == (
        "order.placed",
        order.id,
        DeliveryStatus.PENDING,
    )
    assert len(deliver_task_runs(delivery)) == 1  # the outbox: row and task together

    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    [request] = receiver.received
    assert request.signature_valid
    timestamp = int(request.headers["pressrun-signature"].split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 60
    assert request.headers["pressrun-signature"] == (
        f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=request.body)}"
    )
    assert request.headers["pressrun-event-id"] == delivery.event_id
    assert request.headers["pressrun-event-type"] == "order.placed"
    assert request.headers["pressrun-delivery-attempt"] == "1"
    assert request.headers["content-type"] == "application/json"
    assert request.body == delivery.body.encode()
    order.refresh_from_db()
    assert request.json() == {
        "id": delivery.event_id,
        "type": "order.placed",
        "created": iso(delivery.created_at),
        "api_version": 1,
        "publisher_id": publisher.id,
        "test": False,
        "order": {
            "id": order.id,
            "invoice": "INV-77",
            "mode": "prod",
            "source": "gateway",
            "external_ref": "",
            "status": "PROCESSING",
            "fulfillment_state": order.fulfillment_state,
            "placed_at": iso(order.created_at),
            "total_cost": f"{order.total_cost:.2f}",
            "items": [{"project_id": cd.id, "quantity": 2}],
            "shipment": None,
            "error": None,
        },
    }
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.last_response_code == 200
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.number, attempt.response_code, attempt.error, attempt.response_excerpt) == (
        1,
        200,
        "",
        "ok",
    )
    assert attempt.next_retry_at is None
    # Run again (a repeated task): nothing more is sent.
    assert webhook_delivery_attempt(delivery_id=delivery.id) == ""
    assert len(receiver.received) == 1


def test_nothing_is_queued_when_the_fact_rolls_back(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    connect(publisher)

    def place_then_fail() -> None:
        with transaction.atomic():
            place(publisher, cd)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        place_then_fail()
    assert not Order.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert not DBTaskResult.objects.filter(task_path__endswith="webhook_deliver").exists()


def test_only_chosen_events_of_enabled_endpoints(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any, make_publisher: Any
) -> None:
    connect(publisher, event_types=[E.ORDER_SHIPPED])
    order = place(publisher, cd)
    assert not WebhookDelivery.objects.exists()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS", service="First-Class")
    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["order.shipped"]
    webhook_endpoint_save(
        publisher=publisher, url="http://127.0.0.1:9/x", event_types=list(E.values), enabled=False
    )
    place(publisher, cd)
    assert WebhookDelivery.objects.count() == 1
    # A publisher without an endpoint: nothing.
    other = make_publisher(balance="50")
    place(other, cd.__class__.objects.create(**_project_copy(cd, other)))
    assert WebhookDelivery.objects.count() == 1


def test_the_tracking_url_is_the_carriers(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    """The shipment's tracking page comes from the one carrier table (orders/tracking.py),
    read with the order's carrier, as in the customer's email."""
    connect(publisher, event_types=[E.ORDER_SHIPPED])
    shipments = [
        (
            "1Z999AA10123456784",
            "ups_ground",
            "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        ),
        ("7712 3456", "FedEx", "https://www.fedex.com/fedextrack/?trknbr=7712%203456"),
        (
            "9400100000000000000001",
            "",
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400100000000000000001",
        ),
        ("AF-1", "Acme Freight", ""),
        ("", "USPS", ""),
    ]
    for tracking_id, carrier, _ in shipments:
        ship(place(publisher, cd), tracking_id=tracking_id, carrier=carrier)
    bodies = [
        json.loads(body)["order"]["shipment"]
        for body in WebhookDelivery.objects.order_by("id").values_list("body", flat=True)
    ]
    assert [(b["tracking_id"], b["carrier"], b["tracking_url"]) for b in bodies] == shipments


def test_a_corrected_shipment_is_its_own_event_with_the_corrected_details(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    connect(publisher, event_types=[E.ORDER_SHIPPED, E.ORDER_SHIPMENT_CORRECTED])
    order = place(publisher, cd)
    today = timezone.now().date()
    ship(order, ship_date=today, tracking_id="9400 1", carrier="USPS", service="First-Class")
    correct_shipment(
        order, ship_date=today, tracking_id="1Z999AA10123456784", carrier="UPS", service="Ground"
    )
    shipped, corrected = WebhookDelivery.objects.order_by("id")
    assert (shipped.event_type, corrected.event_type) == (
        "order.shipped",
        "order.shipment_corrected",
    )
    assert json.loads(shipped.body)["order"]["shipment"]["tracking_id"] == "9400 1"
    body = json.loads(corrected.body)
    assert body["type"] == "order.shipment_corrected"
    assert body["order"]["status"] == "SHIPPED"
    assert body["order"]["shipment"] == {
        "ship_date": today.isoformat(),
        "carrier": "UPS",
        "service": "Ground",
        "tracking_id": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
    }
    # The same correction again changes nothing and tells nothing.
    correct_shipment(
        order, ship_date=today, tracking_id="1Z999AA10123456784", carrier="UPS", service="Ground"
    )
    assert WebhookDelivery.objects.count() == 2


def test_an_endpoint_without_the_correction_event_gets_none(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    connect(publisher, event_types=[E.ORDER_SHIPPED])
    order = place(publisher, cd)
    ship(order, tracking_id="9400 1", carrier="USPS")
    correct_shipment(order, tracking_id="9400 2", carrier="USPS")
    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["order.shipped"]


def test_a_corrected_postage_cost_alone_is_no_event(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    connect(publisher)
    order = place(publisher, cd)
    today = timezone.now().date()
    ship(order, ship_date=today, tracking_id="9400 1", carrier="USPS")
    correct_shipment(
        order, ship_date=today, tracking_id="9400 1", carrier="USPS", postage_cost=Decimal("8.10")
    )
    assert list(WebhookDelivery.objects.order_by("id").values_list("event_type", flat=True)) == [
        "order.placed",
        "order.shipped",
    ]


def _project_copy(project: Any, publisher: Any) -> dict[str, Any]:
    return {
        "publisher": publisher,
        "title": project.title,
        "media": project.media,
        "packaging": project.packaging,
        "price": project.price,
    }


def test_held_released_shipped_and_address_error_bodies(
    make_publisher: Any,
    make_project: Any,
    connect: Callable[..., str],
    receiver: Receiver,
    place: Any,
) -> None:
    publisher = make_publisher(balance="0")
    cd = make_project(publisher, price=Decimal("4.50"))
    connect(publisher)
    order = place(publisher, cd, quantity=1)
    assert order.status == OrderStatus.HOLD
    types = list(WebhookDelivery.objects.order_by("id").values_list("event_type", flat=True))
    assert types == ["order.placed", "order.held"]
    held = WebhookDelivery.objects.get(event_type="order.held")
    body = json.loads(held.body)["order"]
    assert (body["status"], body["fulfillment_state"]) == ("HOLD", None)

    ledger_credit(publisher_id=publisher.id, amount=Decimal("100"), description="t", actor="t")
    released = WebhookDelivery.objects.get(event_type="order.released")
    body = json.loads(released.body)["order"]
    assert body["status"] == "PROCESSING"
    assert body["fulfillment_state"] in ("waiting", "ready")

    second = place(publisher, cd, quantity=1)
    close_window(second)
    fulfillment_move(
        order_id=second.id,
        to=FulfillmentState.ADDRESS_ERROR,
        actor="operator:test",
        description="No such street in Austin, TX",
    )
    error = json.loads(WebhookDelivery.objects.get(event_type="order.address_error").body)
    assert error["order"]["status"] == "ERROR"
    assert error["order"]["fulfillment_state"] == "address_error"
    assert error["order"]["error"] == {"code": 10, "description": "No such street in Austin, TX"}
    assert error["order"]["shipment"] is None

    ship(
        order,
        ship_date=timezone.now().date(),
        tracking_id="9400 1000",
        carrier="USPS",
        service="Priority Mail",
    )
    shipped = json.loads(WebhookDelivery.objects.get(event_type="order.shipped").body)
    assert shipped["order"]["status"] == "SHIPPED"
    assert shipped["order"]["shipment"] == {
        "ship_date": timezone.now().date().isoformat(),
        "carrier": "USPS",
        "service": "Priority Mail",
        "tracking_id": "9400 1000",
        "tracking_url": "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201000",
    }
    assert shipped["order"]["error"] is None
    for delivery in WebhookDelivery.objects.order_by("id"):
        assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    assert [r.headers["pressrun-event-type"] for r in receiver.received] == [
        "order.placed",
        "order.held",
        "order.released",
        "order.placed",
        "order.address_error",
        "order.shipped",
    ]
    assert all(r.signature_valid for r in receiver.received)


def test_test_mode_orders_are_marked_test(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    connect(publisher)
    place(publisher, cd, mode="test")
    body = json.loads(WebhookDelivery.objects.get().body)
    assert body["test"] is True
    assert (body["order"]["mode"], body["order"]["status"]) == ("test", "TEST")


def test_retry_schedule_then_give_up_and_one_email(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    receiver.status = 503
    receiver.reply = b"down for maintenance " + b"x" * 2000
    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    DBTaskResult.objects.all().delete()  # the first run's task; the test runs attempts itself
    start = timezone.now()
    moment = start
    expected_times = [start]
    for minutes in RETRY_SCHEDULE:
        expected_times.append(expected_times[-1] + timedelta(minutes=minutes))

    for number, minutes in enumerate(RETRY_SCHEDULE, start=1):
        # Not due yet a second early: nothing is sent.
        if number > 1:
            assert (
                webhook_delivery_attempt(delivery_id=delivery.id, now=moment - timedelta(seconds=1))
                == ""
            )
        assert webhook_delivery_attempt(delivery_id=delivery.id, now=moment) == "pending"
        delivery.refresh_from_db()
        moment = moment + timedelta(minutes=minutes)
        assert delivery.next_attempt_at == moment
        assert delivery.series_attempts == number
        assert delivery.last_response_code == 503
        assert delivery.last_error == "HTTP 503"
        [run] = deliver_task_runs(delivery)
        assert run.run_after == moment
        run.delete()  # as if the worker took it
        assert len(receiver.received) == number
        assert not mail.outbox

    assert webhook_delivery_attempt(delivery_id=delivery.id, now=moment) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.gave_up_at, delivery.next_attempt_at) == (
        DeliveryStatus.FAILED,
        moment,
        None,
    )
    assert deliver_task_runs(delivery) == []
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.started_at for a in attempts] == expected_times
    assert [a.next_retry_at for a in attempts] == [*expected_times[1:], None]
    assert all(a.response_code == 503 for a in attempts)
    assert attempts[0].response_excerpt == ("down for maintenance " + "x" * 2000)[:300]
    assert [r.headers["pressrun-delivery-attempt"] for r in receiver.received] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]
    assert all(r.signature_valid for r in receiver.received)
    assert len({r.headers["pressrun-event-id"] for r in receiver.received}) == 1
    # The give-up email: queued through the notifications outbox, once.
    [email] = OutgoingEmail.objects.all()
    assert email.to == "label@example.com"
    assert email.subject == "Webhook deliveries are failing"
    assert f"order.placed about order {delivery.order_id}" in email.text
    assert delivery.event_id in email.text
    assert "HTTP 503" in email.text
    assert "https://press.example/integrations/webhooks" in email.text

    # Another delivery given up the same day: no second email.
    second = place(publisher, cd)
    other = WebhookDelivery.objects.get(order=second)
    moment = timezone.now()
    for minutes in (*RETRY_SCHEDULE, 0):
        webhook_delivery_attempt(delivery_id=other.id, now=moment)
        moment += timedelta(minutes=minutes)
    other.refresh_from_db()
    assert other.status == DeliveryStatus.FAILED
    assert OutgoingEmail.objects.count() == 1


def test_redelivery_sends_the_same_event_again(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    webhook_delivery_attempt(delivery_id=delivery.id)
    webhook_redeliver(publisher=publisher, delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.series_attempts) == (DeliveryStatus.PENDING, 0)
    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    first, again = receiver.received
    assert first.body == again.body
    assert again.headers["pressrun-event-id"] == first.headers["pressrun-event-id"]
    assert again.headers["pressrun-delivery-attempt"] == "2"


def test_rotated_secret_signs_the_next_attempts(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    old = connect(publisher)
    place(publisher, cd)
    new = webhook_secret_rotate(publisher=publisher)
    assert new != old
    assert new.startswith("whsec_")
    receiver.secret = new
    webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().id)
    assert receiver.received[0].signature_valid


def test_test_event_is_tried_once(
    publisher: Any, connect: Callable[..., str], receiver: Receiver
) -> None:
    connect(publisher)
    webhook_endpoint_save(
        publisher=publisher, url=receiver.url, event_types=[E.ORDER_PLACED], enabled=False
    )
    receiver.status = 500
    delivery = webhook_test_send(publisher=publisher)
    assert len(deliver_task_runs(delivery)) == 1
    DBTaskResult.objects.all().delete()  # the test runs the attempt itself
    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.FAILED
    body = receiver.received[0].json()
    assert (body["type"], body["order"], body["test"]) == ("webhook.test", None, True)
    assert receiver.received[0].signature_valid
    assert deliver_task_runs(delivery) == []
    assert not OutgoingEmail.objects.exists()


def test_turned_off_endpoint_cancels_waiting_deliveries(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    connect(publisher)
    place(publisher, cd)
    webhook_endpoint_save(
        publisher=publisher, url=receiver.url, event_types=list(E.values), enabled=False
    )
    delivery = WebhookDelivery.objects.get()
    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.CANCELLED
    assert receiver.received == []


def test_timeout_is_a_failed_attempt(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    receiver.delay_seconds = 4  # the tests' timeout is 2 s
    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    started = time.monotonic()
    assert webhook_delivery_attempt(delivery_id=delivery.id) == "pending"
    assert time.monotonic() - started < 3.5
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_code is None
    assert "timed out" in attempt.error
    assert 1900 <= attempt.duration_ms < 3500


def test_redirect_is_not_followed(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    receiver.status = 302
    connect(publisher)
    place(publisher, cd)
    webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().id)
    assert WebhookAttempt.objects.get().error == "HTTP 302 (redirects are not followed)"
    assert len(receiver.received) == 1


def test_loopback_refused_at_send_time_without_the_setting(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    connect(publisher)
    place(publisher, cd)
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=False):
        webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().id)
    assert receiver.received == []
    assert WebhookAttempt.objects.get().error == (
        "pressrun does not send webhooks to its own machine (localhost)."
    )


def test_claim_of_a_dead_worker_is_taken_over_by_the_sweep(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    # A worker claimed it and died (kill -9): its heartbeat is stale, its task is gone.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    WorkerHeartbeat.objects.create(
        worker_id="dead-worker", hostname="h", pid=1, started_at=an_hour_ago, last_seen=an_hour_ago
    )
    WebhookDelivery.objects.filter(id=delivery.id).update(
        status=DeliveryStatus.SENDING, claimed_by="dead-worker", claimed_at=timezone.now()
    )
    DBTaskResult.objects.all().delete()
    assert webhooks_requeue_stranded() == 1
    assert len(deliver_task_runs(delivery)) == 1
    assert webhooks_requeue_stranded() == 0  # it has a task now
    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1


def test_claim_of_a_live_worker_is_left_alone(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    WorkerHeartbeat.objects.create(
        worker_id="live-worker",
        hostname="h",
        pid=2,
        started_at=timezone.now(),
        last_seen=timezone.now(),
    )
    WebhookDelivery.objects.filter(id=delivery.id).update(
        status=DeliveryStatus.SENDING, claimed_by="live-worker", claimed_at=timezone.now()
    )
    assert webhook_delivery_attempt(delivery_id=delivery.id) == ""
    DBTaskResult.objects.all().delete()
    assert webhooks_requeue_stranded() == 0
    assert receiver.received == []


def test_pending_retry_that_lost_its_task_is_queued_for_its_time(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    receiver.status = 500
    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    webhook_delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    DBTaskResult.objects.all().delete()
    assert webhooks_requeue_stranded() == 1
    [run] = deliver_task_runs(delivery)
    assert run.run_after == delivery.next_attempt_at


def test_housekeeping_deletes_old_finished_deliveries(
    publisher: Any, cd: Any, connect: Callable[..., str], place: Any
) -> None:
    from pressrun.webhooks.services import webhook_deliveries_delete_old

    connect(publisher)
    place(publisher, cd)
    place(publisher, cd)
    old, recent = WebhookDelivery.objects.order_by("id")
    webhook_delivery_attempt(delivery_id=old.id)
    later = timezone.now() + timedelta(days=31)
    assert webhook_deliveries_delete_old(now=later) == 1  # the pending one stays
    assert list(WebhookDelivery.objects.values_list("id", flat=True)) == [recent.id]


def test_an_unexpected_error_is_a_failed_attempt_not_a_stuck_row(
    publisher: Any,
    cd: Any,
    connect: Callable[..., str],
    place: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pressrun.webhooks import client

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("surprise")

    connect(publisher)
    place(publisher, cd)
    monkeypatch.setattr(client, "post", broken)
    delivery = WebhookDelivery.objects.get()
    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.PENDING
    assert WebhookAttempt.objects.get().error == "KeyError: 'surprise'"


def test_a_run_whose_claim_was_taken_over_during_the_post_records_nothing(
    publisher: Any,
    cd: Any,
    connect: Callable[..., str],
    receiver: Receiver,
    place: Any,
    *,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pressrun.webhooks import client

    connect(publisher)
    place(publisher, cd)
    delivery = WebhookDelivery.objects.get()
    real_post = client.post

    def post_then_lose_the_claim(*args: Any, **kwargs: Any) -> Any:
        answer = real_post(*args, **kwargs)
        # Declared dead meanwhile: another worker took the row over.
        WebhookDelivery.objects.filter(id=delivery.id).update(claimed_by="another-worker")
        return answer

    monkeypatch.setattr(client, "post", post_then_lose_the_claim)
    assert webhook_delivery_attempt(delivery_id=delivery.id) == ""
    assert len(receiver.received) == 1
    assert not WebhookAttempt.objects.exists()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.claimed_by, delivery.series_attempts) == (
        DeliveryStatus.SENDING,
        "another-worker",
        0,
    )


def test_a_secret_sealed_under_another_key_is_a_failed_attempt_sent_to_nobody(
    publisher: Any, cd: Any, connect: Callable[..., str], receiver: Receiver, place: Any
) -> None:
    from pressrun.webhooks.models import WebhookEndpoint

    connect(publisher)
    place(publisher, cd)
    WebhookEndpoint.objects.update(secret_sealed="not-sealed-here")
    delivery = WebhookDelivery.objects.get()
    assert webhook_delivery_attempt(delivery_id=delivery.id) == DeliveryStatus.PENDING
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert (attempt.number, attempt.response_code, attempt.error) == (
        1,
        None,
        "The signing secret cannot be read (the installation's key changed): rotate it.",
    )
