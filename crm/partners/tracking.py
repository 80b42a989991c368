"""Tracking links: where they may send a visitor, and the signed referral cookie.

A destination is followed only when it is an absolute http(s) URL whose
scheme, host, port and path fall under one of the prefixes the administrator
allowed. The URL the visitor is sent to is rebuilt from the checked parts, so
what the browser follows is what was checked.
"""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

COOKIE_NAME = "crm_ref"
_SALT = "crm.partners.referral-cookie"
# Unlimited tracking windows still need a cookie lifetime.
UNLIMITED_COOKIE_DAYS = 3650
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Parsed:
    """The parts of a checked absolute URL that matching compares."""

    __slots__ = ("scheme", "host", "port", "path", "query", "fragment")

    def __init__(self, scheme, host, port, path, query, fragment):
        self.scheme, self.host, self.port = scheme, host, port
        self.path, self.query, self.fragment = path, query, fragment

    def url(self) -> str:
        netloc = self.host
        if self.port != _DEFAULT_PORTS[self.scheme]:
            netloc = f"{netloc}:{self.port}"
        return urlunsplit(
            (self.scheme, netloc, self.path or "/", self.query, self.fragment)
        )


def parse_url(raw) -> Parsed | None:
    """``raw`` as an absolute http(s) URL with a plain host, or None.

    Refused: anything relative or scheme-relative, other schemes, user
    names in the address, backslashes, whitespace or control characters,
    hosts with characters outside letters, digits, dots and dashes (so no
    look-alike or percent-encoded host), and ports that do not parse.
    """
    if not isinstance(raw, str) or not raw or len(raw) > 2000:
        return None
    if "\\" in raw or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None
    if "@" in parts.netloc or "%" in parts.netloc:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host or not _HOST.match(host):
        return None
    # "/shop/../admin" would leave an allowed path once the browser resolves it.
    if any(seg in (".", "..") for seg in unquote(parts.path).split("/")):
        return None
    return Parsed(
        scheme,
        host,
        port if port is not None else _DEFAULT_PORTS[scheme],
        parts.path,
        parts.query,
        parts.fragment,
    )


def prefix_matches(prefix: Parsed, target: Parsed) -> bool:
    """Whether ``target`` lies under ``prefix`` (same origin, path below it)."""
    if (prefix.scheme, prefix.host, prefix.port) != (
        target.scheme,
        target.host,
        target.port,
    ):
        return False
    base = prefix.path.rstrip("/")
    if not base:
        return True
    path = target.path
    return path == base or path.startswith(base + "/")


def allowed_destination(raw, prefixes) -> str | None:
    """The URL to send a visitor to for ``raw``, when a prefix allows it."""
    target = parse_url(raw)
    if target is None:
        return None
    for prefix in prefixes:
        checked = parse_url(prefix)
        if checked is not None and prefix_matches(checked, target):
            return target.url()
    return None


# The cookie.
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_cookie_value(partner_id: int) -> str:
    """A signed, timestamped value naming the partner whose link was clicked."""
    return _serializer().dumps({"p": partner_id})


def read_cookie_value(value) -> tuple[int, datetime] | None:
    """(partner id, click time) from a cookie value; None when not genuine.

    The signature covers the click time; expiry against the partner's
    tracking window is the caller's decision (it knows the partner).
    """
    if not isinstance(value, str) or not value or len(value) > 500:
        return None
    try:
        data, signed_at = _serializer().loads(value, return_timestamp=True)
    except (BadData, ValueError, TypeError):
        return None
    partner_id = data.get("p") if isinstance(data, dict) else None
    if not isinstance(partner_id, int) or isinstance(partner_id, bool):
        return None
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)
    return partner_id, signed_at


def cookie_max_age(track_days: int | None) -> int:
    """Seconds the cookie lives: the partner's window, or long when unlimited."""
    days = track_days if track_days else UNLIMITED_COOKIE_DAYS
    return int(timedelta(days=days).total_seconds())
