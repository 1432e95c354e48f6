from django.contrib import admin
from django.utils import timezone

from .models import Category, Product, ProductImage, ProductStatus


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "slug", "position")
    list_filter = ("parent",)
    prepopulated_fields = {"slug": ("name",)}


@admin.action(description="Approve selected products", permissions=["moderate"])
def approve(modeladmin, request, queryset):
    queryset.update(status=ProductStatus.APPROVED, updated_at=timezone.now())


@admin.action(description="Reject selected products", permissions=["moderate"])
def reject(modeladmin, request, queryset):
    queryset.update(status=ProductStatus.REJECTED, updated_at=timezone.now())


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "category", "seller", "price", "stock", "status")
    list_filter = ("status", "category__parent", "seller")
    search_fields = ("name", "code")
    raw_id_fields = ("seller",)
    inlines = [ProductImageInline]
    actions = [approve, reject]

    def has_moderate_permission(self, request):
        return request.user.has_perm("catalog.moderate_product")

    def get_readonly_fields(self, request, obj=None):
        if self.has_moderate_permission(request):
            return ("popularity",)
        return ("seller", "status", "popularity")

    def save_model(self, request, obj, form, change):
        # A seller's new listing is theirs and waits for an administrator's review.
        if not change and not self.has_moderate_permission(request):
            obj.seller = request.user
            obj.status = ProductStatus.PENDING
        super().save_model(request, obj, form, change)

    def get_queryset(self, request):
        # Object-level rule: a seller sees and edits only their own listings.
        qs = super().get_queryset(request)
        if request.user.is_superuser or request.user.has_perm("catalog.moderate_product"):
            return qs
        return qs.filter(seller=request.user)
