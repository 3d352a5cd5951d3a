from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "pressrun.payments"
    label = "payments"
    verbose_name = "Payments (Stripe)"
