from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "pressrun.dashboard"
    verbose_name = "Publisher dashboard"
