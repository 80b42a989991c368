"""Sign-in throttling per account and per address, kept in the database.

Failures are rows in ``login_failures``, so every web worker and server sees
the same counts (an in-memory limiter would allow N times the limit with N
workers). Behind a reverse proxy, wrap the app in werkzeug's ProxyFix so
``request.remote_addr`` is the client's address and not the proxy's.
"""

import logging
from datetime import timedelta

from flask import current_app, request
from sqlalchemy import delete, func, select

from crm.auth.models import LoginFailure
from crm.core.db import utcnow
from crm.core.text import normalize_email
from crm.extensions import db

log = logging.getLogger(__name__)


def _window():
    return timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW"])


def _address() -> str:
    return (request.remote_addr or "unknown")[:64]


def _account(email: str) -> str:
    return (normalize_email(email or "") or "")[:254]


def _failures(column, value) -> int:
    since = utcnow() - _window()
    return db.session.scalar(
        select(func.count(LoginFailure.id)).where(
            column == value, LoginFailure.at >= since
        )
    )


def is_blocked(email: str) -> bool:
    """Whether this account or this client address has failed too often lately."""
    config = current_app.config
    if (
        _failures(LoginFailure.address, _address())
        >= config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    ):
        return True
    account = _account(email)
    if not account:
        return False
    return (
        _failures(LoginFailure.account, account)
        >= config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    )


def record_failure(email: str) -> None:
    """Count one failed sign-in and forget failures older than the window."""
    now = utcnow()
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - _window()))
    db.session.add(LoginFailure(at=now, account=_account(email), address=_address()))
    db.session.flush()
    log.warning("failed sign-in for %r from %s", _account(email), _address())


def clear_account(email: str) -> None:
    """Forget an account's failures after it signs in (the address keeps its own)."""
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.account == _account(email))
    )
