from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pressrun.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Registers the HTTPS settings check (core/https.py).
        from pressrun.core import https  # noqa: F401

        # Core's own periodic task; the apps register theirs (and their housekeeping) in
        # their own `ready()` (core.tasks: core imports no app).
        from pressrun.core.tasks import HOUSEKEEPING_INTERVAL, housekeeping, register_periodic_task

        register_periodic_task(housekeeping, interval=HOUSEKEEPING_INTERVAL)
