"""The same page caching on Redis (REDIS_URL, default redis://127.0.0.1:6379/0), as several
workers would share it. Skipped with the reason when Redis is unreachable, a failure when
VIA_REQUIRE_SERVICES=1."""

import os
import uuid

import pytest
from django.core.cache import caches
from django.test import Client

from .factories import ProductFactory

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_cache(settings):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.exceptions.RedisError as exc:
        reason = f"Redis at {REDIS_URL} is unreachable: {exc}"
        if os.environ.get("VIA_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (VIA_REQUIRE_SERVICES=1)")
        print(reason)
        pytest.skip(reason)
    prefix = f"via-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield caches["default"]
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_page_cache_on_redis_is_shared_and_fresh(redis_cache):
    product = ProductFactory(name="WHITE METAL LANTERN", stock=5)
    first = Client().get(product.get_absolute_url())
    second = Client().get(product.get_absolute_url())
    assert "X-Via-Page-Cache" not in first and second["X-Via-Page-Cache"] == "hit"
    assert "In stock (5 available)" in second.content.decode()
    product.stock = 2
    product.save()
    third = Client().get(product.get_absolute_url())
    assert "X-Via-Page-Cache" not in third
    assert "Only 2 left" in third.content.decode()
