from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "pressrun.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # Every `pressrun worker` relays the placed orders to their follow-ups (core.tasks:
        # core imports no app).
        from pressrun.core.tasks import register_relay
        from pressrun.orders.relay import placed_orders_relay

        register_relay("placed_orders", placed_orders_relay)
