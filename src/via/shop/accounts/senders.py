"""How messages leave the shop. The default sender keeps them in an outbox so everything runs
offline; a real SMS or e-mail gateway is another class with the same `send` method."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from .models import OutboxMessage

log = logging.getLogger("via.shop.outbox")


class MessageSender(Protocol):
    def send(self, channel: str, recipient: str, subject: str, body: str) -> None: ...


class OutboxSender:
    """Writes each message to the OutboxMessage table and to the console log."""

    def send(self, channel: str, recipient: str, subject: str, body: str) -> None:
        OutboxMessage.objects.create(
            channel=channel, recipient=recipient, subject=subject, body=body
        )
        log.info("outbox %s to %s: %s", channel, recipient, body)


def get_sender() -> MessageSender:
    return import_string(settings.VIA_MESSAGE_SENDER)()
