from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "pressrun.orders"
    label = "orders"
    verbose_name = "Orders"
