"""Placing and cancelling orders (thesis, figure 4.4).

`place_order` is one transaction: lock the cart's products in id order (so two checkouts cannot
deadlock), check every line against stock, decrement with F(), create the Order and its lines with
today's prices, take the payment, clear the cart. If any line is short, it raises OutOfStock
listing every short line, and the transaction leaves nothing behind.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from via.shop.cart.models import Cart
from via.shop.catalog.models import Product, ProductStatus

from .models import TRANSITIONS, Order, OrderLine, OrderStatus, Payment, PaymentMethod
from .payments import get_card_provider


@dataclass(frozen=True)
class Shortage:
    product_id: int
    name: str
    wanted: int
    available: int

    def __str__(self) -> str:
        if self.available == 0:
            return f"“{self.name}”: you asked for {self.wanted}, none is left."
        return f"“{self.name}”: you asked for {self.wanted}, only {self.available} left."


class CheckoutError(Exception):
    pass


class EmptyCart(CheckoutError):
    def __init__(self):
        super().__init__("Your cart is empty.")


class OutOfStock(CheckoutError):
    def __init__(self, shortages: list[Shortage]):
        self.shortages = shortages
        super().__init__("; ".join(str(s) for s in shortages))


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True)
class ShippingDetails:
    name: str
    address: str
    city: str
    country: str


def new_order_number() -> str:
    return f"V{timezone.now():%y%m%d}-{secrets.token_hex(3).upper()}"


def place_order(
    cart: Cart,
    shipping: ShippingDetails,
    payment_method: str,
    card_number: str = "",
) -> Order:
    with transaction.atomic():
        lines = list(cart.lines.order_by("product_id"))
        if not lines:
            raise EmptyCart()
        wanted = {line.product_id: line.quantity for line in lines}
        products = {
            p.pk: p
            for p in Product.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
        }
        shortages = []
        for product_id, quantity in wanted.items():
            product = products.get(product_id)
            available = product.stock if product and product.status == ProductStatus.APPROVED else 0
            if quantity > available:
                name = product.name if product else f"product {product_id}"
                shortages.append(Shortage(product_id, name, quantity, available))
        if shortages:
            raise OutOfStock(shortages)

        for product_id, quantity in wanted.items():
            # The filter on stock is a second guard: an UPDATE that would go below zero changes
            # no row, and we stop.
            updated = Product.objects.filter(pk=product_id, stock__gte=quantity).update(
                stock=F("stock") - quantity,
                popularity=F("popularity") + quantity,
                updated_at=timezone.now(),
            )
            if updated != 1:
                product = products[product_id]
                raise OutOfStock([Shortage(product_id, product.name, quantity, 0)])

        total = sum((products[pid].price * q for pid, q in wanted.items()), Decimal("0"))
        order = Order.objects.create(
            number=new_order_number(),
            user=cart.user,
            payment_method=payment_method,
            total=total,
            shipping_name=shipping.name,
            shipping_address=shipping.address,
            shipping_city=shipping.city,
            shipping_country=shipping.country,
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=products[pid],
                product_name=products[pid].name,
                unit_price=products[pid].price,
                quantity=q,
            )
            for pid, q in wanted.items()
        )
        if payment_method == PaymentMethod.CARD:
            # Raises PaymentDeclined, which rolls everything above back.
            result = get_card_provider().charge(total, card_number, order.number)
            Payment.objects.create(
                order=order,
                provider=result.provider,
                amount=total,
                status=result.status,
                reference=result.reference,
                card_last4=result.card_last4,
            )
        else:
            Payment.objects.create(
                order=order, provider="cash-on-delivery", amount=total, status="pending"
            )
        cart.lines.all().delete()
    return order


def change_status(order: Order, new_status: str, tracking_number: str = "") -> Order:
    """Move an order along its life; cancelling puts the units back in stock."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        current = OrderStatus(order.status)
        if OrderStatus(new_status) not in TRANSITIONS[current]:
            raise InvalidTransition(
                f"An order that is {current.label.lower()} cannot become "
                f"{OrderStatus(new_status).label.lower()}."
            )
        if new_status == OrderStatus.SHIPPED:
            if not tracking_number.strip():
                raise InvalidTransition("A shipped order needs a tracking number.")
            order.tracking_number = tracking_number.strip()
        if new_status == OrderStatus.CANCELLED:
            for line in order.lines.order_by("product_id"):
                Product.objects.filter(pk=line.product_id).update(
                    stock=F("stock") + line.quantity,
                    popularity=Greatest(F("popularity") - line.quantity, 0),
                    updated_at=timezone.now(),
                )
            order.payments.filter(status="captured").update(status="refunded")
            order.payments.filter(status="pending").delete()
        order.status = new_status
        order.save(update_fields=["status", "tracking_number", "updated_at"])
    return order


def cancel_order(order: Order) -> Order:
    return change_status(order, OrderStatus.CANCELLED)
