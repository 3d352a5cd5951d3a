from django.apps import AppConfig


class CartsConfig(AppConfig):
    name = "pressrun.carts"
    label = "carts"
    verbose_name = "Carts"

    def ready(self) -> None:
        # The sweep for deliveries left pending with no task; `pressrun worker` starts every
        # registered periodic task (core.tasks: core imports no app).
        from pressrun.carts.rate_limit import delivery_rate_windows_prune
        from pressrun.carts.services import delivery_bodies_expire
        from pressrun.carts.tasks import STALE_DELIVERY_SWEEP_INTERVAL, requeue_stale_deliveries
        from pressrun.core.tasks import register_housekeeping, register_periodic_task

        register_periodic_task(requeue_stale_deliveries, interval=STALE_DELIVERY_SWEEP_INTERVAL)
        # Raw bodies past retention of deliveries that made no order; old rate-limit windows.
        register_housekeeping("cart_bodies_emptied", delivery_bodies_expire)
        register_housekeeping("cart_rate_windows", delivery_rate_windows_prune)
