from .models import CartLine
from .services import SESSION_KEY


def cart_summary(request):
    """Number of items in the cart, for the header badge (one small query)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        lines = CartLine.objects.filter(cart__user=user)
    else:
        cart_id = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if not cart_id:
            return {"cart_count": 0}
        lines = CartLine.objects.filter(cart_id=cart_id)
    return {"cart_count": sum(lines.values_list("quantity", flat=True))}
