"""Payment providers behind one interface. The default card provider is offline: it checks the
card number's shape and Luhn digit and records the payment, so checkout works with no gateway."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PaymentDeclined(Exception):
    """The provider refused the payment; the message is safe to show the shopper."""


@dataclass(frozen=True)
class PaymentResult:
    provider: str
    status: str  # PaymentStatus value
    reference: str
    card_last4: str = ""


class CardProvider(Protocol):
    name: str

    def charge(self, amount: Decimal, card_number: str, order_number: str) -> PaymentResult: ...


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    checksum = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        checksum += d
    return checksum % 10 == 0


class OfflineCardProvider:
    """Records a captured payment without contacting anyone. Test card: 4242 4242 4242 4242."""

    name = "offline-card"

    def charge(self, amount: Decimal, card_number: str, order_number: str) -> PaymentResult:
        if not (12 <= len(card_number) <= 19 and card_number.isdigit() and luhn_ok(card_number)):
            raise PaymentDeclined("The card number is not valid.")
        return PaymentResult(
            provider=self.name,
            status="captured",
            reference=f"OFF-{secrets.token_hex(6).upper()}",
            card_last4=card_number[-4:],
        )


def get_card_provider() -> CardProvider:
    return import_string(settings.VIA_CARD_PROVIDER)()
