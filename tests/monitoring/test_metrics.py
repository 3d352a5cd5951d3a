"""/metrics: refused without its token, and after a known sequence of orders, cart
deliveries and emails, every business number is exactly what happened; requests are counted
by route, method and status."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.mail.backends import locmem
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from pressrun.carts.tasks import process_delivery
from pressrun.core.tasks import relays_run
from pressrun.monitoring import collector, selectors
from pressrun.notifications.models import OutgoingEmail
from pressrun.notifications.tasks import email_send, order_placed_email
from pressrun.orders.changes import order_delete
from pressrun.orders.models import Order, OrderStatus
from tests.carts.samcart_payloads import as_json, notification
from tests.gateway.helpers import order_fields, submit

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metrics_on(settings: Any) -> Any:
    settings.METRICS_TOKEN = TOKEN
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def scrape(client: Client | None = None) -> Samples:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def business(samples: Samples) -> dict[str, Any]:
    """The database's numbers, without the zero series (every channel, mode, cart, outcome
    and status is reported, at 0 when there is none)."""
    request_metrics = ("pressrun_http_", "pressrun_worker_last_heartbeat")
    return {
        name + "".join(f"[{v}]" for _, v in labels): value
        for (name, labels), value in samples.items()
        if not name.startswith(request_metrics) and (value or not labels)
    }


def test_without_a_token_set_metrics_are_off(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404
    assert response.content.decode() == (
        "Metrics are off on this installation: set PRESSRUN_METRICS_TOKEN to turn /metrics on.\n"
    )


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", f"Basic {TOKEN}", "Bearer wrong-token", f"Bearer {TOKEN}x"],
)
def test_a_request_without_the_token_is_refused(metrics_on: Any, authorization: str | None) -> None:
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client().get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="pressrun metrics"'
    assert response.content.decode() == (
        'This needs the header "Authorization: Bearer <token>" with the token of '
        "PRESSRUN_METRICS_TOKEN.\n"
    )
    assert b"pressrun_" not in response.content


def test_the_token_is_accepted_in_the_header_only(metrics_on: Any) -> None:
    assert Client().get(f"/metrics?token={TOKEN}").status_code == 401
    ok = Client().get("/metrics", HTTP_AUTHORIZATION=f"bearer  {TOKEN}")
    assert ok.status_code == 200
    assert b"pressrun_database_up 1.0" in ok.content
    # Whatever Host the scraper sends, over plain HTTP even when published on https.
    metrics_on.PRESSRUN_PUBLIC_BASE_URL = "https://orders.example.com"
    metrics_on.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_HOST="10.0.0.5")
    assert response.status_code == 200


def test_an_empty_installation_reports_zeros(metrics_on: Any) -> None:
    assert business(scrape()) == {
        "pressrun_database_up": 1.0,
        "pressrun_orders_hold": 0.0,
        "pressrun_orders_hold_value_dollars": 0.0,
        "pressrun_orders_unrelayed": 0.0,
        "pressrun_tasks_queued": 0.0,
        "pressrun_tasks_scheduled": 0.0,
        "pressrun_tasks_oldest_queued_wait_seconds": 0.0,
        "pressrun_workers_alive": 0.0,
    }
    samples = scrape()
    # Every channel and mode, cart and outcome, email status has its series from the start.
    assert sum(1 for name, _ in samples if name == "pressrun_orders_placed_total") == 10
    # 3 carts x 7 outcomes (pending, order_created, routed, duplicate, ignored, unmatched,
    # failed).
    assert sum(1 for name, _ in samples if name == "pressrun_cart_deliveries") == 21
    assert sum(1 for name, _ in samples if name == "pressrun_emails") == 4


def test_the_numbers_after_a_known_sequence_of_orders(
    metrics_on: Any, make_publisher: Any, make_project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client()
    paying = make_publisher(balance="100")
    paying_cd = make_project(paying, price=Decimal("4.50"), ecommerce_ids="{294010}")
    broke = make_publisher()
    broke_cd = make_project(broke, price=Decimal("4.50"))

    # Gateway: two paid production orders and a test order; two production orders on HOLD.
    for invoice in ("P-1", "P-2"):
        assert submit(client, **order_fields(paying, paying_cd, invoice=invoice))["SUCCESS"]
    assert submit(client, **order_fields(paying, paying_cd, invoice="T-1", mode="test"))["SUCCESS"]
    for invoice in ("H-1", "H-2"):
        assert submit(client, **order_fields(broke, broke_cd, invoice=invoice))["SUCCESS"]
    assert Order.objects.filter(status=OrderStatus.HOLD).count() == 2

    # SamCart: one notification that makes an order, one for a product nobody sells.
    samcart = f"/carts/samcart?idpub={paying.id}&token={paying.cart_token}"
    for order_id, product_id in (("9001", "294010"), ("9002", "777777")):
        body = as_json(notification(order_id=order_id, product_id=product_id))
        assert client.post(samcart, data=body, content_type="application/json").status_code == 200
    before_processing = business(scrape(client))
    assert before_processing["pressrun_cart_deliveries[samcart][pending]"] == 2

    # The worker's part, run here as it would: the deliveries, then the order emails.
    run_queued(process_delivery)
    # The publisher deletes one HOLD order: it was placed all the same.
    held = Order.objects.filter(status=OrderStatus.HOLD).order_by("id").first()
    assert held is not None
    order_delete(publisher=broke, order_id=held.id, actor="publisher")
    # The relay queues the follow-ups of the five orders left (the deleted one has none).
    assert relays_run() == 5
    run_queued(order_placed_email)
    # The first email's mail server refuses it for good (one attempt allowed); the rest go.
    metrics_on.EMAIL_SEND_ATTEMPTS = 1
    first = OutgoingEmail.objects.order_by("id").first()
    assert first is not None
    with monkeypatch.context() as patched:
        patched.setattr(locmem.EmailBackend, "send_messages", refuse)
        assert email_send.call(email_id=first.id) is False
    run_queued(email_send)
    # What is left queued: the address checks of the three paid orders; the oldest of them
    # has waited 90 s when the scrape is made.
    now = timezone.now()
    monkeypatch.setattr(collector, "timezone", FixedClock(now))
    oldest = DBTaskResult.objects.filter(status=TaskResultStatus.READY).order_by("enqueued_at")
    DBTaskResult.objects.filter(id=oldest[0].id).update(enqueued_at=now - timedelta(seconds=90))

    remaining_hold = Order.objects.get(status=OrderStatus.HOLD)
    assert (remaining_hold.products_cost, remaining_hold.shipping_cost) == (
        Decimal("4.50"),
        Decimal("1.50"),
    )
    assert business(scrape(client)) == {
        "pressrun_database_up": 1.0,
        # Deleted orders were placed all the same: the counter never goes down.
        "pressrun_orders_placed_total[gateway][prod]": 4.0,
        "pressrun_orders_placed_total[gateway][test]": 1.0,
        "pressrun_orders_placed_total[samcart][prod]": 1.0,
        "pressrun_orders_hold": 1.0,
        "pressrun_orders_hold_value_dollars": 6.0,
        "pressrun_orders_unrelayed": 0.0,
        "pressrun_tasks_queued": 3.0,
        "pressrun_tasks_scheduled": 0.0,
        "pressrun_tasks_oldest_queued_wait_seconds": 90.0,
        "pressrun_workers_alive": 0.0,
        "pressrun_cart_deliveries[samcart][order_created]": 1.0,
        "pressrun_cart_deliveries[samcart][unmatched]": 1.0,
        # The test order's notice to its publisher (refused by the mail server), the SamCart
        # order's notice to its customer, the HOLD reminder to the publisher without credit.
        "pressrun_emails[failed]": 1.0,
        "pressrun_emails[sent]": 2.0,
    }
    assert before_processing == {
        "pressrun_database_up": 1.0,
        "pressrun_orders_placed_total[gateway][prod]": 4.0,
        "pressrun_orders_placed_total[gateway][test]": 1.0,
        "pressrun_orders_hold": 2.0,
        "pressrun_orders_hold_value_dollars": 12.0,
        # The five gateway orders wait for the worker's relay to queue their follow-ups; the
        # deliveries wait out SamCart's grace window.
        "pressrun_orders_unrelayed": 5.0,
        "pressrun_tasks_queued": 0.0,
        "pressrun_tasks_scheduled": 2.0,
        "pressrun_tasks_oldest_queued_wait_seconds": before_processing[
            "pressrun_tasks_oldest_queued_wait_seconds"
        ],
        "pressrun_workers_alive": 0.0,
        "pressrun_cart_deliveries[samcart][pending]": 2.0,
    }
    assert 0 < before_processing["pressrun_tasks_oldest_queued_wait_seconds"] < 60


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def refuse(self: Any, messages: Any) -> int:
    raise smtplib.SMTPRecipientsRefused({"customer@example.com": (550, b"no such user")})


def run_queued(task_to_run: Any) -> None:
    """Run every queued run of `task_to_run` (due or not) as a worker would, marking each
    finished."""
    for run in DBTaskResult.objects.filter(
        task_path=task_to_run.module_path, status=TaskResultStatus.READY
    ).order_by("enqueued_at"):
        task_to_run.call(**run.args_kwargs["kwargs"])
        DBTaskResult.objects.filter(id=run.id).update(
            status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now()
        )


def request_counts(samples: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (labels[0][1], labels[1][1], labels[2][1]): value
        for (name, labels), value in samples.items()
        if name == "pressrun_http_requests_total"
    }


def latency_counts(samples: Samples) -> dict[str, float]:
    return {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "pressrun_http_request_duration_seconds_count"
    }


def increase(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {
        key: value - before.get(key, 0)
        for key, value in after.items()
        if value != before.get(key, 0)
    }


def test_requests_are_counted_by_route_method_and_status(metrics_on: Any) -> None:
    client = Client()
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
    # Paths no URL pattern matches share one series, whatever they are.
    assert client.get("/wp-login.php").status_code == 404
    assert client.get("/no/such/page/4711").status_code == 404
    # A route with a parameter is one series for all its values.
    assert client.get("/c/" + "a" * 24).status_code == 404
    assert client.get("/c/" + "b" * 30).status_code == 404
    assert client.get("/gateway/status?function=getOrderStatusByInvoice").status_code == 200
    after = scrape(client)

    customer_page = next(
        endpoint for endpoint, _, _ in request_counts(after) if endpoint.startswith("/c/")
    )
    assert increase(request_counts(before), request_counts(after)) == {
        ("/healthz", "GET", "200"): 3,
        ("/healthz", "POST", "405"): 1,
        ("unmatched", "GET", "404"): 2,
        (customer_page, "GET", "404"): 2,
        ("/gateway/status", "GET", "200"): 1,
        ("/metrics", "GET", "200"): 1,  # the first scrape, counted once it was answered
    }
    assert increase(latency_counts(before), latency_counts(after)) == {
        "/healthz": 4,
        "unmatched": 2,
        customer_page: 2,
        "/gateway/status": 1,
        "/metrics": 1,
    }
    # Every request's duration is in one bucket or another, and the +Inf bucket has them all.
    for endpoint, count in latency_counts(after).items():
        key = (
            "pressrun_http_request_duration_seconds_bucket",
            (("endpoint", endpoint), ("le", "+Inf")),
        )
        assert after[key] == count


def test_without_a_database_the_scrape_still_answers_with_the_request_metrics(
    metrics_on: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise OperationalError("connection to server at 10.0.0.9 failed")

    client = Client()
    assert client.get("/healthz").status_code == 200
    monkeypatch.setattr(selectors, "order_counts", unreachable)
    samples = scrape(client)
    assert samples[("pressrun_database_up", ())] == 0
    assert {name for name, _ in samples if not name.startswith("pressrun_http_")} == {
        "pressrun_database_up"
    }
    assert (
        samples[
            (
                "pressrun_http_requests_total",
                (("endpoint", "/healthz"), ("method", "GET"), ("status", "200")),
            )
        ]
        >= 1
    )
