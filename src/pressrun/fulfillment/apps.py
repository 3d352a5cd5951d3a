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

        # The production floor: batches follow every move of their orders (batches.py), and
        # the operator bar gets the floor's pages (core.operator_pages: core imports no app).
        from pressrun.core.events import subscribe
        from pressrun.core.operator_pages import register_operator_page
        from pressrun.fulfillment.batches import batch_follow_move
        from pressrun.orders.events import FulfillmentMoved

        subscribe(FulfillmentMoved, batch_follow_move)
        register_operator_page(label="Floor", url_name="floor:queue", section="floor", order=10)
        register_operator_page(
            label="Batches", url_name="floor:batches", section="batches", order=20
        )

        # The floor's actions on the operator's order page (others add theirs the same way).
        from pressrun.fulfillment.order_page import register_order_page_section
        from pressrun.fulfillment.views.order import floor_actions

        register_order_page_section(
            key="floor",
            order=10,
            template="fulfillment/floor/floor_actions.html",
            context=floor_actions,
        )

        # The address check: its event handlers, its sweep, and the operators' page.
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
        from pressrun.fulfillment.address.order_page import address_section

        register_order_page_section(
            key="address",
            order=20,
            template="fulfillment/address/order_section.html",
            context=address_section,
        )
