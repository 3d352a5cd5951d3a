"""Where webhooks sit: above fulfillment (and so orders, billing, notifications), below the
channels, the customer page and the dashboard; the layers below publish events and never
import it. Its sweep and housekeeping are registered with core's registries, its handlers
with the domain events."""

from __future__ import annotations

from django.conf import settings

from pressrun.core.events import subscribers
from pressrun.core.tasks import _housekeeping, periodic_tasks
from pressrun.orders.events import AddressErrorRaised, OrderPaid, OrderPlaced, OrderShipped
from pressrun.webhooks import subscribers as webhook_subscribers
from pressrun.webhooks.tasks import WEBHOOK_SWEEP_INTERVAL, requeue_stranded_webhooks
from tests.fulfillment.test_layers import imports_of

ABOVE = ("gateway", "carts", "customers", "dashboard", "demo")
BELOW = (
    "core",
    "accounts",
    "catalog",
    "orders",
    "billing",
    "notifications",
    "payments",
    "fulfillment",
)


def test_webhooks_import_no_layer_above_them() -> None:
    assert imports_of("webhooks", ABOVE) == {}


def test_no_layer_below_imports_webhooks() -> None:
    for app in BELOW:
        assert imports_of(app, ("webhooks",)) == {}, app


def test_installed_after_fulfillment_and_before_the_channels() -> None:
    apps = [name.removeprefix("pressrun.") for name in settings.INSTALLED_APPS]
    assert apps.index("fulfillment") < apps.index("webhooks") < apps.index("gateway")


def test_registered_with_the_events_and_the_worker() -> None:
    assert webhook_subscribers.on_order_placed in subscribers(OrderPlaced)
    assert webhook_subscribers.on_order_paid in subscribers(OrderPaid)
    assert webhook_subscribers.on_order_shipped in subscribers(OrderShipped)
    assert webhook_subscribers.on_address_error in subscribers(AddressErrorRaised)
    [sweep] = [p for p in periodic_tasks() if p.task == requeue_stranded_webhooks]
    assert sweep.interval == WEBHOOK_SWEEP_INTERVAL
    assert "webhook_deliveries" in _housekeeping
