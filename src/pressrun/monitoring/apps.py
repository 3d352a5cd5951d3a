from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """What operators' probes and Prometheus read: /healthz, /readyz and /metrics. It reads
    the rows of orders, carts, notifications and the task queue, so it stands above every
    other app; nothing imports it (the request counter is a middleware named in settings)."""

    name = "pressrun.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
