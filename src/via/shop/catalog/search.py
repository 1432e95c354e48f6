"""Keyword search over approved products, ranked by relevance.

SQLite: an FTS5 table (porter stemming) kept in step with catalog_product by triggers (migration
0002), ranked by bm25 with the name weighted 10× the description. PostgreSQL: full-text search
through django.contrib.postgres (SearchVector/SearchQuery/SearchRank), name weighted A,
description B, with a GIN index on the same vector. Either way the database's text index does the
matching, not a LIKE over every row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

MAX_QUERY_LENGTH = 100
MAX_TERMS = 8
TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    """Words of the query; punctuation and FTS operators are dropped, so any input is safe."""
    return TOKEN_RE.findall(query.lower())[:MAX_TERMS]


def search_vector() -> SearchVector:
    return SearchVector("name", weight="A", config="english") + SearchVector(
        "description", weight="B", config="english"
    )


def _pg_query(terms: list[str]) -> SearchQuery:
    # Every term, as a prefix, like the FTS5 query below; terms are \w+ so raw syntax is safe.
    return SearchQuery(" & ".join(f"{t}:*" for t in terms), config="english", search_type="raw")


def _fts5_match(terms: list[str]) -> str:
    # Every term must match, as a prefix ("lant" finds LANTERN); quoted so nothing is an operator.
    return " ".join(f'"{t}"*' for t in terms)


def _matching_ids_sql(terms: list[str]) -> RawSQL:
    return RawSQL(
        "SELECT rowid FROM catalog_product_fts WHERE catalog_product_fts MATCH %s",
        [_fts5_match(terms)],
    )


def ranked_ids_sqlite(terms: list[str]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid FROM catalog_product_fts WHERE catalog_product_fts MATCH %s "
            "ORDER BY bm25(catalog_product_fts, 10.0, 1.0)",
            [_fts5_match(terms)],
        )
        return [row[0] for row in cursor.fetchall()]


def search(products: QuerySet, query: str) -> QuerySet:
    """`products` narrowed to those matching every word of `query` (any order of results)."""
    terms = search_terms(query)
    if not terms:
        return products.none()
    if connection.vendor == "postgresql":
        return products.annotate(search=search_vector()).filter(search=_pg_query(terms))
    return products.filter(pk__in=_matching_ids_sql(terms))


class RankedResults(Sequence):
    """Products in relevance order, for a Paginator: the ranking comes from the text index, the
    filters from `products`; only the objects of the requested page are fetched."""

    def __init__(self, ids: list[int], products: QuerySet):
        self.ids = ids
        self.products = products

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            chunk = self.ids[index]
            found = self.products.in_bulk(chunk)
            return [found[pk] for pk in chunk if pk in found]
        return self[index : index + 1][0]


def ranked_search(products: QuerySet, query: str) -> QuerySet | RankedResults:
    """Matching products, most relevant first."""
    terms = search_terms(query)
    if not terms:
        return products.none()
    if connection.vendor == "postgresql":
        query = _pg_query(terms)
        return (
            products.annotate(search=search_vector(), relevance=SearchRank(search_vector(), query))
            .filter(search=query)
            .order_by("-relevance", "pk")
        )
    allowed = set(search(products, query).values_list("pk", flat=True))
    return RankedResults([pk for pk in ranked_ids_sqlite(terms) if pk in allowed], products)
