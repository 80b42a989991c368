"""The audit log: permission changes, grants, owner reassignments, exports, imports."""

import json
import logging

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import insert

from crm.access.models import AuditEntry
from crm.core.db import utcnow
from crm.extensions import db

log = logging.getLogger(__name__)

# Actions written by this project; screens filter on them.
PERMISSIONS_CHANGED = "permissions.changed"
DEFAULTS_CHANGED = "defaults.changed"
USER_CHANGED = "user.changed"
TEAM_CHANGED = "team.changed"
GRANT_ADDED = "grant.added"
GRANT_CHANGED = "grant.changed"
GRANT_REMOVED = "grant.removed"
OWNER_REASSIGNED = "owner.reassigned"
EXPORTED = "export"
IMPORTED = "import"

ACTIONS = (
    PERMISSIONS_CHANGED,
    DEFAULTS_CHANGED,
    USER_CHANGED,
    TEAM_CHANGED,
    GRANT_ADDED,
    GRANT_CHANGED,
    GRANT_REMOVED,
    OWNER_REASSIGNED,
    EXPORTED,
    IMPORTED,
)


def _request_user():
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return current_user
    return None


def _entry(action, actor, target_type, target_ids, details) -> AuditEntry:
    actor = actor if actor is not None else _request_user()
    if details is None:
        text = ""
    elif isinstance(details, str):
        text = details
    else:
        text = json.dumps(details, sort_keys=True, default=str)
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_label=actor.email if actor is not None else "system",
        action=action,
        target_type=target_type,
        target_ids=",".join(str(i) for i in target_ids),
        details=text,
    )
    log.info(
        "audit %s by %s on %s %s",
        action,
        entry.actor_label,
        target_type,
        entry.target_ids,
    )
    return entry


def record(
    action: str,
    *,
    actor=None,
    target_type: str = "",
    target_ids=(),
    details=None,
) -> AuditEntry:
    """Add one audit entry to the session; the caller's unit of work commits it.

    ``actor`` defaults to the signed-in user of the request (None for the CLI
    and jobs); ``details`` may be text or a JSON-serialisable mapping.
    """
    entry = _entry(action, actor, target_type, target_ids, details)
    db.session.add(entry)
    return entry


def record_now(
    action: str,
    *,
    actor=None,
    target_type: str = "",
    target_ids=(),
    details=None,
) -> None:
    """Write one audit entry in its own transaction, at once.

    For reads that must leave a trace (exports) while the request's own
    session is still streaming rows and must not be committed under them.
    """
    entry = _entry(action, actor, target_type, target_ids, details)
    values = {
        column.key: getattr(entry, column.key)
        for column in AuditEntry.__table__.columns
        if column.key != "id"
    }
    values["at"] = utcnow()
    with db.engine.begin() as connection:
        connection.execute(insert(AuditEntry), [values])
