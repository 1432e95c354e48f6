"""Whole-page cache for catalog pages, with the personal parts filled in per request.

A catalog page is the same for everyone but for two regions of base.html, marked
<!--via:account--> (cart count, sign-in state) and <!--via:messages-->, and the CSRF token. The
page is stored with those regions emptied and the token replaced by a placeholder; each request
then renders the two regions with its own context and gets a token of its own. Keys carry the
catalog stamp, the language and the full path: any product change (stock included) is visible
on the next request. A page that showed a message (a bad filter, say) is not stored, so the
message is never lost; messages waiting in the session are shown on hits as on misses.
Visitors without a session cookie, whose personal regions are the same for everyone, get a
second, fully rendered copy (only the token is filled in)."""

from __future__ import annotations

import hashlib
import re
from functools import wraps

from django.conf import settings
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
SPLIT = "<!--via:split-->"
REGION_RE = re.compile(r"(<!--via:(account|messages)-->)(.*?)(<!--/via:\2-->)", re.S)


def _key(request) -> str:
    raw = f"{get_language()}|{request.get_full_path()}|{catalog_stamp()}"
    return "via:page:" + hashlib.sha1(raw.encode()).hexdigest()


def _storable_body(request, response) -> str | None:
    """The page with a placeholder for the CSRF token, or None when it must not be stored."""
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
    for token in {t for pair in TOKEN_RE.findall(body) for t in pair if t}:
        body = body.replace(token, PLACEHOLDER)
    return body


def _without_regions(body: str) -> str:
    return REGION_RE.sub(lambda m: m.group(1) + m.group(4), body)


def _personalised(request, shared: str) -> str:
    # Both regions in one rendering, so the context processors (cart count...) run once.
    account, messages = render_to_string("_personal.html", request=request).split(SPLIT, 1)
    regions = {"account": account, "messages": messages}
    return REGION_RE.sub(
        lambda m: m.group(1) + regions[m.group(2)] + m.group(4),
        shared.replace(PLACEHOLDER, get_token(request)),
    )


def _hit(content_type: str, body: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["X-Via-Page-Cache"] = "hit"
    return response


def shared_page_cache(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "GET":
            return view(request, *args, **kwargs)
        key = _key(request)
        # Without a session cookie the personal regions are the same for everyone (an empty
        # cart, a sign-in link, no message): such visitors get a fully rendered copy.
        sessionless = settings.SESSION_COOKIE_NAME not in request.COOKIES
        body = None
        if sessionless and (cached := cache.get(key + ":sessionless")) is not None:
            content_type, stored = cached
            response = _hit(content_type, stored.replace(PLACEHOLDER, get_token(request)))
        elif (cached := cache.get(key)) is not None:
            content_type, shared = cached
            response = _hit(content_type, _personalised(request, shared))
            body = _storable_body(request, response) if sessionless else None
        else:
            response = view(request, *args, **kwargs)
            body = _storable_body(request, response)
            if body is not None:
                cache.set(key, (response["Content-Type"], _without_regions(body)), TIMEOUT_SECONDS)
        if sessionless and body is not None:
            cache.set(key + ":sessionless", (response["Content-Type"], body), TIMEOUT_SECONDS)
        patch_vary_headers(response, ("Cookie", "Accept-Language"))
        return response

    return wrapped
