from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "via.shop.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (role groups after migrate)
