"""Tracking posted back to the cart an order came from (carts/postback.py), against the
Shopify Admin GraphQL emulator over real HTTP. SQLite, and PostgreSQL when
PRESSRUN_DATABASE_URL is set.

The task runs here by hand (the database backend keeps each queued run with its run_after):
`run_next` takes the next queued post-back run, sets the post-back's clock to its run_after
and runs it, so an hour of retries passes in a moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts import postback as postback_module
from pressrun.carts.models import CartPostback, PostbackState
from pressrun.carts.postback import postback_retry, postback_summary
from pressrun.carts.shopify.client import (
    FULFILLMENT_CREATE_MUTATION,
    ORDER_FULFILLMENT_QUERY,
    retry_after_seconds,
)
from pressrun.carts.tasks import postback_send
from pressrun.core.tasks import backoff_seconds
from pressrun.orders.models import Order
from tests import intake
from tests.carts.shopify_admin_emulator import ShopifyAdminEmulator, shopify_admin_api
from tests.fulfillment.support import correct_shipment, ship

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
SHOP = "artist-a"
SHOPIFY_ORDER_ID = "5550001234567"


@pytest.fixture
def emulator(settings: Any) -> Iterator[ShopifyAdminEmulator]:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    with shopify_admin_api(tokens={SHOP: TOKEN}) as emulator:
        settings.PRESSRUN_SHOPIFY_ADMIN_API_BASE = emulator.base_url + "/{shop}"
        yield emulator


@pytest.fixture
def publisher(make_publisher: Callable[..., Any]) -> Any:
    publisher = make_publisher(balance="100", company="Acme Discs")
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    publisher.refresh_from_db()
    return publisher


@pytest.fixture
def place(make_project: Callable[..., Any], publisher: Any) -> Callable[..., Order]:
    project = make_project(publisher)
    counter = iter(range(1, 1000))

    def place(
        *, source: str = "shopify", external_ref: str = SHOPIFY_ORDER_ID, **kwargs: Any
    ) -> Order:
        return intake.place(
            publisher,
            [(project, 1)],
            source=source,
            invoice=f"#10{next(counter)}@{SHOP}",
            external_ref=external_ref,
            store=kwargs.pop("store", f"{SHOP}.myshopify.com"),
            **kwargs,
        )

    return place


def queued_runs() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            task_path=postback_send.module_path, status=TaskResultStatus.READY
        ).order_by("run_after", "enqueued_at")
    )


def run_next(monkeypatch: pytest.MonkeyPatch) -> tuple[datetime | None, str]:
    """Run the next queued post-back task at its own run_after (the post-back's clock set to
    it); returns (run_after, the state it left)."""
    runs = queued_runs()
    assert runs, "no post-back run is queued"
    run = runs[0]
    at = run.run_after if run.run_after and run.run_after.year < 9000 else None
    kwargs = run.args_kwargs["kwargs"]
    run.delete()
    if at is not None:
        monkeypatch.setattr(postback_module, "_now", lambda: at)
    state = postback_send.call(**kwargs)
    return at, state


def test_shipped_shopify_order_creates_a_fulfillment_with_tracking(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    with transaction.atomic():
        ship(order, tracking_id="1Z999AA10123456784", carrier="UPS", service="Ground")
        # Queued in the shipped move's transaction.
        assert CartPostback.objects.get(order=order).state == PostbackState.PENDING
        assert len(queued_runs()) == 1
    _, state = run_next(monkeypatch)
    assert state == PostbackState.SENT
    query, create = emulator.requests
    assert (query.operation, query.query, query.variables) == (
        "order",
        ORDER_FULFILLMENT_QUERY,
        {"id": gid},
    )
    fo_id = emulator.orders[gid][0].id
    assert create.operation == "fulfillmentCreate"
    assert create.query == FULFILLMENT_CREATE_MUTATION
    assert create.variables == {
        "fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id}],
            "notifyCustomer": False,
            "trackingInfo": {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            },
        }
    }
    postback = CartPostback.objects.get(order=order)
    assert postback.state == PostbackState.SENT
    assert postback.remote_id == emulator.orders[gid][0].fulfillments[0].id
    assert postback.attempts == 1
    assert postback.last_error == ""
    assert postback.sent_at is not None
    assert postback_summary(postback) == (
        f"Tracking sent to Shopify at {postback.sent_at:%Y-%m-%d %H:%M} UTC."
    )
    # Running it again changes nothing and asks Shopify nothing.
    postback_send.call(postback_id=postback.id, attempt=2)
    assert len(emulator.requests) == 2


def test_notify_customer_follows_the_publisher_and_dhl_is_shopify_spelled(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    publisher: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher_set_cart_credentials(publisher=publisher, shopify_notify_customer=True)
    emulator.add_order(SHOPIFY_ORDER_ID)
    ship(place(), tracking_id="JD0146000012345", carrier="dhl_express")
    run_next(monkeypatch)
    fulfillment = emulator.mutations[0].variables["fulfillment"]
    assert fulfillment["notifyCustomer"] is True
    assert fulfillment["trackingInfo"] == {
        "number": "JD0146000012345",
        "company": "DHL Express",
        "url": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1"
        "&tracking-id=JD0146000012345",
    }


def test_already_fulfilled_in_shopify_gets_the_tracking_added(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default topic, orders/fulfilled: the merchant fulfilled it in Shopify without
    tracking; pressrun adds the tracking to that fulfillment."""
    gid = emulator.add_order(SHOPIFY_ORDER_ID, statuses=("CLOSED",))
    from tests.carts.shopify_admin_emulator import EmulatedFulfillment

    emulator.orders[gid][0].fulfillments.append(
        EmulatedFulfillment(id="gid://shopify/Fulfillment/77")
    )
    ship(place(), tracking_id="9400100000000000000001")
    _, state = run_next(monkeypatch)
    assert state == PostbackState.SENT
    (update,) = emulator.mutations
    assert update.operation == "fulfillmentTrackingInfoUpdate"
    assert update.variables == {
        "fulfillmentId": "gid://shopify/Fulfillment/77",
        "trackingInfoInput": {
            "number": "9400100000000000000001",
            "company": "USPS",
            "url": "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400100000000000000001",
        },
        "notifyCustomer": False,
    }


