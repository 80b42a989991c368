"""Creating users and checking their credentials."""

import logging

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from crm.auth.models import User, new_session_token
from crm.auth.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_nothing,
    verify_password,
)
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import email_problem, normalize_email, shorten
from crm.extensions import db

log = logging.getLogger(__name__)


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(
    email: str,
    password: str,
    *,
    name: str = "",
    is_admin: bool = False,
    check_password: bool = True,
) -> User:
    """Add a user; the caller commits. Raises ServiceError on bad input."""
    key = normalize_email(email)
    problem = email_problem(key) if key else _("An e-mail address is required.")
    if problem:
        raise ServiceError(problem, field="email")
    if check_password:
        problem = password_problem(password)
        if problem:
            raise ServiceError(problem, field="password")
    if find_by_email(key):
        raise ServiceError(
            _("A user with the e-mail %(email)s already exists.", email=key),
            field="email",
        )

    user = User(
        email=key, name=name, is_admin=is_admin, password_hash=hash_password(password)
    )
    db.session.add(user)
    db.session.flush()

    from crm.access.services import apply_defaults

    apply_defaults(user)
    log.info("user created: %s (admin=%s)", key, is_admin)
    return user


def active_admin_count(excluding: User | None = None) -> int:
    """How many active administrators there are, leaving one user out."""
    query = select(func.count(User.id)).where(
        User.is_admin.is_(True), User.active.is_(True)
    )
    if excluding is not None and excluding.id is not None:
        query = query.where(User.id != excluding.id)
    return db.session.scalar(query)


def check_admin_change(user: User, before: dict, actor=None) -> None:
    """Refuse a change of ``user`` that leaves no active administrator.

    ``before`` holds the ``is_admin`` and ``active`` flags as they were; the
    user already carries the new ones. Only administrators change users (so
    nobody raises their own access). Raises ServiceError; changes nothing.
    """
    # An administrator editing their own record already carries the new flag.
    if actor is not None and actor.id == user.id:
        actor_is_admin = before.get("is_admin")
    else:
        actor_is_admin = getattr(actor, "is_admin", False)
    if actor is not None and not actor_is_admin:
        raise ServiceError(_("Only an administrator can change users."))
    was_admin = bool(before.get("is_admin") and before.get("active"))
    stays_admin = bool(user.is_admin and user.active)
    if was_admin and not stays_admin and active_admin_count(excluding=user) == 0:
        raise ServiceError(
            _("The last active administrator cannot be demoted or deactivated.")
        )


def end_sessions_if_deactivated(user: User, before: dict) -> None:
    """End every session of a user who is deactivated now, for good.

    Sessions carry the user's session token (see ``User.get_id``): a new one
    means a session signed in before the deactivation stays signed out when
    the user is made active again, as after a password change.
    """
    if before.get("active") and not user.active:
        user.session_token = new_session_token()
        log.info("sessions of %s ended: the user was deactivated", user.email)


def record_user_change(user: User, before: dict, actor=None) -> None:
    """Audit a change of the administrator or active flag of ``user``."""
    from crm.access import audit

    after = {"is_admin": bool(user.is_admin), "active": bool(user.active)}
    diff = {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}
    if diff:
        audit.record(
            audit.USER_CHANGED,
            actor=actor,
            target_type="user",
            target_ids=[user.id],
            details=diff,
        )
        log.info("user %s changed: %s", user.email, diff)


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = find_by_email(email or "")
    if user is None:
        # The same work as for a known address, so the answer time tells nothing.
        verify_nothing(password)
        return None
    if not verify_password(user.password_hash, password or ""):
        return None
    if not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    """Change the password and end every other session of the user."""
    problem = password_problem(password)
    if problem:
        raise ServiceError(problem, field="password")
    user.password_hash = hash_password(password)
    user.session_token = new_session_token()
    log.info("password changed for %s", user.email)


def language_problem(value: str | None) -> str | None:
    """Why ``value`` cannot be a user's interface language, or None.

    The choices are the languages the interface ships and none at all (the
    browser's language decides).
    """
    if not value or value in current_app.config["LANGUAGES"]:
        return None
    return _(
        "“%(value)s” is not a language of the interface; choose one from the list.",
        value=shorten(value),
    )


def checked_language(value: str | None) -> str | None:
    """The interface language to store for ``value``, or None for the browser's.

    Raises ServiceError, naming the value, for anything else.
    """
    problem = language_problem(value)
    if problem:
        raise ServiceError(problem, field="locale")
    return value or None


def set_own_language(user: User, value: str | None) -> None:
    """Set the interface language ``user`` chose for themselves; the caller commits.

    An empty value lets the browser's language decide again. Raises
    ServiceError and changes nothing for a language the interface does not ship.
    """
    user.locale = checked_language(value)
    db.session.flush()
    log.info("language of %s set to %s", user.email, user.locale or "browser's")


def change_own_password(user: User, current: str, new: str, repeated: str) -> None:
    """Change the password of ``user`` at their own request; the caller commits.

    The current password must match, and the new one follows the rules of
    every password (``set_password``), which also ends every other session.
    Raises ServiceError and changes nothing otherwise.
    """
    if not verify_password(user.password_hash, current or ""):
        raise ServiceError(
            _("The current password is not right; nothing was changed."),
            field="current_password",
        )
    if new != repeated:
        raise ServiceError(
            _("The two new passwords differ; nothing was changed."),
            field="repeated_password",
        )
    set_password(user, new or "")
    db.session.flush()
