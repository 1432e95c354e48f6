"""Buyers racing for the last units, through the checkout page, on a real PostgreSQL server.

Runs when the suite runs on PostgreSQL (DATABASE_URL); test_on_postgresql.py makes that happen
in every run of the whole suite. On SQLite it is skipped with the reason printed."""

import threading

import pytest
from django.db import connection
from django.test import Client

from via.shop.cart.models import Cart, CartLine
from via.shop.catalog.models import Product
from via.shop.orders.models import Order, OrderLine, Payment

from .factories import ProductFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHIPPING = {
    "shipping_name": "Racer",
    "shipping_address": "1 Fast Lane",
    "shipping_city": "Leeds",
    "shipping_country": "United Kingdom",
    "payment_method": "cod",
}


@pytest.fixture(autouse=True)
def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip(
            "concurrency test needs PostgreSQL (row locks); it runs in test_on_postgresql.py"
        )


def race(n_buyers: int, stock: int, each_wants: int):
    product = ProductFactory(name="LAST LANTERNS", stock=stock)
    clients = []
    for i in range(n_buyers):
        buyer = UserFactory(username=f"racer{i}")
        cart = Cart.objects.create(user=buyer)
        CartLine.objects.create(cart=cart, product=product, quantity=each_wants)
        client = Client()
        client.force_login(buyer)
        clients.append(client)
    start = threading.Barrier(n_buyers)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def buy(client):
        try:
            start.wait(timeout=30)
            response = client.post("/orders/checkout/", SHIPPING)
            if response.status_code == 302 and response.url.startswith("/orders/"):
                outcomes.append("bought")
            elif response.status_code == 200 and "left" in response.content.decode():
                outcomes.append("refused")
            else:
                outcomes.append(f"unexpected {response.status_code}")
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    product.refresh_from_db()
    return product, outcomes


def test_twenty_buyers_race_for_the_last_five_units():
    product, outcomes = race(n_buyers=20, stock=5, each_wants=1)
    assert outcomes.count("bought") == 5
    assert outcomes.count("refused") == 15
    assert product.stock == 0
    assert Order.objects.count() == 5
    assert sum(OrderLine.objects.values_list("quantity", flat=True)) == 5
    # No half-made order: each has its line and its payment; losers keep their cart.
    for order in Order.objects.all():
        assert order.lines.count() == 1 and order.payments.count() == 1
    assert Payment.objects.count() == 5
    assert CartLine.objects.count() == 15


def test_buyers_wanting_two_each_never_push_stock_below_zero():
    product, outcomes = race(n_buyers=20, stock=5, each_wants=2)
    assert outcomes.count("bought") == 2
    assert product.stock == 1
    assert Order.objects.count() == 2
    assert Product.objects.filter(stock__lt=0).count() == 0
