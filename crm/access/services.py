"""Rules and writes for access: permissions, teams, sharing, owner changes.

Services add and flush; the request or CLI command that called them commits.
"""

import logging

from flask import g, has_app_context, has_request_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from crm.access import audit
from crm.access.models import (
    ALL,
    AREA_KEYS,
    INITIAL_DEFAULTS,
    LEVELS,
    PERMISSION_COLUMNS,
    PERMISSION_KEYS,
    SCOPES,
    ContactShare,
    DefaultPermission,
    Team,
    TeamMember,
    UserPermission,
)
from crm.auth.models import User
from crm.core.errors import ServiceError
from crm.extensions import db

log = logging.getLogger(__name__)

# Action names of policy.allowed mapped to the permission column they read.
ACTION_COLUMNS = {
    "create": "can_add",
    "delete": "can_delete",
    "export": "can_export",
    "import": "can_import",
    "reassign_owner": "can_reassign_owner",
}


# Permissions.
def clean_values(values: dict) -> dict:
    """One area's permission values with every key present and of the right type."""
    result = {}
    for key, _label, kind in PERMISSION_COLUMNS:
        raw = values.get(key, INITIAL_DEFAULTS[key])
        if kind == "scope":
            if raw not in SCOPES:
                raise ServiceError(_("Choose all or own for %(what)s.", what=key))
            result[key] = raw
        else:
            result[key] = bool(raw)
    return result


def default_permissions() -> dict[str, dict]:
    """The global defaults of every area, as applied to new users."""
    rows = {
        row.area: row.values() for row in db.session.scalars(select(DefaultPermission))
    }
    return {area: rows.get(area, dict(INITIAL_DEFAULTS)) for area in AREA_KEYS}


def user_permissions(user) -> dict[str, dict]:
    """The stored permissions of every area for ``user`` (defaults where unset)."""
    stored = {
        row.area: row.values()
        for row in db.session.scalars(
            select(UserPermission).where(UserPermission.user_id == user.id)
        )
    }
    defaults = default_permissions() if len(stored) < len(AREA_KEYS) else {}
    return {area: stored.get(area) or defaults[area] for area in AREA_KEYS}


def _cache() -> dict:
    if not has_app_context():
        return {}
    if "crm_permissions" not in g:
        g.crm_permissions = {}
    return g.crm_permissions


def permissions_for(user, area: str = "contacts") -> dict:
    """What ``user`` may do in ``area``; administrators may do everything.

    Read once per request (or CLI context) and cached; the services that
    change permissions clear the cache.
    """
    if getattr(user, "is_admin", False):
        return {
            key: (ALL if kind == "scope" else True)
            for key, _label, kind in PERMISSION_COLUMNS
        }
    cache = _cache()
    key = (user.id, area)
    if key not in cache:
        cache[key] = user_permissions(user)[area]
    return cache[key]


def area_allows(user, area: str, action: str) -> bool:
    """Whether ``user`` may perform ``action`` in ``area`` at all."""
    if getattr(user, "is_admin", False):
        return True
    if action in ("view", "edit"):
        # Rows decide: everyone may view and edit at least what they own.
        return True
    column = ACTION_COLUMNS.get(action)
    if column is None:
        return False
    return bool(permissions_for(user, area)[column])


def forget_cached_permissions() -> None:
    """Drop the per-request permission cache after a change."""
    _cache().clear()


def _require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_admin", False):
        raise ServiceError(_("Only an administrator can change permissions."))


def apply_defaults(user: User) -> None:
    """Give a new user the global default permissions (stored per area)."""
    for area, values in default_permissions().items():
        db.session.add(UserPermission(user_id=user.id, area=area, **values))
    db.session.flush()
    forget_cached_permissions()


def set_user_permissions(target: User, wanted: dict[str, dict], actor=None) -> bool:
    """Store ``target``'s permissions per area; returns whether anything changed.

    Only administrators change permissions (``actor`` None is the CLI);
    an administrator's permissions are implied by the flag and not stored.
    """
    _require_admin(actor)
    rows = {
        row.area: row
        for row in db.session.scalars(
            select(UserPermission).where(UserPermission.user_id == target.id)
        )
    }
    current = user_permissions(target)
    changes = {}
    for area, values in wanted.items():
        if area not in AREA_KEYS:
            raise ServiceError(_("Unknown permission area %(area)s.", area=area))
        values = clean_values({**current[area], **values})
        before = current[area]
        row = rows.get(area)
        if row is None:
            row = UserPermission(user_id=target.id, area=area)
            db.session.add(row)
        for key in PERMISSION_KEYS:
            setattr(row, key, values[key])
        diff = {
            k: [before[k], values[k]] for k in PERMISSION_KEYS if before[k] != values[k]
        }
        if diff:
            changes[area] = diff
    db.session.flush()
    forget_cached_permissions()
    if changes:
        audit.record(
            audit.PERMISSIONS_CHANGED,
            actor=actor,
            target_type="user",
            target_ids=[target.id],
            details=changes,
        )
        log.info("permissions of %s changed: %s", target.email, changes)
    return bool(changes)


