"""What-if settings for `bench/run.py --settings no_request_metrics_settings`: pressrun without
the request-metrics middleware (monitoring/), to see what counting and timing every request
in Prometheus' multiprocess files costs per order (docs/performance.md)."""

from pressrun.settings import *  # noqa: F403
from pressrun.settings import MIDDLEWARE

MIDDLEWARE = [
    m for m in MIDDLEWARE if m != "pressrun.monitoring.middleware.RequestMetricsMiddleware"
]
