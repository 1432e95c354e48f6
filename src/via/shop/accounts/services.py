"""Accounts: find or create the user behind a verified identifier, and give roles."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from .models import Channel, Role, User


def user_for_identifier(identifier: str, channel: str) -> tuple[User, bool]:
    """The account for a verified e-mail or phone; a new buyer account if there is none."""
    field = "email" if channel == Channel.EMAIL else "phone"
    user = User.objects.filter(**{field: identifier}).first()
    if user is not None:
        return user, False
    try:
        with transaction.atomic():
            user = User(username=identifier[:150], **{field: identifier})
            user.set_unusable_password()
            user.save()
            grant_role(user, Role.BUYER)
    except IntegrityError:  # two verifications of one new identifier at the same moment
        return User.objects.get(**{field: identifier}), False
    return user, True


def grant_role(user: User, role: Role) -> None:
    group, _ = Group.objects.get_or_create(name=str(role))
    user.groups.add(group)
    # Sellers and administrators work in the admin (sellers see only their own listings there).
    if role in (Role.SELLER, Role.ADMIN) and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
