from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "pressrun.fulfillment"
    label = "fulfillment"
    verbose_name = "Fulfillment"

    def ready(self) -> None:
        # The postage window's task; `pressrun worker` starts every registered periodic task
        # (core.tasks: core imports no app).
        from pressrun.core.tasks import register_periodic_task
        from pressrun.fulfillment.tasks import close_postage_windows, postage_window_sweep_interval

        register_periodic_task(close_postage_windows, interval=postage_window_sweep_interval())
