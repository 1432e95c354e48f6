"""The admin as back office: a seller sees and edits only their own listings; moderation is for
administrators."""

import pytest

from via.shop.accounts.models import Role
from via.shop.catalog.models import ProductStatus

from .factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_seller_sees_only_own_products_and_cannot_moderate(client):
    seller = UserFactory(username="seller1", role=Role.SELLER)
    own = ProductFactory(name="MY LANTERN", seller=seller, status=ProductStatus.PENDING)
    other = ProductFactory(name="THEIR MUG")
    client.force_login(seller)
    page = client.get("/admin/catalog/product/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "MY LANTERN" in body and "THEIR MUG" not in body
    assert 'value="approve"' not in body
    assert client.get(f"/admin/catalog/product/{other.pk}/change/").status_code == 302  # not theirs
    assert client.get(f"/admin/catalog/product/{own.pk}/change/").status_code == 200


def test_admin_approves_products(client):
    admin = UserFactory(username="boss", role=Role.ADMIN)
    pending = ProductFactory(name="NEW LANTERN", status=ProductStatus.PENDING)
    client.force_login(admin)
    assert client.get(pending.get_absolute_url()).status_code == 404
    response = client.post(
        "/admin/catalog/product/", {"action": "approve", "_selected_action": [pending.pk]}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == ProductStatus.APPROVED
    assert client.get(pending.get_absolute_url()).status_code == 200


def test_buyers_have_no_admin(client, buyer):
    client.force_login(buyer)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_a_sellers_new_listing_is_theirs_and_pending(client):
    from via.shop.catalog.models import Product

    from .factories import SubcategoryFactory

    seller = UserFactory(username="seller2", role=Role.SELLER)
    category = SubcategoryFactory()
    client.force_login(seller)
    response = client.post(
        "/admin/catalog/product/add/",
        {
            "category": category.pk,
            "code": "NEW1",
            "name": "HAND MADE LANTERN",
            "description": "",
            "price": "4.20",
            "stock": "3",
            "created_at_0": "2026-11-23",
            "created_at_1": "10:00:00",
            "images-TOTAL_FORMS": "0",
            "images-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    product = Product.objects.get(code="NEW1")
    assert product.seller == seller and product.status == ProductStatus.PENDING
    assert client.get(product.get_absolute_url()).status_code == 404  # not shown before review
