from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "via.shop.orders"
    label = "orders"
    verbose_name = "Orders"
