"""Two shoppers in a real browser on the running shop, with the full demo catalog.

Shopper A searches, filters, opens a product, puts two products in the cart, signs up with the
one-time code read from the outbox, checks out and sees the order. Shopper B, who had the last
units of the same product in the cart, confirms after A and gets the shortage message; nothing is
placed for B. Screenshots of home, search, product, cart, order and the refusal go to
docs/screenshots/."""

import re

import pytest
from django.core.management import call_command

from via.shop.accounts.models import OutboxMessage
from via.shop.catalog.models import Product
from via.shop.orders.models import Order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHIPPING = {
    "Full name": "Ada Lovelace",
    "Address": "12 St James's Square",
    "City": "London",
}


def code_from_outbox(recipient: str) -> str:
    message = OutboxMessage.objects.filter(recipient=recipient).first()
    assert message is not None, f"nothing in the outbox for {recipient}"
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def sign_up(page, email: str):
    page.get_by_label("E-mail or phone number").fill(email)
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url("**/accounts/verify/")
    page.get_by_label("Six-digit code").fill(code_from_outbox(email))
    page.get_by_role("button", name="Sign in").click()


def fill_shipping(page):
    for label, value in SHIPPING.items():
        page.get_by_label(label).fill(value)


@pytest.fixture
def demo_catalog(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("load_demo_catalog", stdout=open("/dev/null", "w"))


def test_two_shoppers_search_buy_and_race(live_server, browser, demo_catalog, screenshot):
    url = live_server.url
    lantern = (
        Product.objects.visible()
        .filter(name__icontains="LANTERN", price__lte=5, stock__gt=0)
        .order_by("-popularity")
        .first()
    )
    Product.objects.filter(pk=lantern.pk).update(stock=4)

    a = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    b = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

    # Shopper A: home, search, filter.
    a.goto(url + "/")
    assert a.get_by_role("heading", name="Popular now").is_visible()
    screenshot(a, "home")
    a.get_by_placeholder("Search lanterns, mugs, cards…").fill("lantern")
    a.get_by_role("button", name="Search").click()
    a.wait_for_url("**/products/?q=lantern*")
    a.get_by_label("Max").fill("5")
    a.get_by_label("In stock only").check()
    a.get_by_role("button", name="Apply").click()
    a.wait_for_url("**max_price=5*")
    prices = [float(p.removeprefix("£")) for p in a.locator(".card .price").all_inner_texts()]
    assert prices and max(prices) <= 5
    assert "Out of stock" not in a.locator(".results").inner_text()
    screenshot(a, "search")

    # Shopper B puts 3 of the 4 lanterns in the cart and gets as far as the checkout form.
    b.goto(url + lantern.get_absolute_url())
    b.get_by_label("Quantity").fill("3")
    b.get_by_role("button", name="Add to cart").click()
    b.locator("#add-result .messages").wait_for()  # htmx answered in place
    b.goto(url + "/cart/")
    b.get_by_role("link", name="Checkout").click()
    sign_up(b, "grace@example.com")
    b.wait_for_url("**/orders/checkout/")
    fill_shipping(b)

    # Shopper A opens the lantern, adds 2, then a mug.
    a.goto(url + lantern.get_absolute_url())
    assert a.get_by_role("heading", name=lantern.name.title()).is_visible()
    screenshot(a, "product")
    a.get_by_label("Quantity").fill("2")
    a.get_by_role("button", name="Add to cart").click()
    # htmx: the answer comes in place and the header's cart count changes without a reload.
    a.locator("#add-result .messages").wait_for()
    assert "is in your cart (2)" in a.locator("#add-result").inner_text()
    assert a.locator("#cart-count").inner_text() == "2"
    a.get_by_placeholder("Search lanterns, mugs, cards…").fill("mug")
    a.get_by_role("button", name="Search").click()
    a.locator(".card a").first.click()
    a.get_by_role("button", name="Add to cart").click()
    a.locator("#add-result .messages").wait_for()
    a.goto(url + "/cart/")
    assert a.locator("#cart-count").inner_text() == "3"
    assert a.locator("table.cart tbody tr").count() == 2
    screenshot(a, "cart")

    # A signs up at checkout with the code from the outbox and places the order.
    a.get_by_role("link", name="Checkout").click()
    sign_up(a, "ada@example.com")
    a.wait_for_url("**/orders/checkout/")
    fill_shipping(a)
    a.get_by_role("button", name="Place order").click()
    a.wait_for_url(re.compile(r".*/orders/V[0-9A-F-]+/$"))
    assert "placed" in a.locator(".status").inner_text().lower()
    order = Order.objects.get(user__email="ada@example.com")
    assert order.number in a.content()
    assert order.lines.count() == 2
    screenshot(a, "order")
    lantern.refresh_from_db()
    assert lantern.stock == 2

    # B confirms now: 3 wanted, 2 left. Nothing is placed, B is told which line and how many.
    b.get_by_role("button", name="Place order").click()
    alert = b.get_by_role("alert")
    assert alert.is_visible()
    assert f"“{lantern.name}”: you asked for 3, only 2 left." in alert.inner_text()
    screenshot(b, "checkout-shortage")
    assert not Order.objects.filter(user__email="grace@example.com").exists()
    lantern.refresh_from_db()
    assert lantern.stock == 2

    # A's history shows the order on the profile page.
    a.goto(url + "/accounts/profile/")
    assert order.number in a.locator("table.orders").inner_text()
