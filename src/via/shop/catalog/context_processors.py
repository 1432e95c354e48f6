from django.utils.functional import SimpleLazyObject

from .caching import catalog_stamp
from .models import Category


def navigation(request):
    """Top-level categories for the header menu. Both are lazy: base.html caches the menu on
    the catalog stamp, so the categories are read only when the menu is rendered anew."""
    return {
        "nav_categories": SimpleLazyObject(
            lambda: list(Category.objects.filter(parent__isnull=True).values("name", "slug"))
        ),
        "nav_stamp": SimpleLazyObject(catalog_stamp),
    }