def set_default_permissions(wanted: dict[str, dict], actor=None) -> bool:
    """Store the global defaults applied to users created from now on."""
    _require_admin(actor)
    rows = {row.area: row for row in db.session.scalars(select(DefaultPermission))}
    changes = {}
    for area, values in wanted.items():
        if area not in AREA_KEYS:
            raise ServiceError(_("Unknown permission area %(area)s.", area=area))
        row = rows.get(area)
        if row is None:
            row = DefaultPermission(area=area, **INITIAL_DEFAULTS)
            db.session.add(row)
        before = row.values()
        values = clean_values({**before, **values})
        for key in PERMISSION_KEYS:
            setattr(row, key, values[key])
        diff = {
            k: [before[k], values[k]] for k in PERMISSION_KEYS if before[k] != values[k]
        }
        if diff:
            changes[area] = diff
    db.session.flush()
    if changes:
        audit.record(
            audit.DEFAULTS_CHANGED, actor=actor, target_type="defaults", details=changes
        )
    return bool(changes)


# Teams.
def find_team(name: str) -> Team | None:
    return db.session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))


def create_team(name: str, actor=None) -> Team:
    """Add a team; the name must be new."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("A team needs a name."))
    if len(name) > 100:
        raise ServiceError(_("A team name has at most 100 characters."))
    if find_team(name):
        raise ServiceError(_("A team named %(name)s already exists.", name=name))
    team = Team(name=name)
    db.session.add(team)
    db.session.flush()
    audit.record(
        audit.TEAM_CHANGED,
        actor=actor,
        target_type="team",
        target_ids=[team.id],
        details={"created": name},
    )
    return team


def set_member(team: Team, user: User, *, is_manager: bool = False, actor=None):
    """Add ``user`` to ``team`` (or change their role in it)."""
    member = db.session.scalar(
        select(TeamMember).where(
            TeamMember.team_id == team.id, TeamMember.user_id == user.id
        )
    )
    if member is None:
        member = TeamMember(team=team, user=user)
        db.session.add(member)
    member.is_manager = is_manager
    db.session.flush()
    audit.record(
        audit.TEAM_CHANGED,
        actor=actor,
        target_type="team",
        target_ids=[team.id],
        details={"member": user.email, "manager": is_manager},
    )
    return member


def teams_of(user) -> list[Team]:
    """The teams ``user`` belongs to, by name."""
    return list(
        db.session.scalars(
            select(Team)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user.id)
            .order_by(Team.name)
        )
    )


# Sharing.
def can_manage_shares(contact, user) -> bool:
    """Owners and administrators add and remove grants."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_admin or contact.owner_id == user.id)


def shares_of(contact) -> list[ContactShare]:
    """The grants on ``contact``, newest first."""
    return list(
        db.session.scalars(
            select(ContactShare)
            .where(ContactShare.contact_id == contact.id)
            .order_by(ContactShare.granted_at.desc(), ContactShare.id.desc())
        )
    )


def share_targets() -> tuple[list[User], list[Team]]:
    """Active users and all teams, the choices of the share form."""
    users = list(
        db.session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.email)
        )
    )
    teams = list(db.session.scalars(select(Team).order_by(Team.name)))
    return users, teams


def parse_principal(value: str):
    """The user or team named by a form value ``user:<id>`` or ``team:<id>``."""
    kind, _sep, ident = (value or "").partition(":")
    if not ident.isdigit():
        return None
    if kind == "user":
        user = db.session.get(User, int(ident))
        return user if user is not None and user.active else None
    if kind == "team":
        return db.session.get(Team, int(ident))
    return None


