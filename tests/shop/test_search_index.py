"""Keyword search goes through the database's text index, on either database."""

import pytest
from django.db import connection

from via.shop.catalog.models import Product
from via.shop.catalog.search import search

from .factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_search_query_uses_the_text_index():
    ProductFactory(name="WHITE METAL LANTERN")
    queryset = search(Product.objects.visible(), "lantern")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A tiny table would be scanned anyway, and the status index would do for one row:
            # forbid the scan and leave the status out, to see whether the text index fits the
            # query's expression (on the demo catalog the planner picks it by itself).
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = search(Product.objects.all(), "lantern").explain()
        assert "catalog_product_search_gin" in plan, plan
    else:
        assert "catalog_product_fts" in str(queryset.query)
        plan = queryset.explain()
        assert "VIRTUAL TABLE INDEX" in plan, plan
    assert [p.name for p in queryset] == ["WHITE METAL LANTERN"]
