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
