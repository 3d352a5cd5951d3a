from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pressrun.core"
    label = "core"
    verbose_name = "Core"
