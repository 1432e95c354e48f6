from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("sign-in/", views.sign_in, name="sign_in"),
    path("verify/", views.verify, name="verify"),
    path("resend/", views.resend, name="resend"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("profile/", views.profile, name="profile"),
    path("outbox/", views.outbox, name="outbox"),
]
