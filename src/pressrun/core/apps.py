from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pressrun.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Registers the HTTPS settings check (core/https.py).
        from pressrun.core import https  # noqa: F401
