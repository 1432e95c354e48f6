"""Cart operations. Quantities are bounded by stock and by VIA_MAX_LINE_QUANTITY; each operation
returns a message that says what happened when the wish could not be met in full."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from via.shop.catalog.models import Product

from .models import Cart, CartLine

SESSION_KEY = "cart_id"


@dataclass(frozen=True)
class CartChange:
    quantity: int  # the quantity now in the cart for that product
    message: str | None = None  # set when less than asked could be kept


def get_cart(request, create: bool = False) -> Cart | None:
    """The account's cart when signed in, else the session's anonymous cart."""
    if request.user.is_authenticated:
        if create:
            cart, _ = Cart.objects.get_or_create(user=request.user)
            return cart
        return Cart.objects.filter(user=request.user).first()
    cart_id = request.session.get(SESSION_KEY)
    cart = Cart.objects.filter(pk=cart_id, user__isnull=True).first() if cart_id else None
    if cart is None and create:
        cart = Cart.objects.create()
        request.session[SESSION_KEY] = cart.pk
    return cart


def _bounded(product: Product, wanted: int) -> CartChange:
    limit = min(product.stock, settings.VIA_MAX_LINE_QUANTITY)
    if product.stock == 0:
        return CartChange(0, f"“{product.name}” is out of stock.")
    if wanted > limit:
        if limit == product.stock:
            msg = f"Only {product.stock} of “{product.name}” in stock; your cart holds {limit}."
        else:
            msg = f"At most {limit} of “{product.name}” per order; your cart holds {limit}."
        return CartChange(limit, msg)
    return CartChange(wanted)


def set_quantity(cart: Cart, product: Product, quantity: int) -> CartChange:
    """Set the line's quantity (0 removes it), within stock."""
    change = _bounded(product, quantity) if quantity > 0 else CartChange(0)
    with transaction.atomic():
        if change.quantity == 0:
            CartLine.objects.filter(cart=cart, product=product).delete()
        else:
            CartLine.objects.update_or_create(
                cart=cart, product=product, defaults={"quantity": change.quantity}
            )
        cart.save(update_fields=["updated_at"])
    return change


def add(cart: Cart, product: Product, quantity: int) -> CartChange:
    line = CartLine.objects.filter(cart=cart, product=product).first()
    current = line.quantity if line else 0
    return set_quantity(cart, product, current + quantity)


def refresh_against_stock(cart: Cart) -> list[str]:
    """Trim lines to the stock there is now (it may have changed since they were added)."""
    notes = []
    for line in cart.lines.select_related("product"):
        product = line.product
        if product.status != "approved":
            line.delete()
            notes.append(f"“{product.name}” is no longer sold and was removed from your cart.")
        elif line.quantity > product.stock:
            change = set_quantity(cart, product, line.quantity)
            if change.quantity == 0:
                notes.append(f"“{product.name}” sold out meanwhile and was removed from your cart.")
            else:
                notes.append(
                    f"Only {product.stock} of “{product.name}” left now; your cart holds "
                    f"{change.quantity}."
                )
    return notes


def merge_into_account(session_cart: Cart, user) -> list[str]:
    """Move an anonymous cart's lines into the user's cart (quantities add up, within stock)."""
    notes = []
    with transaction.atomic():
        account_cart, _ = Cart.objects.get_or_create(user=user)
        for line in session_cart.lines.select_related("product"):
            change = add(account_cart, line.product, line.quantity)
            if change.message:
                notes.append(change.message)
        session_cart.delete()
    return notes
