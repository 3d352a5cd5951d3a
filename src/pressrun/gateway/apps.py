from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "pressrun.gateway"
    label = "gateway"
    verbose_name = "Gateway"