def share(contact, principal, level: str, actor) -> ContactShare:
    """Grant ``principal`` (a user or a team) view or edit access to ``contact``."""
    if not can_manage_shares(contact, actor):
        raise ServiceError(
            _("Only the owner or an administrator can share this contact.")
        )
    if level not in LEVELS:
        raise ServiceError(_("Choose view or edit access."))
    if principal is None:
        raise ServiceError(_("Choose an active user or a team to share with."))
    is_team = isinstance(principal, Team)
    if not is_team and principal.id == contact.owner_id:
        raise ServiceError(_("The owner already has access to this contact."))

    column = ContactShare.team_id if is_team else ContactShare.user_id
    grant = db.session.scalar(
        select(ContactShare).where(
            ContactShare.contact_id == contact.id, column == principal.id
        )
    )
    action = audit.GRANT_CHANGED
    if grant is None:
        action = audit.GRANT_ADDED
        grant = ContactShare(contact_id=contact.id)
        if is_team:
            grant.team_id = principal.id
        else:
            grant.user_id = principal.id
        db.session.add(grant)
    grant.level = level
    grant.granted_by_id = actor.id
    grant.granted_at = _now()
    db.session.flush()
    audit.record(
        action,
        actor=actor,
        target_type="contact",
        target_ids=[contact.id],
        details={"to": _principal_label(principal, is_team), "level": level},
    )
    return grant


def unshare(contact, grant_id, actor) -> ContactShare:
    """Remove one grant of ``contact``; raises NotFound for a grant of another."""
    from crm.core.errors import NotFound

    if not can_manage_shares(contact, actor):
        raise ServiceError(_("Only the owner or an administrator can remove a grant."))
    grant = None
    if str(grant_id or "").isdigit():
        grant = db.session.scalar(
            select(ContactShare).where(
                ContactShare.id == int(grant_id), ContactShare.contact_id == contact.id
            )
        )
    if grant is None:
        raise NotFound(_("That grant does not exist (it may have been removed)."))
    label = _principal_label(grant.principal, grant.team_id is not None)
    db.session.delete(grant)
    db.session.flush()
    audit.record(
        audit.GRANT_REMOVED,
        actor=actor,
        target_type="contact",
        target_ids=[contact.id],
        details={"from": label, "level": grant.level},
    )
    return grant


def _principal_label(principal, is_team: bool) -> str:
    return f"team {principal.name}" if is_team else f"user {principal.email}"


def _now():
    from crm.core.db import utcnow

    return utcnow()


# Owner changes, on every path that goes through the ORM.
def can_reassign(user) -> bool:
    """Whether ``user`` may give a contact to another owner."""
    return area_allows(user, "contacts", "reassign_owner")


def reassign_owner(contact, new_owner: User | None, actor) -> None:
    """Give ``contact`` to ``new_owner``; the flush hook checks and audits it."""
    from crm.contacts.services import check_owner

    check_owner(new_owner, contact.owner_id)
    contact.owner = new_owner
    contact.owner_id = new_owner.id if new_owner is not None else None
    db.session.flush()


def _acting_user():
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return current_user._get_current_object()
    return None


def _owner_change(contact):
    state = inspect(contact)
    before, after = None, None
    id_history = state.attrs.owner_id.history
    rel_history = state.attrs.owner.history
    if rel_history.has_changes():
        old = rel_history.deleted[0] if rel_history.deleted else None
        new = rel_history.added[0] if rel_history.added else None
        before = old.id if old is not None else None
        after = new.id if new is not None else None
        if before is None and id_history.unchanged:
            before = id_history.unchanged[0]
    elif id_history.has_changes():
        before = id_history.deleted[0] if id_history.deleted else None
        after = id_history.added[0] if id_history.added else None
    else:
        return None
    if before == after:
        return None
    return before, after


def _check_owner_changes(session, flush_context, instances) -> None:
    from crm.contacts.models import Contact

    actor = _acting_user()
    for obj in list(session.dirty):
        if not isinstance(obj, Contact) or not session.is_modified(obj):
            continue
        change = _owner_change(obj)
        if change is None:
            continue
        if actor is not None and not can_reassign(actor):
            raise ServiceError(
                _("You may not reassign the owner of a contact; nothing was saved.")
            )
        audit.record(
            audit.OWNER_REASSIGNED,
            actor=actor,
            target_type="contact",
            target_ids=[obj.id],
            details={"from": change[0], "to": change[1]},
        )
    if actor is None or can_reassign(actor):
        return
    for obj in list(session.new):
        if isinstance(obj, Contact):
            owner_id = obj.owner.id if obj.owner is not None else obj.owner_id
            if owner_id not in (None, actor.id):
                raise ServiceError(
                    _("You may not create a contact owned by someone else.")
                )


def install_hooks() -> None:
    """Check and audit owner changes whenever a session flushes."""
    if not event.contains(Session, "before_flush", _check_owner_changes):
        event.listen(Session, "before_flush", _check_owner_changes)
