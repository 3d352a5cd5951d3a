from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pressrun.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from pressrun.core.request_hygiene import honour_only_text_encodings

        # Before any request is built: Django must never take a codec such as rot13 as a
        # request's charset (core/request_hygiene.py).
        honour_only_text_encodings()

        # django-tasks' debug line for a queued task is written by pressrun's task backend,
        # which builds the task's result only when it is wanted (core/task_backend.py).
        from django_tasks.signals import log_task_enqueued, task_enqueued

        task_enqueued.disconnect(log_task_enqueued)

        # Registers the HTTPS settings check (core/https.py).
        from pressrun.core import https  # noqa: F401

        # Core's own periodic task; the apps register theirs (and their housekeeping) in
        # their own `ready()` (core.tasks: core imports no app).
        from pressrun.core.rate_limit import rate_windows_prune
        from pressrun.core.tasks import (
            HOUSEKEEPING_INTERVAL,
            housekeeping,
            register_housekeeping,
            register_periodic_task,
        )

        register_periodic_task(housekeeping, interval=HOUSEKEEPING_INTERVAL)
        # The rate limit's old windows, whichever endpoint counted them (core/rate_limit.py).
        register_housekeeping("rate_windows", rate_windows_prune)
