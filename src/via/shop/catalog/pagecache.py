"""Whole-page cache for catalog pages, with the personal parts filled in per request.

A catalog page is the same for everyone but for two regions of base.html, marked
<!--via:account--> (cart count, sign-in state) and <!--via:messages-->, and the CSRF token. The
page is stored with those regions emptied and the token replaced by a placeholder; each request
then renders the two regions with its own context and gets a token of its own. Keys carry the
catalog stamp, the language and the full path: any product change (stock included) is visible
on the next request. A page that showed a message (a bad filter, say) is not stored, so the
message is never lost; messages waiting in the session are shown on hits as on misses."""

from __future__ import annotations

import hashlib
import re
from functools import wraps

from django.core.cache import cache
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language

from .caching import TIMEOUT_SECONDS, catalog_stamp

PLACEHOLDER = "__via_csrf_token__"
TOKEN_RE = re.compile(
    r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"|"X-CSRFToken": "([A-Za-z0-9]{64})"'
)
REGIONS = {"account": "_account.html", "messages": "_messages.html"}
REGION_RE = re.compile(r"(<!--via:(account|messages)-->)(.*?)(<!--/via:\2-->)", re.S)


def _key(request) -> str:
    raw = f"{get_language()}|{request.get_full_path()}|{catalog_stamp()}"
    return "via:page:" + hashlib.sha1(raw.encode()).hexdigest()


def _shared_part(request, response) -> str | None:
    """The page without its personal parts, or None when it must not be stored."""
    session = getattr(request, "session", None)
    if (
        response.status_code != 200
        or response.streaming
        or not response.get("Content-Type", "").startswith("text/html")
        or response.cookies
        or (session is not None and session.modified)
    ):
        return None
    body = response.content.decode(response.charset)
    regions = {m.group(2): m.group(3) for m in REGION_RE.finditer(body)}
    if set(regions) != set(REGIONS) or regions["messages"].strip():
        return None
    body = REGION_RE.sub(lambda m: m.group(1) + m.group(4), body)
    for token in {t for pair in TOKEN_RE.findall(body) for t in pair if t}:
        body = body.replace(token, PLACEHOLDER)
    return body


def _personalised(request, shared: str) -> str:
    def fill(match):
        html = render_to_string(REGIONS[match.group(2)], request=request)
        return match.group(1) + html + match.group(4)

    return REGION_RE.sub(fill, shared.replace(PLACEHOLDER, get_token(request)))


def shared_page_cache(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "GET":
            return view(request, *args, **kwargs)
        key = _key(request)
        cached = cache.get(key)
        if cached is not None:
            content_type, shared = cached
            response = HttpResponse(_personalised(request, shared), content_type=content_type)
            response["X-Via-Page-Cache"] = "hit"
        else:
            response = view(request, *args, **kwargs)
            shared = _shared_part(request, response)
            if shared is not None:
                cache.set(key, (response["Content-Type"], shared), TIMEOUT_SECONDS)
        patch_vary_headers(response, ("Cookie", "Accept-Language"))
        return response

    return wrapped
