"""The cart: anonymous in the session, merged at sign-in, bounded by stock."""

import pytest

from via.shop.cart.models import Cart, CartLine

from .conftest import last_code, messages_of
from .factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def add(client, product, quantity):
    return client.post(f"/cart/add/{product.pk}/", {"quantity": quantity}, follow=True)


def cart_quantities(response) -> dict[str, int]:
    return {line.product.name: line.quantity for line in response.context["lines"]}


def test_anonymous_cart_lives_in_the_session(client, product):
    add(client, product, 2)
    response = client.get("/cart/")
    assert cart_quantities(response) == {product.name: 2}
    assert Cart.objects.get(pk=client.session["cart_id"]).user is None
    # Another visitor has their own (empty) cart.
    assert client.__class__().get("/cart/").context["lines"] == []


def test_adding_twice_adds_up_and_header_counts_items(client, product):
    add(client, product, 2)
    response = add(client, product, 3)
    assert response.context["cart_count"] == 5
    assert CartLine.objects.get().quantity == 5


def test_quantity_is_bounded_by_stock_with_a_message(client):
    product = ProductFactory(name="LAST FEW MUGS", stock=3)
    response = add(client, product, 5)
    assert CartLine.objects.get().quantity == 3
    assert any("Only 3 of “LAST FEW MUGS” in stock" in m for m in messages_of(response))


def test_out_of_stock_product_cannot_be_added(client):
    product = ProductFactory(stock=0)
    response = add(client, product, 1)
    assert not CartLine.objects.exists()
    assert any("out of stock" in m for m in messages_of(response))


@pytest.mark.parametrize(
    "quantity, message",
    [
        ("0", "Add at least 1."),
        ("-2", "Add at least 1."),
        ("abc", "whole number"),
        ("1.5", "whole number"),
        ("100", "At most 99"),
        ("", "Give a quantity."),
    ],
)
def test_bad_quantities_are_refused_with_a_message(client, product, quantity, message):
    response = add(client, product, quantity)
    assert response.status_code == 200
    assert any(message in m for m in messages_of(response)), messages_of(response)
    assert not CartLine.objects.exists()


def test_update_and_remove(client, product):
    add(client, product, 2)
    client.post(f"/cart/update/{product.pk}/", {"quantity": 4})
    assert CartLine.objects.get().quantity == 4
    response = client.post(f"/cart/update/{product.pk}/", {"quantity": "lots"}, follow=True)
    assert CartLine.objects.get().quantity == 4
    assert any("whole number" in m for m in messages_of(response))
    client.post(f"/cart/update/{product.pk}/", {"quantity": 0})
    assert not CartLine.objects.exists()
    add(client, product, 1)
    client.post(f"/cart/remove/{product.pk}/")
    assert not CartLine.objects.exists()


def test_adding_unknown_or_hidden_product_is_404(client):
    assert client.post("/cart/add/999999/", {"quantity": 1}).status_code == 404
    hidden = ProductFactory(status="pending")
    assert client.post(f"/cart/add/{hidden.pk}/", {"quantity": 1}).status_code == 404


def test_cart_tells_when_stock_fell_meanwhile(client):
    product = ProductFactory(name="POPULAR LANTERN", stock=5)
    add(client, product, 4)
    product.stock = 2
    product.save()
    response = client.get("/cart/")
    assert cart_quantities(response) == {"POPULAR LANTERN": 2}
    assert any("Only 2 of “POPULAR LANTERN” left now" in m for m in messages_of(response))
    product.stock = 0
    product.save()
    response = client.get("/cart/")
    assert cart_quantities(response) == {}
    assert any("sold out meanwhile" in m for m in messages_of(response))


def test_session_cart_merges_into_account_cart_at_sign_in(client):
    lantern = ProductFactory(name="LANTERN", stock=10)
    mug = ProductFactory(name="MUG", stock=4)
    user = UserFactory(username="ada", email="ada@example.com")
    account_cart = Cart.objects.create(user=user)
    CartLine.objects.create(cart=account_cart, product=mug, quantity=3)

    add(client, lantern, 2)
    add(client, mug, 3)
    anonymous_cart_id = client.session["cart_id"]
    client.post("/accounts/sign-in/", {"identifier": "ada@example.com"})
    response = client.post("/accounts/verify/", {"code": last_code("ada@example.com")}, follow=True)

    assert response.context["user"] == user
    lines = {line.product.name: line.quantity for line in account_cart.lines.all()}
    assert lines == {"LANTERN": 2, "MUG": 4}  # 3 + 3 mugs bounded by the 4 in stock
    assert not Cart.objects.filter(pk=anonymous_cart_id).exists()
    assert any("Only 4 of “MUG” in stock" in m for m in messages_of(response))
    assert client.get("/cart/").context["cart_count"] == 6


def test_htmx_add_answers_with_the_message_and_the_new_count(client, product):
    add(client, product, 1)
    response = client.post(f"/cart/add/{product.pk}/", {"quantity": 2}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"“{product.name}” is in your cart (3)." in body
    assert '<span class="badge" id="cart-count" hx-swap-oob="true">3</span>' in body
    # The message was shown in place, so it does not come back on the next page.
    assert "is in your cart" not in client.get("/cart/").content.decode()
    bad = client.post(f"/cart/add/{product.pk}/", {"quantity": "x"}, HTTP_HX_REQUEST="true")
    assert "whole number" in bad.content.decode() and CartLine.objects.get().quantity == 3
