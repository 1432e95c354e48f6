"""URL map of the shop: one include per app."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve


def media(request, path):
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("", include("via.shop.catalog.urls")),
    path("cart/", include("via.shop.cart.urls")),
    path("orders/", include("via.shop.orders.urls")),
    path("accounts/", include("via.shop.accounts.urls")),
    path("admin/", admin.site.urls),
    # Product images are drawn by the demo loader into MEDIA_ROOT; a production deployment
    # serves that folder from its web server or object store instead.
    re_path(r"^media/(?P<path>.*)$", media),
]
