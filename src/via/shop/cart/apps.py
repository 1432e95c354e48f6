from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "via.shop.cart"
    label = "cart"
    verbose_name = "Cart"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (merge the session cart at sign-in)
