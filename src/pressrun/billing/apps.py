from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "pressrun.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from pressrun.billing.services import status_calls_delete_old
        from pressrun.core.tasks import register_housekeeping

        register_housekeeping("status_calls", status_calls_delete_old)
