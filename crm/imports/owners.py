"""Owner columns: the user a cell names, checked against the acting user's rights.

A cell names a user by e-mail (compared as normalised addresses) or by
display name (exact after trimming and NFC). A cell that names no active
user, or a user the acting user may not give contacts to, leaves the contact
with the import's default owner and says so in a row warning.
"""

import logging
import unicodedata

from flask_babel import gettext as _
from sqlalchemy import select

from crm.auth.models import User
from crm.core.text import clean, normalize_email
from crm.extensions import db

log = logging.getLogger(__name__)


def _name_key(name: str | None) -> str:
    return unicodedata.normalize("NFC", name or "").strip()


class OwnerResolver:
    """Finds the owner a cell names; one query for all users, made on first use.

    ``actor`` is the acting user (None for the system, which may give
    contacts to anyone); ``default_owner`` owns the contacts whose cell
    cannot be used.
    """

    def __init__(self, actor=None, default_owner=None):
        self.actor = actor
        self.default_owner = default_owner
        self._users: tuple[dict, dict] | None = None
        self._answers: dict[str, tuple[int | None, str | None]] = {}
        self._may_reassign: bool | None = None

    def resolve(self, text: str) -> tuple[int | None, str | None]:
        """(owner id, None) for a usable cell, (None, warning) otherwise."""
        text = clean(text) or ""
        if text not in self._answers:
            self._answers[text] = self._resolve(text)
        return self._answers[text]

    def _resolve(self, text: str) -> tuple[int | None, str | None]:
        by_email, by_name = self._load()
        user = by_email.get(normalize_email(text))
        if user is None:
            named = by_name.get(_name_key(text), [])
            active = [u for u in named if u.active]
            if len(active) > 1:
                return None, self._fallback(
                    _("more than one user is named '%(name)s'", name=text)
                )
            user = active[0] if active else (named[0] if named else None)
        if user is None:
            return None, self._fallback(_("no user named '%(name)s'", name=text))
        if not user.active:
            return None, self._fallback(
                _("the user '%(name)s' is deactivated", name=text)
            )
        if self.actor is not None and user.id != self.actor.id:
            if not self._reassign_allowed():
                return None, self._fallback(
                    _(
                        "you may not give contacts to another user ('%(name)s')",
                        name=text,
                    )
                )
        return user.id, None

    def _fallback(self, reason: str) -> str:
        if self.default_owner is None:
            return _("%(reason)s; the contact has no owner", reason=reason)
        return _(
            "%(reason)s; the contact is owned by %(owner)s",
            reason=reason,
            owner=str(self.default_owner),
        )

    def _reassign_allowed(self) -> bool:
        if self._may_reassign is None:
            from crm.access.services import can_reassign

            self._may_reassign = can_reassign(self.actor)
        return self._may_reassign

    def _load(self) -> tuple[dict, dict]:
        if self._users is None:
            by_email, by_name = {}, {}
            query = select(User.id, User.email, User.name, User.active)
            for user in db.session.execute(query.order_by(User.id)):
                by_email[normalize_email(user.email)] = user
                if _name_key(user.name):
                    by_name.setdefault(_name_key(user.name), []).append(user)
            self._users = by_email, by_name
        return self._users
