"""Cart pages: view, add, change quantity, remove. htmx requests get the cart fragment back."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from via.shop.catalog.models import Product

from . import services
from .forms import AddToCartForm, QuantityForm


def detail(request):
    cart = services.get_cart(request)
    if cart is not None:
        for note in services.refresh_against_stock(cart):
            messages.warning(request, note)
    lines = (
        list(cart.lines.select_related("product").prefetch_related("product__images"))
        if cart
        else []
    )
    return render(request, "cart/detail.html", {"cart": cart, "lines": lines})


def _report(request, form, change, product):
    if form is not None and not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return
    if change.message:
        messages.warning(request, change.message)


@require_POST
def add(request, product_id: int):
    product = get_object_or_404(Product.objects.visible(), pk=product_id)
    form = AddToCartForm(request.POST)
    if form.is_valid():
        cart = services.get_cart(request, create=True)
        change = services.add(cart, product, form.cleaned_data["quantity"])
        _report(request, None, change, product)
        if change.quantity and not change.message:
            messages.success(request, f"“{product.name}” is in your cart ({change.quantity}).")
    else:
        _report(request, form, None, product)
    if request.headers.get("HX-Request"):
        # htmx: answer with the messages and the new cart count, and stay on the page.
        return render(request, "cart/_added.html")
    next_url = request.POST.get("next")
    if not (next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()})):
        next_url = product.get_absolute_url()
    return redirect(next_url)


@require_POST
def update(request, product_id: int):
    product = get_object_or_404(Product, pk=product_id)
    form = QuantityForm(request.POST)
    if form.is_valid():
        cart = services.get_cart(request, create=True)
        change = services.set_quantity(cart, product, form.cleaned_data["quantity"])
        _report(request, None, change, product)
    else:
        _report(request, form, None, product)
    return redirect("cart:detail")


@require_POST
def remove(request, product_id: int):
    product = get_object_or_404(Product, pk=product_id)
    cart = services.get_cart(request)
    if cart is not None:
        services.set_quantity(cart, product, 0)
        messages.info(request, f"“{product.name}” was removed from your cart.")
    return redirect("cart:detail")
