"""Sellers and administrators move orders along; a seller reaches only their own orders."""

import pytest

from via.shop.accounts.models import Role
from via.shop.cart.models import Cart, CartLine
from via.shop.orders.models import OrderStatus
from via.shop.orders.services import ShippingDetails, place_order

from .conftest import messages_of
from .factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def order_of(buyer, product, quantity=1):
    cart, _ = Cart.objects.get_or_create(user=buyer)
    CartLine.objects.create(cart=cart, product=product, quantity=quantity)
    return place_order(cart, ShippingDetails("A", "B", "C", "D"), "cod")


@pytest.fixture
def seller():
    return UserFactory(username="seller1", role=Role.SELLER)


def test_seller_ships_with_tracking_and_sees_only_own_orders(client, seller, buyer):
    mine = order_of(buyer, ProductFactory(seller=seller))
    other = order_of(UserFactory(username="bob"), ProductFactory())
    client.force_login(seller)
    page = client.get("/orders/selling/").content.decode()
    assert mine.number in page and other.number not in page

    client.post(f"/orders/{mine.number}/status/", {"status": "confirmed"})
    response = client.post(f"/orders/{mine.number}/status/", {"status": "shipped"}, follow=True)
    assert any("tracking number" in m for m in messages_of(response))
    client.post(
        f"/orders/{mine.number}/status/", {"status": "shipped", "tracking_number": " RM1GB "}
    )
    mine.refresh_from_db()
    assert (mine.status, mine.tracking_number) == (OrderStatus.SHIPPED, "RM1GB")
    # Another seller's order is out of reach.
    assert (
        client.post(f"/orders/{other.number}/status/", {"status": "confirmed"}).status_code == 404
    )
    other.refresh_from_db()
    assert other.status == OrderStatus.PLACED


def test_buyers_cannot_handle_orders(buyer_client, buyer):
    order = order_of(buyer, ProductFactory())
    assert buyer_client.get("/orders/selling/").status_code == 403
    assert (
        buyer_client.post(f"/orders/{order.number}/status/", {"status": "delivered"}).status_code
        == 403
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED


def test_admin_handles_every_order_and_bad_status_is_a_message(client, buyer):
    admin = UserFactory(username="boss", role=Role.ADMIN)
    order = order_of(buyer, ProductFactory(stock=3), quantity=2)
    client.force_login(admin)
    response = client.post(f"/orders/{order.number}/status/", {"status": "lost"}, follow=True)
    assert any("valid status" in m for m in messages_of(response))
    client.post(f"/orders/{order.number}/status/", {"status": "cancelled"})
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.lines.get().product.stock == 3
