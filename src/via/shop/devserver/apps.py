from django.apps import AppConfig


class DevServerConfig(AppConfig):
    name = "via.shop.devserver"
    label = "devserver"
    verbose_name = "Development server"
