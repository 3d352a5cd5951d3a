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

        # The address check: its event handlers, its sweep, and the operators' page.
        from pressrun.core.operator_pages import register_operator_page
        from pressrun.fulfillment.address import checks, subscribers  # noqa: F401 - checks registers
        from pressrun.fulfillment.address.tasks import address_sweep, address_sweep_interval

        subscribers.register()
        register_periodic_task(address_sweep, interval=address_sweep_interval())
        register_operator_page(
            label="Address errors",
            url_name="address_errors:list",
            section="address_errors",
            order=30,
        )
