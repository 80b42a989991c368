"""Creating users and checking their credentials."""

import logging

from sqlalchemy import select

from crm.auth.models import User, new_session_token
from crm.auth.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import email_problem, normalize_email
from crm.extensions import db

log = logging.getLogger(__name__)

# Verifying against a real hash when the account does not exist keeps the
# answer time the same for unknown and known addresses.
_DUMMY_HASH = hash_password("not-a-real-password-for-timing")


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
    problem = email_problem(key) if key else "An e-mail address is required."
    if problem:
        raise ServiceError(problem, field="email")
    if check_password:
        problem = password_problem(password)
        if problem:
            raise ServiceError(problem, field="password")
    if find_by_email(key):
        raise ServiceError(
            f"A user with the e-mail {key} already exists.", field="email"
        )

    user = User(
        email=key, name=name, is_admin=is_admin, password_hash=hash_password(password)
    )
    db.session.add(user)
    db.session.flush()
    log.info("user created: %s (admin=%s)", key, is_admin)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = find_by_email(email or "")
    if user is None:
        verify_password(_DUMMY_HASH, password or "")
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
