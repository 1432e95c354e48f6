"""At sign-in, the cart a shopper filled anonymously joins their account's cart."""

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .models import Cart
from .services import SESSION_KEY, merge_into_account


@receiver(user_logged_in)
def merge_session_cart(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    cart_id = request.session.pop(SESSION_KEY, None)
    session_cart = Cart.objects.filter(pk=cart_id, user__isnull=True).first() if cart_id else None
    if session_cart is None:
        return
    for note in merge_into_account(session_cart, user):
        messages.warning(request, note)
