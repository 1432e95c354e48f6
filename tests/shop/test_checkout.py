"""Checkout as one transaction, orders and their statuses, payment, order history."""

from decimal import Decimal

import pytest

from via.shop.cart.models import Cart, CartLine
from via.shop.catalog.models import Product
from via.shop.orders.models import Order, OrderLine, OrderStatus, Payment
from via.shop.orders.services import InvalidTransition, change_status

from .conftest import messages_of
from .factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

SHIPPING = {
    "shipping_name": "Ada Lovelace",
    "shipping_address": "12 St James's Square",
    "shipping_city": "London",
    "shipping_country": "United Kingdom",
    "payment_method": "cod",
}


def fill_cart(user, *lines):
    cart, _ = Cart.objects.get_or_create(user=user)
    for product, quantity in lines:
        CartLine.objects.create(cart=cart, product=product, quantity=quantity)
    return cart


def test_checkout_requires_sign_in(client, product):
    client.post(f"/cart/add/{product.pk}/", {"quantity": 1})
    response = client.get("/orders/checkout/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/sign-in/?next=/orders/checkout/")


def test_placing_an_order(buyer_client, buyer):
    lantern = ProductFactory(name="LANTERN", price=Decimal("3.39"), stock=10, popularity=1)
    mug = ProductFactory(name="MUG", price=Decimal("1.25"), stock=2)
    fill_cart(buyer, (lantern, 3), (mug, 2))

    response = buyer_client.post("/orders/checkout/", SHIPPING, follow=True)

    order = Order.objects.get(user=buyer)
    assert response.redirect_chain[-1][0] == f"/orders/{order.number}/"
    assert order.status == OrderStatus.PLACED
    assert order.total == Decimal("12.67")
    assert {(line.product_name, line.quantity, line.unit_price) for line in order.lines.all()} == {
        ("LANTERN", 3, Decimal("3.39")),
        ("MUG", 2, Decimal("1.25")),
    }
    lantern.refresh_from_db(), mug.refresh_from_db()
    assert (lantern.stock, mug.stock, lantern.popularity) == (7, 0, 4)
    assert not CartLine.objects.filter(cart__user=buyer).exists()
    assert Payment.objects.get(order=order).status == "pending"
    assert order.number in response.content.decode()


def test_prices_are_those_of_the_moment(buyer_client, buyer):
    lantern = ProductFactory(price=Decimal("3.39"))
    fill_cart(buyer, (lantern, 1))
    buyer_client.post("/orders/checkout/", SHIPPING)
    Product.objects.filter(pk=lantern.pk).update(price=Decimal("9.99"))
    assert OrderLine.objects.get().unit_price == Decimal("3.39")


def test_short_line_places_nothing_and_says_which_and_how_many(buyer_client, buyer):
    lantern = ProductFactory(name="LANTERN", stock=10)
    mug = ProductFactory(name="LAST MUGS", stock=5)
    fill_cart(buyer, (lantern, 2), (mug, 5))
    Product.objects.filter(pk=mug.pk).update(stock=2)  # another shopper bought some meanwhile

    response = buyer_client.post("/orders/checkout/", SHIPPING)

    assert response.status_code == 200
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert not Payment.objects.exists()
    lantern.refresh_from_db(), mug.refresh_from_db()
    assert (lantern.stock, mug.stock) == (10, 2)
    body = response.content.decode()
    assert "“LAST MUGS”: you asked for 5, only 2 left." in body
    assert "LANTERN”: you asked" not in body
    assert CartLine.objects.filter(cart__user=buyer).count() == 2  # the cart is kept


def test_card_payment_is_recorded_by_the_offline_provider(buyer_client, buyer, product):
    fill_cart(buyer, (product, 1))
    buyer_client.post(
        "/orders/checkout/",
        {**SHIPPING, "payment_method": "card", "card_number": "4242 4242 4242 4242"},
    )
    payment = Payment.objects.get()
    assert (payment.provider, payment.status, payment.card_last4) == (
        "offline-card",
        "captured",
        "4242",
    )
    assert payment.reference.startswith("OFF-")


@pytest.mark.parametrize(
    "card, message",
    [
        ("", "Enter a card number"),
        ("4242 4242 4242 4241", "not valid"),
        ("12ab", "12 to 19 digits"),
    ],
)
def test_bad_card_places_nothing(buyer_client, buyer, product, card, message):
    fill_cart(buyer, (product, 1))
    response = buyer_client.post(
        "/orders/checkout/", {**SHIPPING, "payment_method": "card", "card_number": card}
    )
    assert response.status_code == 200 and message in response.content.decode()
    assert not Order.objects.exists()
    product.refresh_from_db()
    assert product.stock == 10


@pytest.mark.parametrize(
    "field, value",
    [("shipping_name", ""), ("payment_method", "bitcoin"), ("shipping_city", "x" * 500)],
)
def test_bad_checkout_form_is_refused_with_a_message(buyer_client, buyer, product, field, value):
    fill_cart(buyer, (product, 1))
    response = buyer_client.post("/orders/checkout/", {**SHIPPING, field: value})
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not Order.objects.exists()


def test_empty_cart_cannot_check_out(buyer_client):
    response = buyer_client.post("/orders/checkout/", SHIPPING, follow=True)
    assert not Order.objects.exists()
    assert any("empty" in m for m in messages_of(response))


def test_cancel_returns_stock_and_refunds(buyer_client, buyer, product):
    fill_cart(buyer, (product, 4))
    buyer_client.post(
        "/orders/checkout/",
        {**SHIPPING, "payment_method": "card", "card_number": "4242424242424242"},
    )
    order = Order.objects.get()
    product.refresh_from_db()
    assert product.stock == 6
    response = buyer_client.post(f"/orders/{order.number}/cancel/", follow=True)
    order.refresh_from_db(), product.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and product.stock == 10
    assert Payment.objects.get().status == "refunded"
    # Cancelling twice does not put the units back twice.
    response = buyer_client.post(f"/orders/{order.number}/cancel/", follow=True)
    product.refresh_from_db()
    assert product.stock == 10
    assert any("cannot become cancelled" in m for m in messages_of(response))


def test_status_life_cycle(buyer, product):
    cart = fill_cart(buyer, (product, 1))
    from via.shop.orders.services import ShippingDetails, place_order

    order = place_order(cart, ShippingDetails("A", "B", "C", "D"), "cod")
    change_status(order, OrderStatus.CONFIRMED)
    with pytest.raises(InvalidTransition, match="tracking number"):
        change_status(order, OrderStatus.SHIPPED)
    order = change_status(order, OrderStatus.SHIPPED, tracking_number="RM123456789GB")
    assert order.tracking_number == "RM123456789GB"
    with pytest.raises(InvalidTransition):
        change_status(order, OrderStatus.CANCELLED)  # too late to cancel
    assert change_status(order, OrderStatus.DELIVERED).status == OrderStatus.DELIVERED


def test_profile_lists_own_orders_and_others_are_404(buyer_client, buyer, product):
    fill_cart(buyer, (product, 1))
    buyer_client.post("/orders/checkout/", SHIPPING)
    mine = Order.objects.get()
    other = UserFactory(username="bob")
    theirs = Order.objects.create(number="OTHER-1", user=other, payment_method="cod")
    body = buyer_client.get("/accounts/profile/").content.decode()
    assert mine.number in body and "OTHER-1" not in body
    assert buyer_client.get(f"/orders/{theirs.number}/").status_code == 404
    assert buyer_client.post(f"/orders/{theirs.number}/cancel/").status_code == 404
    assert buyer_client.get("/orders/NO-SUCH-ORDER/").status_code == 404
