"""Whole-page cache for visitors without a session (no cart, no sign-in, no pending message).

Their catalog pages are the same for everyone but for the CSRF token, so the page is stored with
the token replaced by a placeholder and each visitor gets a token of their own on the way out.
Keys carry the catalog stamp, the language and the full path: any product change (stock
included) is visible on the next request. A page that set anything in the session (a message
left for later, a cart) is never stored, and a request with a session cookie never reads one."""

from __future__ import annotations

import hashlib
import re
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language

from .caching import TIMEOUT_SECONDS, catalog_stamp

PLACEHOLDER = "__via_csrf_token__"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"|"X-CSRFToken": "([A-Za-z0-9]{64})"')


def _key(request) -> str:
    raw = f"{get_language()}|{request.get_full_path()}|{catalog_stamp()}"
    return "via:page:" + hashlib.sha1(raw.encode()).hexdigest()


def _storable(request, response) -> bool:
    session = getattr(request, "session", None)
    return (
        response.status_code == 200
        and not response.streaming
        and response.get("Content-Type", "").startswith("text/html")
        and not (session is not None and session.modified)
        and not response.cookies
    )


def anonymous_page_cache(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "GET" or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return view(request, *args, **kwargs)
        key = _key(request)
        cached = cache.get(key)
        if cached is not None:
            content_type, body = cached
            response = HttpResponse(body.replace(PLACEHOLDER, get_token(request)), content_type=content_type)
            response["X-Via-Page-Cache"] = "hit"
        else:
            response = view(request, *args, **kwargs)
            if _storable(request, response):
                body = response.content.decode(response.charset)
                tokens = {t for pair in TOKEN_RE.findall(body) for t in pair if t}
                for token in tokens:
                    body = body.replace(token, PLACEHOLDER)
                cache.set(key, (response["Content-Type"], body), TIMEOUT_SECONDS)
        patch_vary_headers(response, ("Cookie", "Accept-Language"))
        return response

    return wrapped
