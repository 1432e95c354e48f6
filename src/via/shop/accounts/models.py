"""Shoppers, sellers and administrators; one-time sign-in codes; the outbox of sent messages."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    BUYER = "buyer", "Buyer"
    SELLER = "seller", "Seller"
    ADMIN = "admin", "Administrator"


class User(AbstractUser):
    """A person who signs in with a one-time code sent to an e-mail address or a phone number."""

    email = models.EmailField(unique=True, null=True, blank=True)
    phone = models.CharField(max_length=16, unique=True, null=True, blank=True)
    is_demo = models.BooleanField(default=False, help_text="Created by the demo catalog loader.")

    def has_role(self, role: Role | str) -> bool:
        return self.groups.filter(name=str(role)).exists()

    @property
    def contact(self) -> str:
        return self.email or self.phone or self.username


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"


class OneTimeCode(models.Model):
    """A six-digit code, stored only as a keyed hash, valid a few minutes for a few tries."""

    identifier = models.CharField(max_length=254, db_index=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    code_hash = models.CharField(max_length=64)
    salt = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["identifier", "-created_at"])]

    def __str__(self) -> str:
        return f"code for {self.identifier} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class OutboxMessage(models.Model):
    """A message the default sender 'sent': what a real gateway would have delivered."""

    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254, db_index=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.subject or self.body[:40]}"
