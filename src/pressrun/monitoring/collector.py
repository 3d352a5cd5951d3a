"""The business numbers of /metrics, read from the database at each scrape
(monitoring/selectors.py): exact whichever process or machine answers the scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db import DatabaseError
from django.utils import timezone

from pressrun.monitoring import selectors

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric


class DatabaseCollector:
    """A prometheus-client collector (anything with `collect()`). Should the database not
    answer, it reports `pressrun_database_up 0` and nothing else of its own, so the scrape
    still succeeds with the request metrics."""

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = timezone.now()
        try:
            orders = selectors.order_counts()
            queue = selectors.task_queue(now=now)
            workers = selectors.workers(now=now)
            deliveries = selectors.cart_delivery_counts()
            emails = selectors.email_counts()
        except DatabaseError:
            yield GaugeMetricFamily(
                "pressrun_database_up", "Whether the database answered this scrape.", value=0
            )
            return
        yield GaugeMetricFamily(
            "pressrun_database_up", "Whether the database answered this scrape.", value=1
        )

        placed = CounterMetricFamily(
            "pressrun_orders_placed",
            "Orders placed, by channel (gateway, dashboard, shopify, samcart, 1shoppingcart) "
            "and mode (prod, test); deleted orders included.",
            labels=["channel", "mode"],
        )
        for (channel, mode), count in sorted(orders.placed.items()):
            placed.add_metric([channel, mode], count)
        yield placed
        yield GaugeMetricFamily(
            "pressrun_orders_hold", "Orders on HOLD (awaiting payment).", value=orders.hold_count
        )
        yield GaugeMetricFamily(
            "pressrun_orders_hold_value_dollars",
            "Total cost of the orders on HOLD, in dollars.",
            value=float(orders.hold_value),
        )

        yield GaugeMetricFamily(
            "pressrun_tasks_queued",
            "Background tasks due to run and waiting for a worker.",
            value=queue.due,
        )
        yield GaugeMetricFamily(
            "pressrun_tasks_scheduled",
            "Background tasks queued to run later (retries, periodic tasks).",
            value=queue.scheduled,
        )
        yield GaugeMetricFamily(
            "pressrun_orders_unrelayed",
            "Placed orders waiting for a worker to queue their follow-ups (email, address check).",
            value=queue.unrelayed_orders,
        )
        yield GaugeMetricFamily(
            "pressrun_tasks_oldest_queued_wait_seconds",
            "How long the longest-waiting due task or unrelayed placed order has waited for a "
            "worker (0: none waits).",
            value=queue.oldest_due_wait_seconds,
        )
        yield GaugeMetricFamily(
            "pressrun_workers_alive",
            "pressrun worker processes with a fresh heartbeat.",
            value=workers.alive,
        )
        if workers.last_heartbeat_age_seconds is not None:
            yield GaugeMetricFamily(
                "pressrun_worker_last_heartbeat_age_seconds",
                "Seconds since the freshest worker heartbeat (absent: no worker ever ran).",
                value=workers.last_heartbeat_age_seconds,
            )

        by_outcome = GaugeMetricFamily(
            "pressrun_cart_deliveries",
            "Cart deliveries (notifications) received, by cart and current outcome.",
            labels=["cart", "outcome"],
        )
        for (cart, outcome), count in sorted(deliveries.items()):
            by_outcome.add_metric([cart, outcome], count)
        yield by_outcome
        by_status = GaugeMetricFamily(
            "pressrun_emails",
            "Emails by current status (queued, sending, sent, failed).",
            labels=["status"],
        )
        for status, count in sorted(emails.items()):
            by_status.add_metric([status], count)
        yield by_status
