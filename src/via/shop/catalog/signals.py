"""A renamed or moved category must show on cached pages at once: touching one product moves
the catalog stamp (catalog/caching.py), which every cached page's key carries."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from .models import Category, Product


@receiver(post_save, sender=Category)
@receiver(post_delete, sender=Category)
def category_changed(sender, **kwargs):
    newest = Product.objects.order_by("-updated_at").values("pk")[:1]
    Product.objects.filter(pk__in=newest).update(updated_at=timezone.now())
