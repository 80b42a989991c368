"""Teams, per-record sharing, per-area permissions and the audit log."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

VIEW_LEVEL = "view"
EDIT_LEVEL = "edit"
LEVELS = (VIEW_LEVEL, EDIT_LEVEL)

ALL = "all"
OWN = "own"
SCOPES = (ALL, OWN)


@dataclass(frozen=True)
class Area:
    key: str
    label: str


# Every area has the same permission shape; later issues add their screens.
AREAS = (
    Area("contacts", _l("Contacts")),
    Area("opportunities", _l("Opportunities")),
    Area("orders", _l("Orders & invoicing")),
    Area("referral_partners", _l("Referral partners")),
    Area("campaigns", _l("Campaigns")),
    Area("files", _l("Files")),
)
AREA_KEYS = tuple(a.key for a in AREAS)

# (column, label, kind): kind "flag" is a checkbox, "scope" is all/own.
PERMISSION_COLUMNS = (
    ("can_add", _l("Add"), "flag"),
    ("view_scope", _l("View"), "scope"),
    ("edit_scope", _l("Edit"), "scope"),
    ("can_delete", _l("Delete"), "flag"),
    ("can_reassign_owner", _l("Reassign owner"), "flag"),
    ("can_import", _l("Import"), "flag"),
    ("can_export", _l("Export"), "flag"),
)
PERMISSION_KEYS = tuple(c[0] for c in PERMISSION_COLUMNS)

# What a fresh install grants until an administrator changes the defaults:
# the open behaviour the CRM had before per-user access existed.
INITIAL_DEFAULTS = {
    "can_add": True,
    "view_scope": ALL,
    "edit_scope": ALL,
    "can_delete": True,
    "can_reassign_owner": True,
    "can_import": True,
    "can_export": True,
}


class PermissionColumns:
    """The permission shape shared by per-user rows and the global defaults."""

    can_add: Mapped[bool] = mapped_column(Boolean, default=True)
    view_scope: Mapped[str] = mapped_column(String(3), default=ALL)
    edit_scope: Mapped[str] = mapped_column(String(3), default=ALL)
    can_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    can_reassign_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    can_import: Mapped[bool] = mapped_column(Boolean, default=False)
    can_export: Mapped[bool] = mapped_column(Boolean, default=False)

    def values(self) -> dict:
        return {key: getattr(self, key) for key in PERMISSION_KEYS}


def _scope_checks():
    return (
        CheckConstraint("view_scope IN ('all', 'own')", name="view_scope"),
        CheckConstraint("edit_scope IN ('all', 'own')", name="edit_scope"),
    )


class UserPermission(PermissionColumns, db.Model):
    __tablename__ = "user_permissions"
    __table_args__ = (UniqueConstraint("user_id", "area"), *_scope_checks())

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    area: Mapped[str] = mapped_column(String(30))

    def __str__(self) -> str:
        return f"{self.area}"


class DefaultPermission(PermissionColumns, db.Model):
    __tablename__ = "default_permissions"
    __table_args__ = _scope_checks()

    area: Mapped[str] = mapped_column(String(30), primary_key=True)

    def __str__(self) -> str:
        return self.area


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    members = relationship(
        "TeamMember",
        back_populates="team",
        cascade="all, delete-orphan",
        order_by="TeamMember.id",
    )

    def __str__(self) -> str:
        return self.name


class TeamMember(db.Model):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    is_manager: Mapped[bool] = mapped_column(Boolean, default=False)

    team = relationship("Team", back_populates="members")
    user = relationship("User", lazy="joined")

    def __str__(self) -> str:
        return f"{self.user} ({'manager' if self.is_manager else 'member'})"


class ContactShare(db.Model):
    """A contact shared with one user or one team, at view or edit level."""

    __tablename__ = "contact_shares"
    __table_args__ = (
        UniqueConstraint("contact_id", "user_id"),
        UniqueConstraint("contact_id", "team_id"),
        CheckConstraint("level IN ('view', 'edit')", name="level"),
        CheckConstraint(
            "(user_id IS NULL AND team_id IS NOT NULL) OR "
            "(user_id IS NOT NULL AND team_id IS NULL)",
            name="one_principal",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE")
    )
    level: Mapped[str] = mapped_column(String(4), default=VIEW_LEVEL)
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    granted_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = relationship("Contact")
    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    team = relationship("Team", lazy="joined")
    granted_by = relationship("User", foreign_keys=[granted_by_id], lazy="joined")

    @property
    def principal(self):
        return self.user if self.user_id else self.team

    def __str__(self) -> str:
        return f"{self.principal} ({self.level})"


class AuditEntry(db.Model):
    """Who changed access, shared, reassigned, exported or imported what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The actor's e-mail at the time, kept when the user is later removed.
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_ids: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")

    actor = relationship("User", lazy="joined")

    def __str__(self) -> str:
        return f"{self.action} {self.target_type} {self.target_ids}"


# The visibility predicate reads these: grants by principal, teams by member.
Index("ix_contact_shares_user_contact", ContactShare.user_id, ContactShare.contact_id)
Index("ix_contact_shares_team_contact", ContactShare.team_id, ContactShare.contact_id)
Index("ix_team_members_user_team", TeamMember.user_id, TeamMember.team_id)
