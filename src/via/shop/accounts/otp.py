"""One-time sign-in codes: issue, throttle, verify.

Codes are six digits, valid `VIA_OTP_TTL_SECONDS`, at most `VIA_OTP_MAX_ATTEMPTS` tries, and
stored as HMAC-SHA256(SECRET_KEY, salt + code): never in clear. A keyed hash rather than a slow
password hash because the code lives five minutes and the try counter, not the hash, is what stops
guessing. Every answer is the same whether or not an account exists for the identifier.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import OneTimeCode
from .senders import get_sender


class VerifyResult(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class IssueResult:
    sent: bool
    retry_after_seconds: int = 0


def hash_code(code: str, salt: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), (salt + code).encode(), hashlib.sha256
    ).hexdigest()


def issue_code(identifier: str, channel: str) -> IssueResult:
    """Send a fresh code unless one was sent less than VIA_OTP_RESEND_SECONDS ago."""
    now = timezone.now()
    last = OneTimeCode.objects.filter(identifier=identifier).first()
    if last is not None:
        wait = settings.VIA_OTP_RESEND_SECONDS - (now - last.created_at).total_seconds()
        if wait > 0:
            return IssueResult(sent=False, retry_after_seconds=int(wait) + 1)
    code = f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(8)
    with transaction.atomic():
        # A new code replaces older ones: only the latest can be used.
        OneTimeCode.objects.filter(identifier=identifier, used_at__isnull=True).update(used_at=now)
        OneTimeCode.objects.create(
            identifier=identifier,
            channel=channel,
            code_hash=hash_code(code, salt),
            salt=salt,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.VIA_OTP_TTL_SECONDS),
        )
    minutes = settings.VIA_OTP_TTL_SECONDS // 60
    get_sender().send(
        channel,
        identifier,
        "Your VIA sign-in code",
        f"Your VIA code is {code}. It is valid for {minutes} minutes. "
        "If you did not ask for it, ignore this message.",
    )
    return IssueResult(sent=True)


def verify_code(identifier: str, code: str) -> VerifyResult:
    """Check `code` against the latest code of `identifier`; each call spends one try."""
    with transaction.atomic():
        otp = (
            OneTimeCode.objects.select_for_update()
            .filter(identifier=identifier, used_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        if otp is None:
            return VerifyResult.NO_CODE
        if otp.attempts >= settings.VIA_OTP_MAX_ATTEMPTS:
            return VerifyResult.EXHAUSTED
        if timezone.now() >= otp.expires_at:
            return VerifyResult.EXPIRED
        OneTimeCode.objects.filter(pk=otp.pk).update(attempts=F("attempts") + 1)
        if not hmac.compare_digest(otp.code_hash, hash_code(code, otp.salt)):
            return VerifyResult.WRONG
        OneTimeCode.objects.filter(pk=otp.pk).update(used_at=timezone.now())
        return VerifyResult.OK
