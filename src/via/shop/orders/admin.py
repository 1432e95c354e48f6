from django.contrib import admin, messages

from .models import Order, OrderLine, OrderStatus, Payment
from .services import InvalidTransition, change_status


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    raw_id_fields = ("product",)
    readonly_fields = ("product", "product_name", "unit_price", "quantity")
    extra = 0


class PaymentInline(admin.TabularInline):
    model = Payment
    readonly_fields = ("provider", "amount", "status", "reference", "card_last4", "created_at")
    extra = 0


def _move(status):
    def action(modeladmin, request, queryset):
        for order in queryset:
            try:
                change_status(order, status)
            except InvalidTransition as exc:
                modeladmin.message_user(request, f"{order.number}: {exc}", messages.ERROR)

    action.__name__ = f"mark_{status}"
    action.short_description = f"Mark selected orders {OrderStatus(status).label.lower()}"
    return action


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "user", "status", "payment_method", "total", "placed_at", "is_demo")
    list_filter = ("status", "payment_method", "is_demo")
    search_fields = ("number", "user__username", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("status", "total")
    inlines = [OrderLineInline, PaymentInline]
    actions = [
        _move(OrderStatus.CONFIRMED),
        _move(OrderStatus.DELIVERED),
        _move(OrderStatus.CANCELLED),
    ]
