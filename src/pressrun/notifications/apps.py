from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "pressrun.notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Emails follow the orders' domain events (docs/architecture.md): `orders` never
        # imports this app.
        from pressrun.core.tasks import register_periodic_task
        from pressrun.notifications.subscribers import register
        from pressrun.notifications.tasks import EMAIL_SWEEP_INTERVAL, requeue_stranded_emails

        register()
        # The sweep for emails nothing would send; `pressrun worker` starts every registered
        # periodic task (core.tasks: core imports no app).
        register_periodic_task(requeue_stranded_emails, interval=EMAIL_SWEEP_INTERVAL)
