"""factory_boy factories for the shop's models."""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from via.shop.accounts.models import Role, User
from via.shop.accounts.services import grant_role
from via.shop.catalog.models import Category, Product, ProductStatus


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"shopper{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if create:
            grant_role(user, extracted or Role.BUYER)


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None


class SubcategoryFactory(CategoryFactory):
    name = factory.Sequence(lambda n: f"Subcategory {n}")
    slug = factory.Sequence(lambda n: f"subcategory-{n}")
    parent = factory.SubFactory(CategoryFactory)


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    seller = factory.SubFactory(UserFactory, role=Role.SELLER)
    category = factory.SubFactory(SubcategoryFactory)
    code = factory.Sequence(lambda n: f"T{n:05d}")
    name = factory.Sequence(lambda n: f"TEST PRODUCT {n}")
    description = "A product made for a test."
    price = Decimal("2.50")
    stock = 10
    status = ProductStatus.APPROVED
