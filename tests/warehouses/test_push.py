"""The push protocol's outbound half (issue 11, section 4, push): an open order of a push
connection is queued with its task (an outbox), POSTed signed to a local warehouse emulator
that behaves like a real one (500 then 200, down for an hour of simulated time, slow,
refusing, answering duplicates), retried on the exact schedule with every attempt logged,
never sent as two different orders, and moved open → routed (or error) by the answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.core.models import WorkerHeartbeat
from pressrun.core.sealed import unseal
from pressrun.warehouses.models import (
    PushStatus,
    WarehouseConnection,
    WarehouseOrder,
    WarehousePush,
    WarehousePushAttempt,
)
from pressrun.warehouses.orders import (
    CartLineToRoute,
    CartOrderHeader,
    OrderNotJoinable,
    warehouse_order_add,
)
from pressrun.warehouses.push import (
    ATTEMPTS,
    RETRY_SCHEDULE,
    PushRefused,
    PushSettingsInvalid,
    warehouse_push_again,
    warehouse_push_attempt,
    warehouse_push_configure,
    warehouse_push_secret,
    warehouse_push_secret_rotate,
    warehouse_pushes_sweep,
)
from pressrun.warehouses.services import warehouse_create
from pressrun.warehouses.signing import signature
from tests.warehouses import warehouse_emulator
from tests.warehouses.conftest import Station
from tests.warehouses.test_pull import RECIPIENT, make_warehouse, route
from tests.warehouses.warehouse_emulator import Warehouse

pytestmark = pytest.mark.django_db

SEND_TASK = "pressrun.warehouses.tasks.warehouse_push_send"


@pytest.fixture(autouse=True)
def _push_settings(_quiet_tasks: None, settings: Any) -> None:
    # Tasks stay in the database queue: the tests look at what was queued, and run each
    # attempt themselves at the (simulated) time they choose.
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    settings.WAREHOUSE_PUSH_TIMEOUT_SECONDS = 1


@pytest.fixture
def wms() -> Iterator[Warehouse]:
    with warehouse_emulator.running() as running:
        yield running


@pytest.fixture
def acme(publisher: Any, wms: Warehouse) -> Station:
    station = make_warehouse(publisher)
    connection, secret = warehouse_push_configure(connection_id=station.id, url=wms.url)
    wms.secret = secret
    station.created = type(station.created)(connection=connection, password="")
    return station


def send_runs(push: WarehousePush) -> list[DBTaskResult]:
    return [
        run
        for run in DBTaskResult.objects.filter(
            task_path=SEND_TASK, status=TaskResultStatus.READY
        ).order_by("enqueued_at")
        if run.args_kwargs["kwargs"] == {"push_id": push.id}
    ]


def attempts(push: WarehousePush) -> list[tuple[int, int | None, str]]:
    return [
        (attempt.number, attempt.response_code, attempt.error)
        for attempt in WarehousePushAttempt.objects.filter(push=push).order_by("number")
    ]


def state(order: WarehouseOrder) -> tuple[str, str]:
    order.refresh_from_db()
    return order.state, order.error


# --- settings --------------------------------------------------------------------------------


def test_the_secret_is_generated_once_sealed_and_rotatable(publisher: Any) -> None:
    station = make_warehouse(publisher)
    connection, secret = warehouse_push_configure(
        connection_id=station.id, url="https://wms.example.com/pressrun/orders"
    )
    assert secret.startswith("wmssec_")
    assert len(secret) == 7 + 43
    assert connection.push_url == "https://wms.example.com/pressrun/orders"
    stored = WarehouseConnection.objects.get(id=station.id)
    assert secret not in stored.push_secret_sealed
    assert unseal(stored.push_secret_sealed) == secret == warehouse_push_secret(stored)
    # Saving the URL again keeps the secret; rotating replaces it.
    _, again = warehouse_push_configure(
        connection_id=station.id, url="https://wms.example.com/v2/orders"
    )
    assert again == ""
    rotated = warehouse_push_secret_rotate(connection_id=station.id)
    assert rotated != secret
    assert warehouse_push_secret(WarehouseConnection.objects.get(id=station.id)) == rotated


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://wms.example.com/orders", "The URL must start with https://"),
        ("https://10.0.0.5/orders", "10.0.0.5 is a private or reserved address"),
        ("https://user:pw@wms.example.com/", "Leave the user name and password out of the URL"),
        ("ftp://wms.example.com/", "Enter a full URL starting with https://"),
    ],
)
def test_a_push_url_is_checked_like_a_webhook_endpoint(
    publisher: Any, settings: Any, url: str, message: str
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    station = make_warehouse(publisher)
    with pytest.raises(PushSettingsInvalid) as refused:
        warehouse_push_configure(connection_id=station.id, url=url)
    assert refused.value.message.startswith(message)
    stored = WarehouseConnection.objects.get(id=station.id)
    assert (stored.push_url, stored.push_secret_sealed) == ("", "")


def test_pressruns_own_station_has_no_push(db: None) -> None:
    own = warehouse_create(name="Main station").connection
    with pytest.raises(PushSettingsInvalid):
        warehouse_push_configure(connection_id=own.id, url="https://wms.example.com/o")
    with pytest.raises(PushSettingsInvalid):
        warehouse_push_secret_rotate(connection_id=own.id)


# --- queueing --------------------------------------------------------------------------------


def test_an_open_order_is_queued_with_its_task_and_a_test_order_never(acme: Station) -> None:
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    assert (push.status, push.body, push.connection_id) == (PushStatus.PENDING, "", acme.id)
    assert push.idempotency_key.startswith("whpush_")
    assert len(send_runs(push)) == 1  # the outbox: row and task together
    route(acme, "1041", test=True)
    assert WarehousePush.objects.count() == 1


def test_a_pulling_warehouse_gets_no_push(publisher: Any) -> None:
    station = make_warehouse(publisher)
    route(station, "1040")
    assert WarehousePush.objects.count() == 0
    assert DBTaskResult.objects.filter(task_path=SEND_TASK).count() == 0


# --- sending ---------------------------------------------------------------------------------


def test_the_order_is_pushed_signed_as_documented_and_routed(acme: Station, wms: Warehouse) -> None:
    order = route(acme, "1040")
    book, mug, tee = order.lines.order_by("id")
    push = WarehousePush.objects.get(order=order)
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
    [request] = wms.requests
    assert request.signature_valid
    assert request.path == "/orders"
    timestamp = request.headers["x-pressrun-timestamp"]
    assert request.headers["x-pressrun-signature"] == signature(
        secret=wms.secret, timestamp=int(timestamp), body=request.body
    )
    assert request.headers["idempotency-key"] == push.idempotency_key
    assert request.headers["x-pressrun-attempt"] == "1"
    assert request.headers["user-agent"] == "pressrun-warehouse-push/1"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "type": "order",
        "version": 1,
        "id": f"WH-{order.id}",
        "idempotency_key": push.idempotency_key,
        "test": False,
        "created_at": order.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "cart": "shopify",
        "cart_order_name": "#1040",
        "shipping_description": "Standard",
        "carrier_code": "USPS_PRIORITY",
        "ship_to": RECIPIENT,
        "lines": [
            {
                "line_item_id": str(book.id),
                "sku": "ACME-BOOK",
                "channel_sku": "GIFTSET",
                "title": "Gift set",
                "quantity": 3,
            },
            {
                "line_item_id": str(mug.id),
                "sku": "ACME-MUG",
                "channel_sku": "GIFTSET",
                "title": "Gift set",
                "quantity": 6,
            },
            {
                "line_item_id": str(tee.id),
                "sku": "TEE",
                "channel_sku": "TEE",
                "title": "Tee",
                "quantity": 1,
            },
        ],
    }
    push.refresh_from_db()
    assert push.body.encode() == request.body
    assert (push.status, push.last_response_code, push.next_attempt_at) == ("delivered", 200, None)
    [attempt] = WarehousePushAttempt.objects.filter(push=push)
    assert (attempt.response_code, attempt.error, attempt.url) == (200, "", wms.url)
    assert attempt.response_excerpt == '{"warehouse_order": "ACME-1", "duplicate": false}'
    assert state(order) == ("routed", "")
    # Run again (a duplicated task): nothing to do, nothing sent.
    assert warehouse_push_attempt(push_id=push.id) == ""
    assert len(wms.requests) == 1


def test_500_then_200_is_retried_with_the_same_body_and_key(acme: Station, wms: Warehouse) -> None:
    wms.script = [500]
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    now = timezone.now()
    assert warehouse_push_attempt(push_id=push.id, now=now) == PushStatus.PENDING
    push.refresh_from_db()
    assert push.next_attempt_at == now + timedelta(minutes=1)
    # The first run (not run by a worker here) and the retry, queued with the attempt.
    [_, retry] = send_runs(push)
    assert retry.run_after == now + timedelta(minutes=1)
    assert state(order) == ("open", "")
    # Not due before its time.
    assert warehouse_push_attempt(push_id=push.id, now=now + timedelta(seconds=59)) == ""
    assert warehouse_push_attempt(push_id=push.id, now=now + timedelta(minutes=1)) == "delivered"
    first, second = wms.requests
    assert first.body == second.body
    assert first.idempotency_key == second.idempotency_key == push.idempotency_key
    assert second.headers["x-pressrun-attempt"] == "2"
    assert attempts(push) == [(1, 500, "HTTP 500"), (2, 200, "")]
    assert len(wms.orders) == 1
    assert state(order) == ("routed", "")


def test_a_warehouse_down_for_an_hour_gets_the_order_after_it(
    acme: Station, wms: Warehouse
) -> None:
    wms.down()
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    start = timezone.now()
    at = start
    for minutes in RETRY_SCHEDULE[:6]:  # 0, 1, 3, 7, 15, 31 minutes: all refused
        assert warehouse_push_attempt(push_id=push.id, now=at) == PushStatus.PENDING
        at += timedelta(minutes=minutes)
    assert at == start + timedelta(minutes=63)
    wms.up()  # back after an hour, on the same port
    assert warehouse_push_attempt(push_id=push.id, now=at) == PushStatus.DELIVERED
    logged = attempts(push)
    assert [number for number, _, _ in logged] == [1, 2, 3, 4, 5, 6, 7]
    assert [code for _, code, _ in logged] == [None] * 6 + [200]
    assert all(error.startswith("ConnectionRefusedError") for _, _, error in logged[:6])
    retries = list(
        WarehousePushAttempt.objects.filter(push=push)
        .order_by("number")
        .values_list("next_retry_at", flat=True)
    )
    assert retries == [start + timedelta(minutes=m) for m in (1, 3, 7, 15, 31, 63)] + [None]
    assert len(wms.requests) == 1
    assert len(wms.orders) == 1
    assert state(order) == ("routed", "")


def test_a_slow_warehouse_times_out_and_the_retry_is_the_same_order(
    acme: Station, wms: Warehouse
) -> None:
    wms.delay_seconds = 4  # pressrun waits 1 s per step, 3 s in all
    wms.delayed_requests = 1
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    now = timezone.now()
    assert warehouse_push_attempt(push_id=push.id, now=now) == PushStatus.PENDING
    [(number, code, error)] = attempts(push)
    assert (number, code) == (1, None)
    assert "timed out" in error
    assert warehouse_push_attempt(push_id=push.id, now=now + timedelta(minutes=1)) == "delivered"
    # The slow request was taken too: the warehouse saw one order twice and made one.
    wms.wait_for(2)
    assert len(wms.requests) == 2
    assert len(wms.orders) == 1
    assert state(order) == ("routed", "")


def test_a_refusal_stops_the_order_with_the_answer_and_send_again_routes_it(
    acme: Station, wms: Warehouse, publisher: Any
) -> None:
    wms.script = [422]
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.REFUSED
    assert state(order) == (
        "error",
        'The warehouse refused the order (HTTP 422): {"error": "SKU ACME-MUG is not stocked here"}',
    )
    assert len(send_runs(push)) == 1  # the first run only: not retried
    with pytest.raises(WarehousePush.DoesNotExist):
        warehouse_push_again(publisher_id=publisher.id + 1000, push_id=push.id)
    warehouse_push_again(publisher_id=publisher.id, push_id=push.id)
    with pytest.raises(PushRefused):
        warehouse_push_again(publisher_id=publisher.id, push_id=push.id)
    assert len(send_runs(push)) == 2
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
    assert state(order) == ("routed", "")
    assert attempts(push) == [(1, 422, "HTTP 422"), (2, 200, "")]
    with pytest.raises(PushRefused):
        warehouse_push_again(publisher_id=publisher.id, push_id=push.id)


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_not_now_answers_are_retried(acme: Station, wms: Warehouse, status: int) -> None:
    wms.script = [status]
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.PENDING
    assert state(order) == ("open", "")


def test_a_redirect_is_not_followed(acme: Station, wms: Warehouse) -> None:
    wms.script = [301]
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.PENDING
    assert attempts(push) == [(1, 301, "HTTP 301 (redirects are not followed)")]


def test_after_the_last_attempt_the_push_is_given_up_and_the_order_stops(
    acme: Station, wms: Warehouse
) -> None:
    wms.status = 500
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    at = timezone.now()
    for minutes in RETRY_SCHEDULE:
        assert warehouse_push_attempt(push_id=push.id, now=at) == PushStatus.PENDING
        at += timedelta(minutes=minutes)
    assert warehouse_push_attempt(push_id=push.id, now=at) == PushStatus.FAILED
    assert len(attempts(push)) == ATTEMPTS == 13
    assert sum(RETRY_SCHEDULE) == 2403  # about 40 hours
    assert state(order) == (
        "error",
        "The warehouse did not accept the order in 13 attempts over about 40 hours; the last "
        "failed with: HTTP 500",
    )
    push.refresh_from_db()
    assert (push.status, push.gave_up_at, push.next_attempt_at) == ("failed", at, None)


def test_no_line_joins_an_order_once_its_push_has_begun(acme: Station, wms: Warehouse) -> None:
    wms.script = [500]
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    header = CartOrderHeader(
        cart="shopify",
        external_key="shop.example:1040",
        name="#1040",
        test=False,
        recipient=RECIPIENT,
        shipping_description="Standard",
    )
    later = [CartLineToRoute(line_key="1040-9", sku="TEE", title="Tee", quantity=2)]
    warehouse_push_attempt(push_id=push.id)
    with pytest.raises(OrderNotJoinable) as refused:
        warehouse_order_add(connection=acme.created.connection, header=header, lines=later)
    assert refused.value.message == (
        f"Warehouse order {order.id} at Acme 3PL is already sent: add this line there by hand."
    )
    assert order.lines.count() == 3


def test_a_claim_of_a_dead_worker_is_taken_over_and_a_live_ones_is_not(
    acme: Station, wms: Warehouse
) -> None:
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="alive", hostname="h", pid=1, started_at=now, last_seen=now
    )
    WarehousePush.objects.filter(id=push.id).update(
        status=PushStatus.SENDING, claimed_by="alive", claimed_at=now
    )
    assert warehouse_push_attempt(push_id=push.id) == ""
    assert wms.requests == []
    # The worker dies (its heartbeat goes stale): the next run sends it, once.
    WorkerHeartbeat.objects.filter(worker_id="alive").update(last_seen=now - timedelta(hours=1))
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
    assert len(wms.requests) == 1
    assert state(order) == ("routed", "")


def test_the_sweep_pushes_orders_of_a_connection_switched_to_push_and_lost_tasks(
    publisher: Any, wms: Warehouse
) -> None:
    station = make_warehouse(publisher)
    waiting = route(station, "1040")
    assert WarehousePush.objects.count() == 0
    # Switching to push queues the orders waiting to be pulled at once.
    _, wms.secret = warehouse_push_configure(connection_id=station.id, url=wms.url)
    push = WarehousePush.objects.get(order=waiting)
    assert len(send_runs(push)) == 1
    # A lost task (its row gone): the sweep queues it again, once.
    DBTaskResult.objects.filter(task_path=SEND_TASK).delete()
    assert warehouse_pushes_sweep() == 1
    assert warehouse_pushes_sweep() == 0
    assert len(send_runs(push)) == 1
    # An open order that has no push (made before the switch, in a race): queued.
    WarehousePush.objects.all().delete()
    DBTaskResult.objects.filter(task_path=SEND_TASK).delete()
    assert warehouse_pushes_sweep() == 1
    assert WarehousePush.objects.get(order=waiting).status == PushStatus.PENDING


def test_a_connection_that_pulls_again_cancels_its_pending_pushes(
    acme: Station, wms: Warehouse
) -> None:
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    warehouse_push_configure(connection_id=acme.id, url="")
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.CANCELLED
    assert wms.requests == []
    assert state(order) == ("open", "")  # the warehouse pulls it
    # Pushing again before it was pulled: the order goes out after all.
    warehouse_push_configure(connection_id=acme.id, url=wms.url)
    push.refresh_from_db()
    assert (push.status, push.series_attempts) == (PushStatus.PENDING, 0)
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
    assert len(wms.requests) == 1
    assert state(order) == ("routed", "")


def test_a_shipment_confirmed_before_the_answer_leaves_the_order_shipped(
    acme: Station, wms: Warehouse
) -> None:
    from pressrun.warehouses.shipments import warehouse_shipment_record
    from pressrun.warehouses.shipstation import Notice

    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    warehouse_shipment_record(
        connection=acme.created.connection,
        notice=Notice(
            order_id=f"WH-{order.id}",
            order_number="",
            ship_date=None,
            carrier="UPS",
            service="Ground",
            tracking_number="1Z1",
            shipping_cost=None,
        ),
        body=b"{}",
        digest="d",
    )
    assert state(order) == ("partially_shipped", "")
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
    assert state(order) == ("partially_shipped", "")
    assert json.loads(wms.requests[0].body)["id"] == f"WH-{order.id}"


def test_the_warehousepush_command_sets_the_url_and_prints_the_secret_once(
    publisher: Any,
) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    station = make_warehouse(publisher)

    def run(*args: str) -> str:
        out = StringIO()
        call_command("warehousepush", "--warehouse", str(station.id), *args, stdout=out)
        return out.getvalue()

    first = run("--url", "https://wms.example.com/orders")
    secret = warehouse_push_secret(WarehouseConnection.objects.get(id=station.id))
    assert first == f"id={station.id} url=https://wms.example.com/orders secret={secret}\n"
    assert run("--url", "https://wms.example.com/v2") == (
        f"id={station.id} url=https://wms.example.com/v2\n"
    )
    rotated = run("--new-secret")
    new_secret = warehouse_push_secret(WarehouseConnection.objects.get(id=station.id))
    assert rotated == f"id={station.id} url=https://wms.example.com/v2 secret={new_secret}\n"
    assert new_secret != secret
    with pytest.raises(CommandError, match="The URL must start with https://"):
        run("--url", "http://wms.example.com/")
    with pytest.raises(CommandError, match=r"There is no warehouse 99999\."):
        call_command("warehousepush", "--warehouse", "99999", "--url", "")
    with pytest.raises(CommandError, match=r"Give --url, --new-secret or both\."):
        run()


def test_a_refusal_after_a_confirmed_package_leaves_the_order_shipped(
    acme: Station, wms: Warehouse
) -> None:
    from pressrun.warehouses.shipments import warehouse_shipment_record
    from pressrun.warehouses.shipstation import Notice, NoticeItem

    wms.script = [409]
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    warehouse_shipment_record(
        connection=acme.created.connection,
        notice=Notice(
            order_id=f"WH-{order.id}",
            order_number="",
            ship_date=None,
            carrier="UPS",
            service="Ground",
            tracking_number="1Z1",
            shipping_cost=None,
            items=(NoticeItem(sku="TEE", quantity=1, line_item_id=""),),
        ),
        body=b"{}",
        digest="d",
    )
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.REFUSED
    assert state(order) == ("partially_shipped", "")


def test_the_sweep_is_started_by_every_worker() -> None:
    from pressrun.core.tasks import periodic_tasks
    from pressrun.warehouses.tasks import WAREHOUSE_PUSH_SWEEP_INTERVAL, sweep_warehouse_pushes

    [sweep] = [p for p in periodic_tasks() if p.task == sweep_warehouse_pushes]
    assert sweep.interval == WAREHOUSE_PUSH_SWEEP_INTERVAL == timedelta(seconds=30)


def test_a_disabled_connections_pushes_wait_until_it_is_enabled(
    acme: Station, wms: Warehouse
) -> None:
    from pressrun.warehouses.services import warehouse_set_enabled

    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    warehouse_set_enabled(connection_id=acme.id, enabled=False)
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.PENDING
    assert wms.requests == []
    assert attempts(push) == []
    DBTaskResult.objects.filter(task_path=SEND_TASK).delete()  # that run is over
    assert warehouse_pushes_sweep() == 0  # nothing queued while it is off
    warehouse_set_enabled(connection_id=acme.id, enabled=True)
    assert warehouse_pushes_sweep() == 1
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.DELIVERED
    assert attempts(push) == [(1, 200, "")]
    assert state(order) == ("routed", "")


def test_a_run_whose_claim_was_taken_over_during_the_post_records_nothing(
    acme: Station, wms: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressrun.webhooks import client

    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    real_post = client.post

    def post_then_lose_the_claim(*args: Any, **kwargs: Any) -> Any:
        answer = real_post(*args, **kwargs)
        # Declared dead meanwhile: another worker took the row over.
        WarehousePush.objects.filter(id=push.id).update(claimed_by="another-worker")
        return answer

    monkeypatch.setattr(client, "post", post_then_lose_the_claim)
    assert warehouse_push_attempt(push_id=push.id) == ""
    assert len(wms.requests) == 1
    assert attempts(push) == []
    push.refresh_from_db()
    assert (push.status, push.claimed_by, push.series_attempts) == (
        PushStatus.SENDING,
        "another-worker",
        0,
    )
    assert state(order) == ("open", "")


def test_a_secret_sealed_under_another_key_is_a_failed_attempt_sent_to_nobody(
    acme: Station, wms: Warehouse
) -> None:
    order = route(acme, "1040")
    push = WarehousePush.objects.get(order=order)
    WarehouseConnection.objects.filter(id=acme.id).update(push_secret_sealed="not-sealed-here")
    assert warehouse_push_attempt(push_id=push.id) == PushStatus.PENDING
    assert wms.requests == []
    assert attempts(push) == [
        (1, None, "The signing secret cannot be read (the installation's key changed): rotate it.")
    ]
