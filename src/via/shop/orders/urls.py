from django.urls import path

from . import views

app_name = "orders"
urlpatterns = [
    path("checkout/", views.checkout, name="checkout"),
    path("selling/", views.selling, name="selling"),
    path("<str:number>/", views.detail, name="detail"),
    path("<str:number>/cancel/", views.cancel, name="cancel"),
    path("<str:number>/status/", views.set_status, name="set_status"),
]
