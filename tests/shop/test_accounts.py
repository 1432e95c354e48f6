"""One-time-code sign-in and registration, roles, the outbox, the profile."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from via.shop.accounts.models import OneTimeCode, OutboxMessage, User

from .conftest import last_code, messages_of
from .factories import UserFactory

pytestmark = pytest.mark.django_db


def ask_code(client, identifier):
    return client.post("/accounts/sign-in/", {"identifier": identifier}, follow=True)


def enter_code(client, code):
    return client.post("/accounts/verify/", {"code": code}, follow=True)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_new_email_registers_a_buyer_and_signs_in(client):
    ask_code(client, "  New.Shopper@Example.COM ")
    code = last_code("new.shopper@example.com")
    response = enter_code(client, code)
    user = User.objects.get(email="new.shopper@example.com")
    assert response.context["user"] == user
    assert user.has_role("buyer") and not user.has_role("seller")
    assert not user.has_usable_password()


def test_existing_account_signs_in_by_phone(client):
    user = UserFactory(username="phoneuser", email=None, phone="+447700900123")
    ask_code(client, "+44 7700 900123")
    response = enter_code(client, last_code("+447700900123"))
    assert response.context["user"] == user
    assert User.objects.filter(phone="+447700900123").count() == 1
    assert OutboxMessage.objects.get(recipient="+447700900123").channel == "sms"


def test_answer_does_not_reveal_whether_an_account_exists(client, buyer):
    known = ask_code(client, buyer.email)
    client.session.flush()
    unknown = ask_code(client.__class__(), "nobody@example.com")

    def strip(response):
        return (
            response.content.decode().replace(buyer.email, "X").replace("nobody@example.com", "X")
        )

    assert known.redirect_chain[-1][0] == unknown.redirect_chain[-1][0] == "/accounts/verify/"
    # Both pages are the same apart from the echoed address (and the CSRF token).
    import re

    token = re.compile(r'value="[A-Za-z0-9]{64}"|"X-CSRFToken": "[A-Za-z0-9]{64}"')
    assert token.sub("", strip(known)) == token.sub("", strip(unknown))


def test_code_is_six_digits_and_never_stored_in_clear(client):
    ask_code(client, "ada@example.com")
    code = last_code("ada@example.com")
    assert len(code) == 6 and code.isdigit()
    otp = OneTimeCode.objects.get(identifier="ada@example.com")
    stored = " ".join(str(v) for v in OneTimeCode.objects.values_list().get(pk=otp.pk))
    assert code not in stored
    assert len(otp.code_hash) == 64


def test_wrong_code_is_refused(client):
    ask_code(client, "ada@example.com")
    response = enter_code(client, wrong(last_code("ada@example.com")))
    assert not response.context["user"].is_authenticated
    assert "not right" in response.content.decode()


def test_expired_code_is_refused(client):
    ask_code(client, "ada@example.com")
    code = last_code("ada@example.com")
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = enter_code(client, code)
    assert not response.context["user"].is_authenticated
    assert "expired" in response.content.decode()


def test_code_is_valid_five_minutes(client):
    ask_code(client, "ada@example.com")
    otp = OneTimeCode.objects.get()
    assert (
        timedelta(minutes=4, seconds=59) < otp.expires_at - otp.created_at <= timedelta(minutes=5)
    )


def test_sixth_try_is_refused_even_with_the_right_code(client):
    ask_code(client, "ada@example.com")
    code = last_code("ada@example.com")
    for _ in range(5):
        assert not enter_code(client, wrong(code)).context["user"].is_authenticated
    response = enter_code(client, code)
    assert not response.context["user"].is_authenticated
    assert "Too many tries" in response.content.decode()
    assert OneTimeCode.objects.get().attempts == 5


def test_fifth_try_with_the_right_code_still_works(client):
    ask_code(client, "ada@example.com")
    code = last_code("ada@example.com")
    for _ in range(4):
        enter_code(client, wrong(code))
    assert enter_code(client, code).context["user"].is_authenticated


def test_a_code_works_once(client):
    ask_code(client, "ada@example.com")
    code = last_code("ada@example.com")
    assert enter_code(client, code).context["user"].is_authenticated
    client.post("/accounts/sign-out/")
    client.post("/accounts/sign-in/", {"identifier": "ada@example.com"})
    # The resend throttle keeps the old (used) code as the latest one: it must not work again.
    assert not enter_code(client, code).context["user"].is_authenticated


def test_resend_is_throttled_and_a_new_code_replaces_the_old(client, settings):
    ask_code(client, "ada@example.com")
    first = last_code("ada@example.com")
    response = client.post("/accounts/resend/", follow=True)
    assert any("wait" in m for m in messages_of(response))
    assert OutboxMessage.objects.count() == 1
    OneTimeCode.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.VIA_OTP_RESEND_SECONDS + 1)
    )
    client.post("/accounts/resend/")
    assert OutboxMessage.objects.count() == 2
    second = last_code("ada@example.com")
    if second != first:
        assert not enter_code(client, first).context["user"].is_authenticated
    assert enter_code(client, second).context["user"].is_authenticated


@pytest.mark.parametrize(
    "identifier, message",
    [
        ("not-an-email@", "valid e-mail"),
        ("12345", "phone number of 8 to 15 digits"),
        ("", "required"),
        ("x" * 300, "at most 254"),
    ],
)
def test_bad_identifiers_get_a_message(client, identifier, message):
    response = client.post("/accounts/sign-in/", {"identifier": identifier})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert OutboxMessage.objects.count() == 0


@pytest.mark.parametrize("code", ["12345", "abcdef", "1234567", ""])
def test_malformed_codes_get_a_message_and_spend_no_try(client, code):
    ask_code(client, "ada@example.com")
    response = client.post("/accounts/verify/", {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert OneTimeCode.objects.get().attempts == 0


def test_verify_without_asking_first_redirects(client):
    response = client.get("/accounts/verify/")
    assert response.status_code == 302 and response.url == "/accounts/sign-in/"


def test_next_is_followed_only_when_local(client):
    client.post(
        "/accounts/sign-in/", {"identifier": "ada@example.com", "next": "https://evil.example/"}
    )
    response = client.post("/accounts/verify/", {"code": last_code("ada@example.com")})
    assert response.url == "/"
    client.post("/accounts/sign-out/")
    OneTimeCode.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    client.post("/accounts/sign-in/", {"identifier": "ada@example.com", "next": "/cart/"})
    response = client.post("/accounts/verify/", {"code": last_code("ada@example.com")})
    assert response.url == "/cart/"


def test_role_groups_exist_with_permissions():
    seller = Group.objects.get(name="seller")
    admin = Group.objects.get(name="admin")
    assert seller.permissions.filter(codename="add_product").exists()
    assert not seller.permissions.filter(codename="moderate_product").exists()
    assert admin.permissions.filter(codename="moderate_product").exists()
    assert Group.objects.filter(name="buyer").exists()


def test_outbox_page_is_for_staff_in_debug_only(client, settings):
    settings.DEBUG = True
    ask_code(client, "ada@example.com")
    assert client.get("/accounts/outbox/").status_code == 302  # to the admin login
    staff = UserFactory(username="staff", is_staff=True)
    client.force_login(staff)
    response = client.get("/accounts/outbox/")
    assert response.status_code == 200 and last_code("ada@example.com") in response.content.decode()
    settings.DEBUG = False
    assert client.get("/accounts/outbox/").status_code == 404


def test_profile_requires_sign_in(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302 and response.url.startswith("/accounts/sign-in/")
