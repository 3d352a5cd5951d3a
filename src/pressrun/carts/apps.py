from django.apps import AppConfig


class CartsConfig(AppConfig):
    name = "pressrun.carts"
    label = "carts"
    verbose_name = "Carts"
