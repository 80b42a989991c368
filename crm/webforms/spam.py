"""Keeping bots out: the signed render token, the honeypot and rate limits.

The token replaces the CSRF token on public forms (a visitor has no session):
it names the form and carries the time the page was rendered, signed with the
app's secret, so the fill time cannot be forged. Rate limits count the
submissions rows themselves, so every web worker sees the same numbers.
"""

import time
from datetime import timedelta

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import func, select

from crm.core.db import utcnow
from crm.extensions import db
from crm.webforms.models import Submission

HONEYPOT = "website_url"
TOKEN_FIELD = "_token"
_SALT = "crm.webforms.render-token"


def setting(name: str):
    """A WEBFORMS_* setting (defaults and meaning in crm/config.py)."""
    return current_app.config[name]


def now() -> float:
    """Seconds since the epoch; tests replace this clock."""
    return time.time()


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_token(form_id: int) -> str:
    """The signed token of a form rendered now."""
    return _serializer().dumps({"f": form_id, "t": round(now(), 3)})


def token_age(token, form_id: int) -> float | None:
    """Seconds since the page with ``token`` was rendered; None when not genuine,
    for another form, or expired."""
    if not isinstance(token, str) or not token or len(token) > 300:
        return None
    try:
        data = _serializer().loads(token)
    except (BadData, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("f") != form_id:
        return None
    rendered = data.get("t")
    if not isinstance(rendered, int | float):
        return None
    age = now() - rendered
    if age < -5 or age > setting("WEBFORMS_TOKEN_MAX_AGE"):
        return None
    return max(age, 0.0)


def _counts(since, form_id: int, ip: str) -> tuple[int, int]:
    # One statement, each count read through its (ip, time) or (form, time) index.
    recent = Submission.created_at >= since
    by_address = (
        select(func.count(Submission.id))
        .where(Submission.ip == ip, recent)
        .scalar_subquery()
    )
    by_form = (
        select(func.count(Submission.id))
        .where(Submission.form_id == form_id, recent)
        .scalar_subquery()
    )
    return tuple(db.session.execute(select(by_address, by_form)).one())


def rate_state(form_id: int, ip: str) -> str:
    """ "ok", "soft" (hold for review) or "hard" (refuse) for one more submission."""
    since = utcnow() - timedelta(seconds=setting("WEBFORMS_RATE_WINDOW"))
    by_address, by_form = _counts(since, form_id, ip)
    if by_address >= setting("WEBFORMS_HARD_LIMIT_PER_ADDRESS") or by_form >= setting(
        "WEBFORMS_HARD_LIMIT_PER_FORM"
    ):
        return "hard"
    if by_address >= setting("WEBFORMS_SOFT_LIMIT_PER_ADDRESS") or by_form >= setting(
        "WEBFORMS_SOFT_LIMIT_PER_FORM"
    ):
        return "soft"
    return "ok"


def hold_reason(form, token_seconds: float, honeypot_value, rate: str) -> str:
    """Why a submission looks like spam ("" when it does not)."""
    if (honeypot_value or "").strip():
        return "honeypot"
    if token_seconds < (form.min_fill_seconds or 0):
        return "too_fast"
    if rate == "soft":
        return "rate_limit"
    return ""
