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
    prefixed = names(client.get("/products/", {"q": "retro"}))
    assert sorted(prefixed) == ["RED RETROSPOT LUNCH BAG", "RED RETROSPOT MUG"]


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

    ProductFactory(
        name="A", price=1, popularity=5, created_at=datetime(2010, 12, 1, tzinfo=timezone.utc)
    )
    ProductFactory(
        name="B", price=2, popularity=1, created_at=datetime(2011, 1, 20, tzinfo=timezone.utc)
    )
    ProductFactory(
        name="C", price=3, popularity=9, created_at=datetime(2011, 1, 5, tzinfo=timezone.utc)
    )
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


@pytest.mark.parametrize(
    "q", ['lantern"', "NEAR(a b)", "a OR b", "*", "col:lantern", "'; DROP TABLE x;--"]
)
def test_fts_syntax_in_queries_is_harmless(client, q):
    ProductFactory(name="WHITE METAL LANTERN")
    assert client.get("/products/", {"q": q}).status_code == 200


def test_unknown_category_page_is_404(client):
    assert client.get("/category/nowhere/").status_code == 404


def test_static_files_are_served_locally(client):
    response = client.get("/static/via/htmx.min.js")
    assert response.status_code == 200
    assert b"htmx" in b"".join(response.streaming_content)


def test_search_index_follows_renames_and_deletes(client):
    product = ProductFactory(name="WHITE METAL LANTERN")
    gone = ProductFactory(name="BLUE LANTERN")
    product.name = "WHITE METAL CANDLESTICK"
    product.save()
    gone.delete()
    assert names(client.get("/products/", {"q": "lantern"})) == []
    assert names(client.get("/products/", {"q": "candlestick"})) == ["WHITE METAL CANDLESTICK"]


def test_cached_pages_show_a_stock_change_at_once(client):
    from django.utils import timezone

    from via.shop.catalog.models import Product

    product = ProductFactory(name="WHITE METAL LANTERN", stock=5, popularity=10)
    listing = client.get("/products/", {"q": "lantern"}).content.decode()
    assert "In stock" in listing and "White Metal Lantern" in client.get("/").content.decode()
    # A sale elsewhere (update(), as checkout does) empties the stock.
    Product.objects.filter(pk=product.pk).update(stock=0, updated_at=timezone.now())
    assert "Out of stock" in client.get("/products/", {"q": "lantern"}).content.decode()
    assert "White Metal Lantern" not in client.get("/").content.decode()
    assert "Out of stock" in client.get(product.get_absolute_url()).content.decode()


def test_anonymous_page_cache_gives_each_visitor_a_working_csrf_token():
    import re

    from django.test import Client

    from via.shop.cart.models import CartLine

    product = ProductFactory(name="WHITE METAL LANTERN", stock=5)
    token_re = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    miss = first.get(product.get_absolute_url())
    hit = second.get(product.get_absolute_url())
    assert "X-Via-Page-Cache" not in miss and hit["X-Via-Page-Cache"] == "hit"
    token = token_re.search(hit.content.decode()).group(1)
    assert token != token_re.search(miss.content.decode()).group(1)
    assert "__via_csrf_token__" not in hit.content.decode()
    response = second.post(
        f"/cart/add/{product.pk}/", {"quantity": 2, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert CartLine.objects.get().quantity == 2
    # With a session now (a cart and a message), the same cached page shows this visitor's own
    # header and the message waiting for them.
    page = second.get(product.get_absolute_url())
    body = page.content.decode()
    assert page["X-Via-Page-Cache"] == "hit"
    assert '<span class="badge" id="cart-count">2</span>' in body
    assert "is in your cart (2)" in body
    assert (
        '<span class="badge" id="cart-count">0</span>'
        in first.get(product.get_absolute_url()).content.decode()
    )


def test_cached_pages_never_leak_one_shoppers_header_to_another(client, buyer):
    from django.test import Client

    product = ProductFactory()
    client.force_login(buyer)
    mine = client.get(product.get_absolute_url())
    again = client.get(product.get_absolute_url())
    stranger = Client().get(product.get_absolute_url())
    assert again["X-Via-Page-Cache"] == stranger["X-Via-Page-Cache"] == "hit"
    assert buyer.email in mine.content.decode() and buyer.email in again.content.decode()
    assert buyer.email not in stranger.content.decode()
    assert "Sign out" not in stranger.content.decode() and "Sign in" in stranger.content.decode()
    # The next session-less visitor gets the fully rendered copy the stranger's visit stored.
    second_stranger = Client().get(product.get_absolute_url()).content.decode()
    assert buyer.email not in second_stranger and "Sign in" in second_stranger
    assert '<span class="badge" id="cart-count">0</span>' in second_stranger
    # And the shopper still gets their own header after that copy exists.
    assert buyer.email in client.get(product.get_absolute_url()).content.decode()


def test_cached_error_messages_stay_with_their_address(client):
    from django.test import Client

    ProductFactory(name="WHITE METAL LANTERN")
    Client().get("/products/", {"min_price": "abc"})
    again = Client().get("/products/", {"min_price": "abc"})
    assert "Minimum price must be a number" in again.content.decode()
    clean = Client().get("/products/")
    assert "Minimum price must be a number" not in clean.content.decode()


@pytest.mark.parametrize(
    "method, url, expected",
    [
        ("get", "/product/99999999999999999999999/", 404),
        ("get", "/product/0/", 404),
        ("post", "/cart/add/99999999999999999999999/", 404),
        ("post", "/cart/update/99999999999999999999999/", 404),
        ("get", "/category/" + "a" * 300 + "/", 404),
        ("get", "/products/?page=99999999999999999999", 200),
        ("get", "/products/?max_price=NaN", 200),
        ("get", "/products/?min_price=Infinity", 200),
        ("get", "/products/?q=%00", 200),
        ("get", "/products/?q=%F0%9F%98%80", 200),
        ("get", "/products/?in_stock=maybe&sort=&q=a&q=b", 200),
        ("get", "/no/such/page/", 404),
    ],
)
def test_odd_addresses_never_give_a_server_error(client, method, url, expected):
    ProductFactory(name="WHITE METAL LANTERN")
    client.raise_request_exception = False
    response = getattr(client, method)(url, {"quantity": 1} if method == "post" else None)
    assert response.status_code == expected


def test_renamed_category_shows_at_once_on_cached_pages(client):
    product = ProductFactory(name="WHITE METAL LANTERN")
    top = product.category.parent
    client.get("/"), client.get(product.get_absolute_url()), client.get("/cart/")
    top.name = "Lights & lanterns"
    top.save()
    for url in ("/", product.get_absolute_url(), "/cart/"):
        assert "Lights &amp; lanterns" in client.get(url).content.decode(), url
