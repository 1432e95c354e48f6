from django.core.cache import cache

from .models import Category


def navigation(request):
    """Top-level categories for the header menu, cached for a minute."""
    top = cache.get("via:nav-categories")
    if top is None:
        top = list(Category.objects.filter(parent__isnull=True).values("name", "slug"))
        cache.set("via:nav-categories", top, 60)
    return {"nav_categories": top}
