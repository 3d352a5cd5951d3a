from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "pressrun.notifications"
    verbose_name = "Notifications"
