"""Sign-in by one-time code, sign-out, profile with order history, outbox (DEBUG only)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .forms import CodeForm, IdentifierForm
from .identifiers import channel_of
from .models import OutboxMessage
from .otp import VerifyResult, issue_code, verify_code
from .services import user_for_identifier

PENDING_KEY = "otp_identifier"
NEXT_KEY = "otp_next"

VERIFY_MESSAGES = {
    VerifyResult.WRONG: "That code is not right. Check the message and try again.",
    VerifyResult.EXPIRED: "That code has expired. Ask for a new one.",
    VerifyResult.EXHAUSTED: "Too many tries with this code. Ask for a new one.",
    VerifyResult.NO_CODE: "There is no active code. Ask for a new one.",
}


def _safe_next(request, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}):
        return candidate
    return None


def sign_in(request):
    if request.method == "POST":
        form = IdentifierForm(request.POST)
        if form.is_valid():
            identifier = form.cleaned_data["identifier"]
            result = issue_code(identifier, form.cleaned_data["channel"])
            request.session[PENDING_KEY] = identifier
            request.session[NEXT_KEY] = _safe_next(request, request.POST.get("next"))
            if not result.sent:
                messages.info(
                    request,
                    f"A code was sent a moment ago. You can ask for a new one in "
                    f"{result.retry_after_seconds} seconds.",
                )
            return redirect("accounts:verify")
    else:
        form = IdentifierForm()
    return render(
        request, "accounts/sign_in.html", {"form": form, "next": request.GET.get("next", "")}
    )


def verify(request):
    identifier = request.session.get(PENDING_KEY)
    if not identifier:
        messages.info(request, "Enter your e-mail or phone number first.")
        return redirect("accounts:sign_in")
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            result = verify_code(identifier, form.cleaned_data["code"])
            if result is VerifyResult.OK:
                user, created = user_for_identifier(identifier, channel_of(identifier))
                next_url = request.session.get(NEXT_KEY)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                request.session.pop(PENDING_KEY, None)
                request.session.pop(NEXT_KEY, None)
                messages.success(request, "Welcome to VIA." if created else "You are signed in.")
                return redirect(next_url or "catalog:home")
            form.add_error("code", VERIFY_MESSAGES[result])
    else:
        form = CodeForm()
    return render(request, "accounts/verify.html", {"form": form, "identifier": identifier})


@require_POST
def resend(request):
    identifier = request.session.get(PENDING_KEY)
    if not identifier:
        return redirect("accounts:sign_in")
    result = issue_code(identifier, channel_of(identifier))
    if result.sent:
        messages.info(request, "A new code is on its way.")
    else:
        messages.info(
            request, f"Please wait {result.retry_after_seconds} seconds before asking again."
        )
    return redirect("accounts:verify")


@require_POST
def sign_out(request):
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("catalog:home")


@login_required
def profile(request):
    orders = request.user.orders.prefetch_related("lines").order_by("-placed_at")[:50]
    return render(request, "accounts/profile.html", {"orders": orders})


@staff_member_required
def outbox(request):
    if not settings.DEBUG:
        raise Http404("The outbox page exists only in DEBUG.")
    return render(request, "accounts/outbox.html", {"outbox": OutboxMessage.objects.all()[:100]})
