from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo installation (`pressrun demo`): it seeds a publisher, projects and credit
    through the other apps' services, so it stands above them all."""

    name = "pressrun.demo"
    label = "demo"
    verbose_name = "Demo"
