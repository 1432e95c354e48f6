from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "via.shop.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (category changes move the catalog stamp)
