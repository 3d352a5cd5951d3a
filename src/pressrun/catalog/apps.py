from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "pressrun.catalog"
    label = "catalog"
    verbose_name = "Catalog"
