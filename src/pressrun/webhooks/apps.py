from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "pressrun.webhooks"
    label = "webhooks"
    verbose_name = "Publisher webhooks"

    def ready(self) -> None:
        # Webhooks follow the orders' domain events (docs/architecture.md): `orders`,
        # `billing` and `fulfillment` publish them and never import this app. The sweep and
        # the housekeeping are started by `pressrun worker` (core.tasks: core imports no app).
        from pressrun.core.tasks import register_housekeeping, register_periodic_task
        from pressrun.webhooks.services import webhook_deliveries_delete_old
        from pressrun.webhooks.subscribers import register
        from pressrun.webhooks.tasks import WEBHOOK_SWEEP_INTERVAL, requeue_stranded_webhooks

        register()
        register_periodic_task(requeue_stranded_webhooks, interval=WEBHOOK_SWEEP_INTERVAL)
        register_housekeeping("webhook_deliveries", webhook_deliveries_delete_old)