def test_429_retry_after_is_waited_out(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000002", carrier="USPS")
    emulator.fail_next = ["429:7"]
    start = timezone.now()
    monkeypatch.setattr(postback_module, "_now", lambda: start)
    postback = CartPostback.objects.get(order=order)
    assert run_next(monkeypatch) == (None, PostbackState.RETRYING)
    (retry,) = queued_runs()
    assert retry.run_after == start + timedelta(seconds=7)
    assert retry.args_kwargs["kwargs"] == {"postback_id": postback.id, "attempt": 2}
    postback.refresh_from_db()
    assert postback.state == PostbackState.RETRYING
    assert postback.next_attempt_at == start + timedelta(seconds=7)
    assert postback.last_error == "Shopify asked to slow down (HTTP 429)."
    assert postback_summary(postback) == (
        "Failed: Shopify asked to slow down (HTTP 429). Retrying at "
        f"{start + timedelta(seconds=7):%Y-%m-%d %H:%M:%S} UTC (attempt 2 of 12)."
    )
    emulator.fail_next = ["throttled"]  # a GraphQL THROTTLED answer waits for the bucket
    at, state = run_next(monkeypatch)
    assert state == PostbackState.RETRYING
    (retry,) = queued_runs()
    assert at is not None
    assert retry.run_after == at + timedelta(seconds=1)  # (62 - 2) / 100 → at least 1 s
    _, state = run_next(monkeypatch)
    assert state == PostbackState.SENT
    assert [r.operation for r in emulator.requests] == ["order", "fulfillmentCreate"]


def test_down_for_an_hour_is_retried_on_the_backoff_schedule_then_succeeds(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.CART_POSTBACK_RETRY_BASE_SECONDS = 60
    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000003")
    start = timezone.now()
    monkeypatch.setattr(postback_module, "_now", lambda: start)
    back_at = start + timedelta(hours=1)
    delays = []
    now = start
    attempt = 0
    state = ""
    while state != PostbackState.SENT:
        upcoming = queued_runs()[0].run_after
        # Down until an hour has passed on the post-back's clock (the first run: at once).
        emulator.down = (upcoming if attempt else start) < back_at
        at, state = run_next(monkeypatch)
        if attempt:
            assert at is not None
            delays.append((at - now).total_seconds())
            now = at
        attempt += 1
        assert attempt <= 12
    # Each wait is exponential backoff with jitter: between half and all of 60 s x 2^(n-1),
    # capped at an hour.
    for number, delay in enumerate(delays, start=1):
        ceiling = min(3600.0, 60.0 * 2 ** (number - 1))
        assert ceiling / 2 <= delay <= ceiling + 0.001, (number, delay)
    assert now >= back_at
    assert len(delays) >= 6  # 30+60+120+240+480+960 s at the least before an hour passed
    postback = CartPostback.objects.get(order=order)
    assert postback.state == PostbackState.SENT
    assert postback.attempts == len(delays) + 1
    assert [r.operation for r in emulator.requests] == ["order", "fulfillmentCreate"]
    assert backoff_seconds(1, base=60) <= 60


def test_attempts_run_out_and_send_again_starts_over(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.CART_POSTBACK_ATTEMPTS = 3
    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000004")
    emulator.down = True
    states = [run_next(monkeypatch)[1] for _ in range(3)]
    assert states == ["retrying", "retrying", "gave_up"]
    assert queued_runs() == []
    postback = CartPostback.objects.get(order=order)
    assert postback.last_error == "Shopify answered HTTP 503. Gave up after 3 attempts."
    emulator.down = False
    assert postback_retry(postback_id=postback.id) is True
    assert postback_retry(postback_id=postback.id) is False  # pending now: nothing to redo
    assert run_next(monkeypatch)[1] == PostbackState.SENT


def test_refusals_give_up_with_the_reason_and_write_nothing_to_shopify(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    publisher: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.add_order(SHOPIFY_ORDER_ID)
    # A wrong token.
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token="shpat_wrong_token")
    ship(place(), tracking_id="9400100000000000000005")
    assert run_next(monkeypatch)[1] == PostbackState.GAVE_UP
    assert CartPostback.objects.get().last_error.startswith(
        "Shopify refused the access token (HTTP 401)"
    )
    # No token at all.
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token="")
    ship(place(external_ref="5550009"), tracking_id="9400100000000000000006")
    assert run_next(monkeypatch)[1] == PostbackState.GAVE_UP
    # A store that is not a myshopify.com domain: the token goes nowhere else.
    publisher_set_cart_credentials(publisher=publisher, shopify_admin_token=TOKEN)
    ship(place(external_ref="5550010", store="evil.example.com"), tracking_id="94001")
    assert run_next(monkeypatch)[1] == PostbackState.GAVE_UP
    # An order the shop does not have.
    ship(place(external_ref="5550011"), tracking_id="94002")
    assert run_next(monkeypatch)[1] == PostbackState.GAVE_UP
    errors = list(CartPostback.objects.order_by("id").values_list("last_error", flat=True))
    assert errors[1:] == [
        "No Shopify Admin API access token is saved: add it under Settings → Cart "
        "credentials, then send again.",
        "'evil.example.com' is not a shop's myshopify.com domain; tracking is only posted "
        "to the shop the order came from.",
        f"Shopify has no order 5550011 in {SHOP}.myshopify.com.",
    ]
    assert emulator.mutations == []


def test_a_closed_fulfillment_order_with_other_tracking_is_left_alone(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.carts.shopify_admin_emulator import EmulatedFulfillment

    gid = emulator.add_order(SHOPIFY_ORDER_ID, statuses=("CLOSED",))
    emulator.orders[gid][0].fulfillments.append(
        EmulatedFulfillment(id="gid://shopify/Fulfillment/9", tracking=[{"number": "OTHER1"}])
    )
    ship(place(), tracking_id="9400100000000000000007")
    assert run_next(monkeypatch)[1] == PostbackState.GAVE_UP
    assert CartPostback.objects.get().last_error == (
        f"Shopify order {SHOPIFY_ORDER_ID} is already fulfilled with tracking OTHER1; it was "
        "left as it is."
    )
    assert emulator.mutations == []


def test_samcart_and_1shoppingcart_are_not_supported_and_gateway_orders_have_none(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order]
) -> None:
    samcart = place(source="samcart", external_ref="88001", store="")
    one = place(source="1shoppingcart", external_ref="99001", store="")
    gateway = place(source="gateway", external_ref="", store="")
    for order in (samcart, one, gateway):
        ship(order, tracking_id="9400100000000000000008")
    assert queued_runs() == []
    assert not CartPostback.objects.filter(order=gateway).exists()
    assert postback_summary(CartPostback.objects.get(order=samcart)) == (
        "Not supported by SamCart's API: it can read orders but has no way to mark one "
        "shipped or attach tracking."
    )
    one_postback = CartPostback.objects.get(order=one)
    assert one_postback.state == PostbackState.NOT_SUPPORTED
    assert postback_summary(one_postback).startswith("Not supported by 1ShoppingCart's API")
    assert emulator.requests == []


def test_a_shipped_move_that_rolls_back_queues_nothing(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order]
) -> None:
    order = place()

    class Boom(Exception):
        pass

    def ship_then_fail() -> None:
        with transaction.atomic():
            ship(order, tracking_id="9400100000000000000009")
            raise Boom

    with pytest.raises(Boom):
        ship_then_fail()
    assert not CartPostback.objects.exists()
    assert queued_runs() == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("99999", 3600.0),
        ("soon", None),
        ("", None),
        ("nan", None),
    ],
)
def test_retry_after_header_values(header: str, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 4, 18, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Fri, 04 Dec 2026 18:00:30 GMT", now=now) == 30.0


def test_each_open_fulfillment_order_is_fulfilled_and_a_rerun_only_what_is_left(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two locations, two fulfillment orders: one fulfillmentCreate each. Had a worker died
    after the first (closed now, carrying our tracking), the re-run fulfils only the second."""
    from tests.carts.shopify_admin_emulator import EmulatedFulfillment

    gid = emulator.add_order(SHOPIFY_ORDER_ID, statuses=("OPEN", "OPEN"))
    first, second = emulator.orders[gid]
    ship(place(), tracking_id="9400100000000000000021")
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    creates = [
        r.variables["fulfillment"]["lineItemsByFulfillmentOrder"] for r in emulator.mutations
    ]
    assert creates == [[{"fulfillmentOrderId": first.id}], [{"fulfillmentOrderId": second.id}]]
    assert CartPostback.objects.get().remote_id == (
        f"{first.fulfillments[0].id} {second.fulfillments[0].id}"
    )

    gid = emulator.add_order("5550002", statuses=("CLOSED", "OPEN"))
    done, left = emulator.orders[gid]
    done.fulfillments.append(
        EmulatedFulfillment(
            id="gid://shopify/Fulfillment/1",
            tracking=[{"number": "9400100000000000000022", "company": "USPS", "url": ""}],
        )
    )
    emulator.requests.clear()
    ship(place(external_ref="5550002"), tracking_id="9400100000000000000022")
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    (create,) = emulator.mutations
    assert create.variables["fulfillment"]["lineItemsByFulfillmentOrder"] == [
        {"fulfillmentOrderId": left.id}
    ]
    assert len(done.fulfillments) == 1


def test_the_sweep_queues_again_a_post_back_whose_task_was_lost(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressrun.carts.postback import postbacks_requeue_stranded
    from pressrun.carts.tasks import requeue_stranded_postbacks

    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000031")
    emulator.add_order("5550003")
    waiting = place(external_ref="5550003")
    ship(waiting, tracking_id="9400100000000000000032")
    # The first one's task is lost; the second keeps its queued run.
    lost = CartPostback.objects.get(order=order)
    DBTaskResult.objects.filter(args_kwargs__kwargs__postback_id=lost.id).delete()
    start = timezone.now()
    monkeypatch.setattr(postback_module, "_now", lambda: start + timedelta(minutes=5))
    assert postbacks_requeue_stranded() == 0  # not overdue yet
    monkeypatch.setattr(postback_module, "_now", lambda: start + timedelta(minutes=11))
    assert requeue_stranded_postbacks.call() == 1
    assert postbacks_requeue_stranded() == 0  # queued now
    runs = [run.args_kwargs["kwargs"] for run in queued_runs()]
    assert {"postback_id": lost.id, "attempt": 1} in runs
    while queued_runs():
        run_next(monkeypatch)
    assert set(CartPostback.objects.values_list("state", flat=True)) == {PostbackState.SENT}
    assert [r.operation for r in emulator.mutations] == ["fulfillmentCreate", "fulfillmentCreate"]


def test_an_unexpected_error_is_retried_and_counted(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.CART_POSTBACK_ATTEMPTS = 2
    emulator.add_order(SHOPIFY_ORDER_ID)
    ship(place(), tracking_id="9400100000000000000041")

    def broken(postback: Any) -> str:
        raise KeyError("boom")

    monkeypatch.setattr(postback_module, "_send", broken)
    assert run_next(monkeypatch)[1] == PostbackState.RETRYING
    assert CartPostback.objects.get().last_error == "Unexpected error KeyError: 'boom'"
    assert run_next(monkeypatch)[1] == PostbackState.GAVE_UP
    assert CartPostback.objects.get().last_error == (
        "Unexpected error KeyError: 'boom' Gave up after 2 attempts."
    )
    assert queued_runs() == []


def test_a_letter_without_tracking_is_fulfilled_without_tracking_info(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    ship(place())
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    (create,) = emulator.mutations
    assert create.variables == {
        "fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": emulator.orders[gid][0].id}],
            "notifyCustomer": False,
        }
    }
    postback = CartPostback.objects.get()
    assert postback_summary(postback) == (
        f"Shipment sent to Shopify at {postback.sent_at:%Y-%m-%d %H:%M} UTC."
    )


def test_an_outdated_api_version_is_logged(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.add_order(SHOPIFY_ORDER_ID)
    emulator.answered_version = "2025-10"
    ship(place(), tracking_id="9400100000000000000051")
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    assert (
        "Shopify answered with API version 2025-10 instead of 2025-07: the requested version "
        "is no longer supported; set PRESSRUN_SHOPIFY_ADMIN_API_VERSION to a current one."
    ) in caplog.text


def test_a_corrected_tracking_number_is_put_on_the_fulfillment_shopify_has(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    fulfillment_id = emulator.orders[gid][0].fulfillments[0].id
    with transaction.atomic():
        correct_shipment(order, tracking_id="1Z999AA10123456784", carrier="UPS", service="Ground")
        # Queued in the correction's transaction.
        assert CartPostback.objects.get(order=order).state == PostbackState.PENDING
        assert len(queued_runs()) == 1
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    create, update = emulator.mutations
    assert create.operation == "fulfillmentCreate"
    assert (update.operation, update.variables) == (
        "fulfillmentTrackingInfoUpdate",
        {
            "fulfillmentId": fulfillment_id,
            "trackingInfoInput": {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            },
            "notifyCustomer": False,
        },
    )
    postback = CartPostback.objects.get(order=order)
    assert (postback.state, postback.tracking_id, postback.remote_id, postback.attempts) == (
        PostbackState.SENT,
        "1Z999AA10123456784",
        fulfillment_id,
        1,
    )
    assert [f.id for f in emulator.orders[gid][0].fulfillments] == [fulfillment_id]
    # The task again, and the sweep: nothing more is sent.
    postback_send.call(postback_id=postback.id, attempt=2)
    assert len(emulator.mutations) == 2
    assert queued_runs() == []


def test_a_rerun_after_shopify_took_the_correction_sends_nothing_more(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed after Shopify answered the update but before the row said so: the
    fulfillment carries the number already, so the run only records it."""
    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    run_next(monkeypatch)
    correct_shipment(order, tracking_id="9400100000000000000002", carrier="USPS")
    run = queued_runs()[0]
    postback_send.call(**run.args_kwargs["kwargs"])
    CartPostback.objects.filter(order=order).update(
        state=PostbackState.PENDING, tracking_id="9400100000000000000001"
    )
    assert postback_send.call(**run.args_kwargs["kwargs"]) == PostbackState.SENT
    assert [m.operation for m in emulator.mutations] == [
        "fulfillmentCreate",
        "fulfillmentTrackingInfoUpdate",
    ]


def test_a_correction_before_the_post_back_went_out_sends_the_corrected_tracking_once(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    correct_shipment(order, tracking_id="1Z999AA10123456784", carrier="UPS")
    assert len(queued_runs()) == 1  # the shipment's own run only
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    (create,) = emulator.mutations
    assert create.variables["fulfillment"]["trackingInfo"]["number"] == "1Z999AA10123456784"
    assert CartPostback.objects.get(order=order).tracking_id == "1Z999AA10123456784"


@pytest.mark.parametrize(
    "shipment",
    [
        # The same number and carrier: a corrected service.
        {"tracking_id": "9400100000000000000001", "carrier": "USPS", "service": "Priority"},
        # No number now (a letter): Shopify keeps the one it has.
        {"tracking_id": "", "carrier": "USPS"},
    ],
)
def test_a_correction_that_leaves_shopify_nothing_to_change_queues_nothing(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    monkeypatch: pytest.MonkeyPatch,
    shipment: dict[str, str],
) -> None:
    emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    run_next(monkeypatch)
    correct_shipment(order, **shipment)
    assert queued_runs() == []
    assert CartPostback.objects.get(order=order).state == PostbackState.SENT


@pytest.mark.parametrize("reopened", [True, False])
def test_a_correction_whose_fulfillment_was_cancelled_in_shopify_fulfils_what_is_open(
    emulator: ShopifyAdminEmulator,
    place: Callable[..., Order],
    monkeypatch: pytest.MonkeyPatch,
    reopened: bool,
) -> None:
    """Cancelling a fulfillment in Shopify opens its fulfillment order again: the corrected
    tracking then fulfils it anew, as a first post-back would; with nothing open, the
    post-back gives up saying so."""
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    run_next(monkeypatch)
    fulfillment_order = emulator.orders[gid][0]
    fulfillment_order.fulfillments[0].status = "CANCELLED"
    if reopened:
        fulfillment_order.status = "OPEN"
    correct_shipment(order, tracking_id="9400100000000000000002", carrier="USPS")
    _, state = run_next(monkeypatch)
    postback = CartPostback.objects.get(order=order)
    if reopened:
        assert state == PostbackState.SENT
        first, second = emulator.mutations
        assert (first.operation, second.operation) == ("fulfillmentCreate", "fulfillmentCreate")
        assert second.variables["fulfillment"]["trackingInfo"]["number"] == (
            "9400100000000000000002"
        )
        assert postback.remote_id == fulfillment_order.fulfillments[1].id
        assert postback.tracking_id == "9400100000000000000002"
    else:
        assert state == PostbackState.GAVE_UP
        assert postback.last_error == (
            f"No fulfillment order of Shopify order {SHOPIFY_ORDER_ID} can be fulfilled "
            "(their statuses: CLOSED)."
        )
        assert [m.operation for m in emulator.mutations] == ["fulfillmentCreate"]


def test_a_correction_made_while_the_tracking_was_being_sent_is_sent_after_it(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The correction commits after Shopify answered the first send and before the row says
    sent: it found nothing sent to correct; the run, finishing, sees the order changed and
    queues itself again."""
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")

    def correct_meanwhile(point: str) -> None:
        if point == "postback_sent_before_recorded":
            correct_shipment(order, tracking_id="9400100000000000000002", carrier="USPS")

    monkeypatch.setattr(postback_module, "fault_point", correct_meanwhile)
    assert run_next(monkeypatch)[1] == PostbackState.SENT  # what the run did
    postback = CartPostback.objects.get(order=order)
    assert (postback.state, postback.tracking_id) == (
        PostbackState.PENDING,
        "9400100000000000000001",
    )
    assert len(queued_runs()) == 1
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    _, update = emulator.mutations
    assert update.operation == "fulfillmentTrackingInfoUpdate"
    assert update.variables["fulfillmentId"] == emulator.orders[gid][0].fulfillments[0].id
    assert update.variables["trackingInfoInput"]["number"] == "9400100000000000000002"
    postback.refresh_from_db()
    assert (postback.state, postback.tracking_id) == (PostbackState.SENT, "9400100000000000000002")
    assert queued_runs() == []


def die_after_shopify_took_it(run: DBTaskResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the queued post-back `run` as a worker that dies once Shopify made the
    fulfillment, before the row says so (an exception stands for the death: nothing of the
    run goes on)."""

    def die(point: str) -> None:
        if point == "postback_sent_before_recorded":
            raise KeyboardInterrupt

    monkeypatch.setattr(postback_module, "fault_point", die)
    with pytest.raises(KeyboardInterrupt):
        postback_send.call(**run.args_kwargs["kwargs"])
    monkeypatch.undo()


def test_a_correction_after_a_send_that_died_before_recording_it_updates_that_fulfillment(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shopify made the fulfillment, the worker died before the row said so (no ids on it),
    then the tracking was corrected: the fulfillment carrying the number first sent is the
    one to correct, not a reason to give up."""
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    [run] = queued_runs()

    die_after_shopify_took_it(run, monkeypatch)
    postback = CartPostback.objects.get(order=order)
    assert (postback.state, postback.remote_id) == (PostbackState.PENDING, "")
    correct_shipment(order, tracking_id="1Z999AA10123456784", carrier="UPS")
    assert postback_send.call(**run.args_kwargs["kwargs"]) == PostbackState.SENT
    _, update = emulator.mutations
    fulfillment_id = emulator.orders[gid][0].fulfillments[0].id
    assert (update.operation, update.variables["fulfillmentId"]) == (
        "fulfillmentTrackingInfoUpdate",
        fulfillment_id,
    )
    postback.refresh_from_db()
    assert (postback.state, postback.remote_id, postback.tracking_id) == (
        PostbackState.SENT,
        fulfillment_id,
        "1Z999AA10123456784",
    )


def test_a_corrected_carrier_with_the_same_number_is_sent(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="1Z999AA10123456784", carrier="USPS")
    run_next(monkeypatch)
    assert CartPostback.objects.get(order=order).carrier == "USPS"
    correct_shipment(order, tracking_id="1Z999AA10123456784", carrier="UPS")
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    _, update = emulator.mutations
    assert update.variables["trackingInfoInput"] == {
        "number": "1Z999AA10123456784",
        "company": "UPS",
        "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
    }
    assert emulator.orders[gid][0].fulfillments[0].tracking == [
        update.variables["trackingInfoInput"]
    ]
    postback = CartPostback.objects.get(order=order)
    assert (postback.state, postback.carrier) == (PostbackState.SENT, "UPS")
    # Sent again by hand-made pending (a repeated task): Shopify has it, nothing more.
    CartPostback.objects.filter(id=postback.id).update(state=PostbackState.PENDING, carrier="USPS")
    postback_send.call(postback_id=postback.id, attempt=1)
    assert len(emulator.mutations) == 2


def test_a_merchants_own_fulfillment_with_the_old_number_is_left_alone(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row names the fulfillment pressrun made: only that one gets the correction."""
    from tests.carts.shopify_admin_emulator import EmulatedFulfillment

    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    run_next(monkeypatch)
    ours = emulator.orders[gid][0].fulfillments[0]
    theirs = EmulatedFulfillment(
        id="gid://shopify/Fulfillment/900", tracking=[{"number": "9400100000000000000001"}]
    )
    emulator.orders[gid][0].fulfillments.append(theirs)
    correct_shipment(order, tracking_id="9400100000000000000002", carrier="USPS")
    assert run_next(monkeypatch)[1] == PostbackState.SENT
    _, update = emulator.mutations
    assert update.variables["fulfillmentId"] == ours.id
    assert theirs.tracking == [{"number": "9400100000000000000001"}]


def test_a_run_that_sent_a_corrected_number_and_died_is_found_by_that_number(
    emulator: ShopifyAdminEmulator, place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shipped with T1, corrected to T2 before the post-back ran; the run sent T2 and died
    before recording it; then corrected to T3: the fulfillment carrying T2 is corrected."""
    gid = emulator.add_order(SHOPIFY_ORDER_ID)
    order = place()
    ship(order, tracking_id="9400100000000000000001", carrier="USPS")
    correct_shipment(order, tracking_id="9400100000000000000002", carrier="USPS")
    [run] = queued_runs()

    die_after_shopify_took_it(run, monkeypatch)
    assert CartPostback.objects.get(order=order).tracking_id == "9400100000000000000002"
    correct_shipment(order, tracking_id="9400100000000000000003", carrier="USPS")
    assert postback_send.call(**run.args_kwargs["kwargs"]) == PostbackState.SENT
    create, update = emulator.mutations
    assert create.variables["fulfillment"]["trackingInfo"]["number"] == "9400100000000000000002"
    assert update.variables["fulfillmentId"] == emulator.orders[gid][0].fulfillments[0].id
    assert update.variables["trackingInfoInput"]["number"] == "9400100000000000000003"


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_the_carrier_of_earlier_order_post_backs(
    place: Callable[..., Order],
) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    same, renumbered = place(), place()
    ship(same, tracking_id="9400100000000000000001", carrier="UPS")
    ship(renumbered, tracking_id="9400100000000000000002", carrier="FedEx")
    CartPostback.objects.update(carrier="")  # as written before carriers were recorded
    CartPostback.objects.filter(order=renumbered).update(tracking_id="OLD")
    executor = MigrationExecutor(connection)
    executor.migrate([("carts", "0014_cart_postback_carrier_of_orders")])
    executor = MigrationExecutor(connection)
    executor.migrate([("carts", "0015_fill_order_postback_carriers")])
    carriers = dict(CartPostback.objects.values_list("order_id", "carrier"))
    assert carriers == {same.id: "UPS", renumbered.id: ""}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
