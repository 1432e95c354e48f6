"""Category -> subcategory -> product, with images; only approved products are shown."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Category(models.Model):
    """A top-level category (parent is None) or a subcategory of one."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.CASCADE
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id else self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:category", args=[self.slug])


class ProductStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ProductQuerySet(models.QuerySet):
    def visible(self) -> ProductQuerySet:
        return self.filter(status=ProductStatus.APPROVED)


class Product(models.Model):
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="products", on_delete=models.PROTECT
    )
    category = models.ForeignKey(Category, related_name="products", on_delete=models.PROTECT)
    code = models.CharField("stock code", max_length=32, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=ProductStatus.choices, default=ProductStatus.PENDING
    )
    popularity = models.PositiveIntegerField(default=0, help_text="Units sold.")
    created_at = models.DateTimeField(default=timezone.now)
    # Set on every change, stock included (update() callers set it themselves): the page caches
    # are keyed on the latest of these, so a change is visible on the next request.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("moderate_product", "Can approve or reject products")]
        indexes = [
            models.Index(fields=["status", "category"]),
            models.Index(fields=["status", "price"]),
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["status", "-popularity"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:product", args=[self.pk])

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @property
    def main_image(self) -> ProductImage | None:
        images = list(self.images.all())
        return images[0] if images else None


class ProductImage(models.Model):
    product = models.ForeignKey(Product, related_name="images", on_delete=models.CASCADE)
    image = models.FileField(upload_to="products/")
    alt = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.alt or self.image.name
