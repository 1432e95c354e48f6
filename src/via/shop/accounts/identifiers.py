"""What a shopper types to sign in: an e-mail address or a phone number, normalised."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .models import Channel

PHONE_RE = re.compile(r"^\+?[0-9]{8,15}$")


def normalise_identifier(raw: str) -> tuple[str, str]:
    """Return (identifier, channel) or raise ValidationError saying what was expected."""
    value = (raw or "").strip()
    if "@" in value:
        value = value.lower()
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError("Enter a valid e-mail address, like name@example.com.") from None
        return value, Channel.EMAIL
    phone = re.sub(r"[\s\-().]", "", value)
    if PHONE_RE.match(phone):
        return phone, Channel.SMS
    raise ValidationError(
        "Enter an e-mail address or a phone number of 8 to 15 digits (an optional + first)."
    )


def channel_of(identifier: str) -> str:
    """The channel of an identifier already normalised by normalise_identifier."""
    return Channel.EMAIL if "@" in identifier else Channel.SMS
