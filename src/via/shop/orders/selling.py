"""Which orders a seller may see and move along: those holding one of their products."""

from django.db.models import QuerySet

from .models import Order


def orders_for(user) -> QuerySet:
    if user.is_superuser or user.has_perm("catalog.moderate_product"):
        return Order.objects.filter(is_demo=False)
    return Order.objects.filter(is_demo=False, lines__product__seller=user).distinct()
