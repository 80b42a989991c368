"""Users of the CRM."""

import secrets

from flask_login import UserMixin
from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


def new_session_token() -> str:
    return secrets.token_urlsafe(16)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_login_at = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        # The token makes a password change end every other session.
        return f"{self.id}:{self.session_token}"

    def __str__(self) -> str:
        return self.name or self.email


class LoginFailure(db.Model):
    """One failed sign-in, kept for the throttling window."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # The normalised e-mail that was tried, whether or not such a user exists.
    account: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))


Index("ix_login_failures_account_at", LoginFailure.account, LoginFailure.at)
Index("ix_login_failures_address_at", LoginFailure.address, LoginFailure.at)
