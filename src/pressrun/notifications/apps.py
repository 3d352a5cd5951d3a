from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "pressrun.notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Emails follow the orders' domain events (docs/architecture.md): `orders` never
        # imports this app.
        from pressrun.notifications.subscribers import register

        register()
