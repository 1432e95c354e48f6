from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "via.shop.catalog"
    label = "catalog"
    verbose_name = "Catalog"
