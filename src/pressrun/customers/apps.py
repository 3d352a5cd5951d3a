from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "pressrun.customers"
    verbose_name = "Customer pages"
