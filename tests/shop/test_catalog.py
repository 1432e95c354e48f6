"""Browsing, search, filters, sort, pagination and the product page, through the test client."""

from decimal import Decimal

import pytest
from django.urls import reverse

from via.shop.catalog.models import ProductStatus

from .conftest import messages_of
from .factories import ProductFactory, SubcategoryFactory

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return [p.name for p in response.context["page"].object_list]


def test_home_shows_only_approved_products(client):
    shown = ProductFactory(name="APPROVED MUG", popularity=50)
    ProductFactory(name="PENDING MUG", status=ProductStatus.PENDING, popularity=99)
    ProductFactory(name="REJECTED MUG", status=ProductStatus.REJECTED, popularity=99)
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Approved Mug" in body
    assert "Pending Mug" not in body and "Rejected Mug" not in body
    assert [p.pk for p in response.context["popular"]] == [shown.pk]


def test_product_page_shows_price_stock_and_seller(client):
    product = ProductFactory(name="WHITE METAL LANTERN", price=Decimal("3.39"), stock=3)
    product.seller.first_name = "Lantern Co"
    product.seller.save()
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200
    body = response.content.decode()
    assert "White Metal Lantern" in body and "£3.39" in body
    assert "Only 3 left" in body and "Lantern Co" in body


def test_unknown_or_unapproved_product_is_404(client):
    pending = ProductFactory(status=ProductStatus.PENDING)
    assert client.get(reverse("catalog:product", args=[999999])).status_code == 404
    assert client.get(pending.get_absolute_url()).status_code == 404
    assert client.get("/product/not-a-number/").status_code == 404


def test_search_ranks_name_matches_first_and_stems(client):
    in_description = ProductFactory(name="GLASS JAR", description="Looks like a lantern at night.")
    in_name = ProductFactory(name="WHITE METAL LANTERN")
    ProductFactory(name="RED TEA CUP")
    response = client.get("/products/", {"q": "lanterns"})
    assert response.status_code == 200
    assert names(response) == [in_name.name, in_description.name]


def test_search_needs_every_word_and_matches_prefixes(client):
    ProductFactory(name="RED RETROSPOT LUNCH BAG")
    ProductFactory(name="RED RETROSPOT MUG")
    ProductFactory(name="BLUE LUNCH BAG")
    response = client.get("/products/", {"q": "red lunch"})
    assert names(response) == ["RED RETROSPOT LUNCH BAG"]
    assert names(client.get("/products/", {"q": "retro"})) and all(
        "RETROSPOT" in n for n in names(client.get("/products/", {"q": "retro"}))
    )


def test_search_never_shows_unapproved_products(client):
    ProductFactory(name="HIDDEN LANTERN", status=ProductStatus.PENDING)
    assert names(client.get("/products/", {"q": "lantern"})) == []


def test_filters_price_range_stock_and_category(client):
    kitchen = SubcategoryFactory(name="Tableware")
    cheap = ProductFactory(name="CHEAP PLATE", price=Decimal("1.00"), category=kitchen)
    ProductFactory(name="DEAR PLATE", price=Decimal("9.00"), category=kitchen)
    ProductFactory(name="SOLD OUT PLATE", price=Decimal("1.50"), stock=0, category=kitchen)
    ProductFactory(name="OTHER THING", price=Decimal("1.20"))
    response = client.get(
        "/products/",
        {"min_price": "0.5", "max_price": "2", "in_stock": "on", "category": kitchen.slug},
    )
    assert names(response) == [cheap.name]
    top = client.get(kitchen.parent.get_absolute_url())
    assert set(names(top)) == {"CHEAP PLATE", "DEAR PLATE", "SOLD OUT PLATE"}


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("price", ["A", "B", "C"]),
        ("-price", ["C", "B", "A"]),
        ("newest", ["B", "C", "A"]),
        ("popular", ["C", "A", "B"]),
    ],
)
def test_sort_orders(client, sort, expected):
    from datetime import datetime, timezone

    ProductFactory(name="A", price=1, popularity=5, created_at=datetime(2010, 12, 1, tzinfo=timezone.utc))
    ProductFactory(name="B", price=2, popularity=1, created_at=datetime(2011, 1, 20, tzinfo=timezone.utc))
    ProductFactory(name="C", price=3, popularity=9, created_at=datetime(2011, 1, 5, tzinfo=timezone.utc))
    assert names(client.get("/products/", {"sort": sort})) == expected


def test_pagination(client, settings):
    settings.VIA_PAGE_SIZE = 5
    for i in range(12):
        ProductFactory(name=f"ITEM {i:02d}")
    first = client.get("/products/", {"sort": "name"})
    third = client.get("/products/", {"sort": "name", "page": 3})
    assert names(first) == [f"ITEM {i:02d}" for i in range(5)]
    assert names(third) == ["ITEM 10", "ITEM 11"]
    assert first.context["page"].paginator.num_pages == 3
    # A page past the end shows the last page rather than an error.
    assert names(client.get("/products/", {"sort": "name", "page": 99})) == names(third)


def test_search_ranked_pagination_is_complete_and_disjoint(client, settings):
    settings.VIA_PAGE_SIZE = 4
    for i in range(10):
        ProductFactory(name=f"HEART ORNAMENT {i}")
    seen = []
    for page in (1, 2, 3):
        seen += names(client.get("/products/", {"q": "heart", "page": page}))
    assert sorted(seen) == sorted(f"HEART ORNAMENT {i}" for i in range(10))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"min_price": "abc"}, "Minimum price must be a number"),
        ({"max_price": "1e999"}, "Maximum price"),
        ({"min_price": "-3"}, "Minimum price cannot be negative."),
        ({"max_price": "99999999999"}, "Maximum price"),
        ({"min_price": "5", "max_price": "1"}, "The minimum price is above the maximum price."),
        ({"sort": "drop table"}, "Unknown sort order"),
        ({"page": "x"}, "Page must be a whole number."),
        ({"page": "-1"}, "Pages start at 1."),
        ({"q": "x" * 101}, "at most 100 characters"),
        ({"q": "\"'*;--()"}, "at least one letter or digit"),
        ({"category": "no-such-category"}, "Unknown category"),
        ({"category": "not a slug!"}, "slug"),
    ],
)
def test_bad_browsing_input_is_a_message_not_an_error(client, params, message):
    ProductFactory(name="WHITE METAL LANTERN")
    response = client.get("/products/", params)
    assert response.status_code == 200
    assert any(message in m for m in messages_of(response)), messages_of(response)


@pytest.mark.parametrize("q", ['lantern"', "NEAR(a b)", "a OR b", "*", "col:lantern", "'; DROP TABLE x;--"])
def test_fts_syntax_in_queries_is_harmless(client, q):
    ProductFactory(name="WHITE METAL LANTERN")
    assert client.get("/products/", {"q": q}).status_code == 200


def test_unknown_category_page_is_404(client):
    assert client.get("/category/nowhere/").status_code == 404


def test_static_files_are_served_locally(client):
    response = client.get("/static/via/htmx.min.js")
    assert response.status_code == 200
    assert b"htmx" in b"".join(response.streaming_content)
