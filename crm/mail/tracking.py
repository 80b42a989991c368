"""Signed tracking links: the open pixel, click redirects, unsubscribe, confirm.

Every token is signed with the app's SECRET_KEY. A click token covers the
message id and the exact URL, so changing either breaks the signature and
the endpoint answers 404 instead of redirecting anywhere.

Tokens are itsdangerous ``URLSafeSerializer`` tokens and are verified by it.
``sign`` writes the same bytes directly (compact JSON, zlib when it is
shorter, URL-safe base64, HMAC-SHA1 with the derived key): a batch signs two
or three tokens per message, and the serializer's objects cost more than the
signature itself. ``tests/test_mail_tracking.py`` holds both to the same
output.
"""

import base64
import hashlib
import hmac
import html as htmllib
import json
import re
import zlib
from functools import lru_cache

from flask import current_app, has_request_context, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes

OPEN = "mail-open"
CLICK = "mail-click"
UNSUBSCRIBE = "mail-unsubscribe"
CONFIRM = "mail-confirm"

CONFIRM_MAX_AGE = 30 * 24 * 3600

# 1x1 transparent GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01"
    b"\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

_HREF = re.compile(r'(<a\b[^>]*?\shref=")([^"]*)(")', re.I)


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=salt)


@lru_cache(maxsize=32)
def _signing_key(secret: str | bytes, salt: str) -> bytes:
    # itsdangerous's default derivation ("django-concat" with SHA-1).
    return hashlib.sha1(want_bytes(salt) + b"signer" + want_bytes(secret)).digest()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(salt: str, value) -> str:
    """The ``URLSafeSerializer(SECRET_KEY, salt=salt)`` token of ``value``."""
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    # zlib adds at least 8 bytes, so a payload this short is never compressed.
    if len(payload) > 9:
        compressed = zlib.compress(payload)
        if len(compressed) < len(payload) - 1:
            payload = b"." + _b64(compressed)
        else:
            payload = _b64(payload)
    else:
        payload = _b64(payload)
    key = _signing_key(current_app.secret_key, salt)
    signature = hmac.new(key, payload, hashlib.sha1).digest()
    return (payload + b"." + _b64(signature)).decode("ascii")


def verify(salt: str, token: str):
    """The signed value, or None when the token is forged or malformed."""
    try:
        return _serializer(salt).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None


def sign_confirmation(address: str) -> str:
    return URLSafeTimedSerializer(current_app.secret_key, salt=CONFIRM).dumps(address)


def verify_confirmation(token: str) -> str | None:
    try:
        value = URLSafeTimedSerializer(current_app.secret_key, salt=CONFIRM).loads(
            token, max_age=CONFIRM_MAX_AGE
        )
    except (BadSignature, ValueError, TypeError):
        return None
    return value if isinstance(value, str) else None


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for mail: BASE_URL when set, else the current host.

    Jobs and CLI commands send outside a request; they need BASE_URL for
    links that work (without it they point at http://localhost/).
    """
    base = current_app.config.get("BASE_URL")
    if base or not has_request_context():
        # BASE_URL is the app's whole address, its sub-path included, so the
        # path is built without the request's script root.
        path = current_app.url_map.bind("localhost").build(endpoint, values)
    else:
        path = url_for(endpoint, **values)
    if not base:
        base = request.host_url if has_request_context() else "http://localhost/"
    return base.rstrip("/") + path


_PLACEHOLDER = "crm0token0placeholder"


def _token_url(endpoint: str, token: str) -> str:
    """``external_url(endpoint, token=token)``, from a pattern built once per app.

    Outside a request (the workers) the URL differs only in the token, which
    holds URL-safe characters only and is therefore written as it is.
    """
    if has_request_context():
        return external_url(endpoint, token=token)
    patterns = current_app.extensions.setdefault("crm_mail_token_urls", {})
    key = (endpoint, current_app.config.get("BASE_URL"))
    pattern = patterns.get(key)
    if pattern is None:
        pattern = patterns[key] = external_url(endpoint, token=_PLACEHOLDER).split(
            _PLACEHOLDER
        )
    return token.join(pattern)


def click_url(message_id: int, url: str) -> str:
    return _token_url("mail_public.click", sign(CLICK, [message_id, url]))


def pixel_url(message_id: int) -> str:
    return _token_url("mail_public.pixel", sign(OPEN, message_id))


def unsubscribe_url(message_id: int) -> str:
    return _token_url("mail_public.unsubscribe", sign(UNSUBSCRIBE, message_id))


def confirm_url(address: str) -> str:
    return external_url("mail_public.confirm", token=sign_confirmation(address))


def rewrite_links(html: str, message_id: int) -> tuple[str, list[str]]:
    """Point every http(s) link of ``html`` at its signed click URL.

    Returns the new HTML and the original URLs in order of appearance.
    """
    urls = []

    def replace(match):
        url = htmllib.unescape(match.group(2))
        if not url.lower().startswith(("http://", "https://")):
            return match.group(0)
        urls.append(url)
        tracked = htmllib.escape(click_url(message_id, url), quote=True)
        return f"{match.group(1)}{tracked}{match.group(3)}"

    return _HREF.sub(replace, html), urls
