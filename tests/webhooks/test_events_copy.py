"""The publisher's copy of what its webhook endpoint takes (`Publisher.webhook_events`):
equal to the endpoint after every save of its settings; never put back by a whole-row save of
a publisher loaded earlier; filled from the endpoints that exist by the
migration that brought it. With it, intake reads no endpoint for an order no webhook follows,
and still queues the deliveries of one that an endpoint takes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from pressrun.webhooks.services import WebhookSettingsInvalid, webhook_endpoint_save

PLACED, HELD, SHIPPED = (
    WebhookEventType.ORDER_PLACED,
    WebhookEventType.ORDER_HELD,
    WebhookEventType.ORDER_SHIPPED,
)


def stored_copy(publisher: Any) -> list[str]:
    return list(Publisher.objects.get(id=publisher.id).webhook_events)


@pytest.mark.django_db
def test_the_copy_follows_every_save_of_the_endpoint(publisher: Any, receiver: Any) -> None:
    assert stored_copy(publisher) == []
    webhook_endpoint_save(
        publisher=publisher, url=receiver.url, event_types=[SHIPPED, PLACED], enabled=True
    )
    assert stored_copy(publisher) == sorted([PLACED, SHIPPED])
    assert publisher.webhook_events == sorted([PLACED, SHIPPED])  # the instance saved with
    webhook_endpoint_save(publisher=publisher, url=receiver.url, event_types=[HELD], enabled=True)
    assert stored_copy(publisher) == [HELD]
    webhook_endpoint_save(publisher=publisher, url=receiver.url, event_types=[HELD], enabled=False)
    assert (stored_copy(publisher), publisher.webhook_events) == ([], [])


@pytest.mark.django_db
def test_a_refused_save_leaves_the_copy(publisher: Any, receiver: Any) -> None:
    webhook_endpoint_save(publisher=publisher, url=receiver.url, event_types=[PLACED], enabled=True)
    with pytest.raises(WebhookSettingsInvalid):
        webhook_endpoint_save(publisher=publisher, url=receiver.url, event_types=[], enabled=True)
    assert stored_copy(publisher) == [PLACED]


@pytest.mark.django_db
def test_a_whole_row_save_of_an_earlier_publisher_leaves_the_copy(
    publisher: Any, receiver: Any
) -> None:
    loaded_before = Publisher.objects.get(id=publisher.id)
    webhook_endpoint_save(publisher=publisher, url=receiver.url, event_types=[PLACED], enabled=True)
    loaded_before.company = "Renamed"
    loaded_before.save()  # as the operator's admin form saves it
    stored = Publisher.objects.get(id=publisher.id)
    assert (stored.company, stored.webhook_events) == ("Renamed", [PLACED])


@pytest.mark.django_db
def test_intake_reads_no_endpoint_when_no_webhook_follows_and_queues_when_one_does(
    publisher: Any, cd: Any, place: Callable[..., Any], receiver: Any
) -> None:
    with CaptureQueriesContext(connection) as captured:
        order = place(publisher, cd, invoice="NO-HOOKS")
    assert order.id is not None
    assert not [q for q in captured.captured_queries if "webhooks_webhookendpoint" in q["sql"]]
    assert WebhookDelivery.objects.count() == 0
    webhook_endpoint_save(publisher=publisher, url=receiver.url, event_types=[PLACED], enabled=True)
    fresh = Publisher.objects.get(id=publisher.id)  # as the gateway reads it per request
    followed = place(fresh, cd, invoice="HOOKED")
    assert list(WebhookDelivery.objects.values_list("order_id", "event_type")) == [
        (followed.id, PLACED)
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_copy_from_the_endpoints(make_publisher: Any) -> None:
    on, off = make_publisher(), make_publisher()
    now = timezone.now()
    for publisher, enabled in ((on, True), (off, False)):
        WebhookEndpoint.objects.create(
            publisher_id=publisher.id,
            url="https://hooks.example/in",
            secret_sealed="x",
            event_types=[SHIPPED, PLACED],
            enabled=enabled,
            created_at=now,
            updated_at=now,
            secret_created_at=now,
        )
    Publisher.objects.update(webhook_events=[])  # as before the copy existed
    executor = MigrationExecutor(connection)
    executor.migrate([("webhooks", "0001_webhook_endpoints_and_deliveries")])
    executor = MigrationExecutor(connection)
    executor.migrate([("webhooks", "0002_fill_publisher_webhook_events")])
    assert (stored_copy(on), stored_copy(off)) == (sorted([PLACED, SHIPPED]), [])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_a_partly_loaded_publisher_saves_only_what_it_loaded(make_publisher: Any) -> None:
    publisher = make_publisher(balance="12.00")
    partly = Publisher.objects.only("id", "company").get(id=publisher.id)
    Publisher.objects.filter(id=publisher.id).update(email="changed@example.com")
    partly.company = "Renamed"
    with CaptureQueriesContext(connection) as captured:
        partly.save()
    stored = Publisher.objects.get(id=publisher.id)
    assert (stored.company, stored.email, stored.balance) == (
        "Renamed",
        "changed@example.com",
        Decimal("12.00"),
    )
    assert len(captured.captured_queries) == 1  # no deferred field loaded to save it
