"""Page-fragment caching for the catalog, always fresh: templates cache their product grids with
{% cache %} keyed on a stamp of the catalog (the latest product change and the number of
products and categories), so any change to a product, its stock included, makes the next request
render anew. Querysets are lazy, so a cached fragment costs no catalog query. Works with the
local-memory cache of one process and with Redis shared by many (REDIS_URL)."""

from __future__ import annotations

from django.db import connection

from .models import Category, Product

# How long a fragment stays when nothing changes (templates use it with {% cache %}).
TIMEOUT_SECONDS = 600


def catalog_stamp() -> str:
    # One small SQL statement (the ORM would compile two aggregates on every request).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX(updated_at), COUNT(*), (SELECT COUNT(*) FROM {Category._meta.db_table}) "
            f"FROM {Product._meta.db_table}"
        )
        changed, products, categories = cursor.fetchone()
    return f"{changed}-{products}-{categories}"
