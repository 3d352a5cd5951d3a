from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "pressrun.billing"
    label = "billing"
    verbose_name = "Billing"
