from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import OneTimeCode, OutboxMessage, User


@admin.register(User)
class ShopUserAdmin(UserAdmin):
    list_display = ("username", "email", "phone", "is_staff", "is_demo")
    list_filter = ("is_staff", "is_demo", "groups")
    search_fields = ("username", "email", "phone")
    fieldsets = UserAdmin.fieldsets + (("Shop", {"fields": ("phone", "is_demo")}),)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "channel", "recipient", "subject")
    search_fields = ("recipient",)
    readonly_fields = ("channel", "recipient", "subject", "body", "created_at")


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(admin.ModelAdmin):
    list_display = ("identifier", "channel", "created_at", "expires_at", "attempts", "used_at")
    readonly_fields = (
        "identifier",
        "channel",
        "code_hash",
        "salt",
        "created_at",
        "expires_at",
        "attempts",
        "used_at",
    )
