"""Checkout (sign-in required, thesis 4.5), order page, cancellation."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from via.shop.cart.services import get_cart, refresh_against_stock

from .forms import CheckoutForm, StatusForm
from .models import Order
from .payments import PaymentDeclined
from .selling import orders_for
from .services import (
    CheckoutError,
    InvalidTransition,
    OutOfStock,
    ShippingDetails,
    cancel_order,
    change_status,
    place_order,
)


@login_required
def checkout(request):
    cart = get_cart(request)
    if cart is None or not cart.lines.exists():
        messages.info(request, "Your cart is empty.")
        return redirect("cart:detail")
    shortages = []
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            shipping = ShippingDetails(
                data["shipping_name"],
                data["shipping_address"],
                data["shipping_city"],
                data["shipping_country"],
            )
            try:
                order = place_order(
                    cart, shipping, data["payment_method"], data.get("card_number", "")
                )
            except OutOfStock as exc:
                shortages = exc.shortages
                messages.error(request, "Your order was not placed: some items are short.")
            except PaymentDeclined as exc:
                form.add_error("card_number", str(exc))
            except CheckoutError as exc:
                messages.error(request, str(exc))
                return redirect("cart:detail")
            else:
                messages.success(request, f"Thank you! Order {order.number} is placed.")
                return redirect(order)
    else:
        for note in refresh_against_stock(cart):
            messages.warning(request, note)
        last = request.user.orders.order_by("-placed_at").first()
        initial = {}
        if last is not None:
            initial = {
                "shipping_name": last.shipping_name,
                "shipping_address": last.shipping_address,
                "shipping_city": last.shipping_city,
                "shipping_country": last.shipping_country or "United Kingdom",
            }
        form = CheckoutForm(initial=initial)
    lines = list(cart.lines.select_related("product"))
    return render(
        request,
        "orders/checkout.html",
        {"form": form, "cart": cart, "lines": lines, "shortages": shortages},
    )


@login_required
def detail(request, number: str):
    order = get_object_or_404(
        Order.objects.prefetch_related("lines", "payments"), number=number, user=request.user
    )
    return render(request, "orders/detail.html", {"order": order})


@login_required
@require_POST
def cancel(request, number: str):
    order = get_object_or_404(Order, number=number, user=request.user)
    try:
        cancel_order(order)
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Order {order.number} is cancelled; its items are back in stock."
        )
    return redirect("orders:detail", number=number)


@login_required
def selling(request):
    """Orders a seller has to handle (all orders for administrators)."""
    if not request.user.has_perm("orders.change_order"):
        raise PermissionDenied("Only sellers and administrators handle orders.")
    orders = orders_for(request.user).prefetch_related("lines").select_related("user")[:100]
    return render(request, "orders/selling.html", {"orders": orders, "form": StatusForm()})


@login_required
@require_POST
def set_status(request, number: str):
    if not request.user.has_perm("orders.change_order"):
        raise PermissionDenied("Only sellers and administrators handle orders.")
    # Object-level rule: a seller reaches only orders holding one of their products.
    order = get_object_or_404(orders_for(request.user), number=number)
    form = StatusForm(request.POST)
    if form.is_valid():
        try:
            change_status(order, form.cleaned_data["status"], form.cleaned_data["tracking_number"])
        except InvalidTransition as exc:
            messages.error(request, f"{order.number}: {exc}")
        else:
            messages.success(request, f"{order.number} is now {form.cleaned_data['status']}.")
    else:
        messages.error(request, "Choose a valid status.")
    return redirect("orders:selling")
