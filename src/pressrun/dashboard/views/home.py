"""Home: balance, HOLD orders and what paying releases, recent orders, problems (cart
products and deliveries, address errors, webhooks and cart post-backs that gave up,
warehouse orders in error), a chart."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pressrun.billing import selectors as billing_selectors
from pressrun.carts import selectors as cart_selectors
from pressrun.carts.postback import postback_summary
from pressrun.dashboard import selectors
from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.charts import orders_chart

PROBLEMS_SHOWN = 5


@publisher_required
@require_GET
def home(request: PublisherRequest) -> HttpResponse:
    publisher = request.publisher
    unmatched = cart_selectors.unmatched_products_open(publisher)
    failed = selectors.failed_deliveries(publisher=publisher)
    errors = selectors.error_orders(publisher=publisher)
    webhooks = selectors.failed_webhooks(publisher=publisher)
    postbacks = selectors.postbacks_given_up(publisher=publisher)
    warehouse_errors = selectors.warehouse_orders_in_error(publisher=publisher)
    counts = {
        "unmatched_count": unmatched.count(),
        "failed_count": failed.count(),
        "error_count": errors.count(),
        "webhook_count": webhooks.count(),
        "postback_count": postbacks.count(),
        "warehouse_error_count": warehouse_errors.count(),
    }
    context = {
        "section": "home",
        "holds": billing_selectors.hold_summary(publisher=publisher),
        "recent_orders": selectors.recent_orders(publisher=publisher),
        "unmatched": list(unmatched[:PROBLEMS_SHOWN]),
        "failed": [
            (delivery, cart_selectors.delivery_replayable_by_publisher(delivery))
            for delivery in failed.defer("body", "headers")[:PROBLEMS_SHOWN]
        ],
        "errors": list(errors[:PROBLEMS_SHOWN]),
        "webhooks": list(webhooks.defer("body")[:PROBLEMS_SHOWN]),
        "postbacks": [
            (postback, postback_summary(postback)) for postback in postbacks[:PROBLEMS_SHOWN]
        ],
        "warehouse_errors": list(warehouse_errors[:PROBLEMS_SHOWN]),
        **counts,
        "problem_count": sum(counts.values()),
        "chart": orders_chart(selectors.orders_per_day(publisher=publisher)),
    }
    return render(request, "dashboard/home.html", context)
