"""Shared fixtures of the shop tests: a signed-in client, products, OTP helpers."""

import re

import pytest

from via.shop.accounts.models import OutboxMessage

from .factories import ProductFactory, UserFactory


@pytest.fixture
def product(db):
    return ProductFactory(name="WHITE METAL LANTERN", price="3.39", stock=10)


@pytest.fixture
def buyer(db):
    return UserFactory(username="ada", email="ada@example.com")


@pytest.fixture
def buyer_client(client, buyer):
    client.force_login(buyer)
    return client


def last_code(recipient: str) -> str:
    """The six-digit code of the latest message the outbox holds for `recipient`."""
    message = OutboxMessage.objects.filter(recipient=recipient).first()
    assert message is not None, f"no message was sent to {recipient}"
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (page fragments, navigation)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
