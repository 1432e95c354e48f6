"""Role groups (buyer, seller, admin) and their permissions, kept in step after every migrate."""

from django.contrib.auth.models import Group, Permission
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from .models import Role

ROLE_PERMISSIONS = {
    Role.BUYER: ["orders.add_order", "orders.view_order", "cart.change_cart"],
    Role.SELLER: [
        "catalog.add_product",
        "catalog.change_product",
        "catalog.view_product",
        "catalog.add_productimage",
        "catalog.change_productimage",
        "orders.view_order",
        "orders.change_order",
    ],
    Role.ADMIN: [
        "catalog.add_category",
        "catalog.change_category",
        "catalog.delete_category",
        "catalog.view_category",
        "catalog.change_product",
        "catalog.view_product",
        "catalog.delete_product",
        "catalog.moderate_product",
        "orders.view_order",
        "orders.change_order",
        "accounts.view_user",
        "accounts.change_user",
        "accounts.view_outboxmessage",
    ],
}


@receiver(post_migrate)
def create_role_groups(sender, **kwargs):
    # Runs after each app's migrations (idempotent), so permissions of apps migrated after
    # accounts are picked up too.
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        perms = []
        for code in codes:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.add(*perms)
