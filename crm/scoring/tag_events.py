"""The "tag applied" and "tag removed" events, whatever path changed the tag.

An ``after_flush`` hook sees every ContactTag row the ORM inserted or
deleted (the record's tag editor, ``crm.tags.services``, the import's update
of existing contacts) and records one event per change in one batched
INSERT on the flush's connection. The bulk contact path writes tag links
with Core statements, which no ORM hook sees: it calls ``applied_in_bulk``.
"""

import logging

from flask import has_request_context
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from crm.activity import kinds
from crm.activity import services as activity
from crm.contacts.models import Contact
from crm.core.db import utcnow
from crm.tags.models import ContactTag, Tag

log = logging.getLogger(__name__)

kinds.register("tag_applied", _l("Tag applied"), "tag")
kinds.register("tag_removed", _l("Tag removed"), "tag")


def target_of(tag_id: int) -> str:
    return f"tag:{tag_id}"


def _names(connection, tag_ids) -> dict[int, str]:
    ids = sorted(set(tag_ids))
    rows = connection.execute(select(Tag.id, Tag.name).where(Tag.id.in_(ids)))
    return dict(rows.all())


def _current_actor_id() -> int | None:
    if has_request_context() and current_user.is_authenticated:
        return current_user.id
    return None


def _rows(kind, changes, names) -> list[dict]:
    return [
        {
            "contact_id": contact_id,
            "kind": kind,
            "subject": names.get(tag_id, ""),
            "actor_id": actor_id,
            "ref": ("tag", tag_id),
            "target": target_of(tag_id),
            "occurred_at": when,
        }
        for contact_id, tag_id, actor_id, when in changes
    ]


@event.listens_for(Session, "after_flush")
def _record_tag_changes(session, flush_context) -> None:
    added = [o for o in session.new if isinstance(o, ContactTag)]
    # session.deleted misses the rows removed as orphans (a tag taken out of
    # contact.tag_links): the flush's own list of deleted states has them all.
    deleted = [
        state.obj()
        for state, (is_delete, list_only) in flush_context.states.items()
        if is_delete and not list_only
    ]
    dropped = [o for o in deleted if isinstance(o, ContactTag)]
    if not added and not dropped:
        return

    # A contact deleted in this flush takes its history with it.
    gone = {o.id for o in deleted if isinstance(o, Contact)}
    now = utcnow()
    applied = [
        (link.contact_id, link.tag_id, link.applied_by_id, link.applied_at or now)
        for link in added
    ]
    actor_id = _current_actor_id()
    removed = [
        (link.contact_id, link.tag_id, actor_id, now)
        for link in dropped
        if link.contact_id not in gone
    ]
    if not applied and not removed:
        return

    connection = session.connection()
    names = _names(connection, [c[1] for c in applied + removed])
    activity.record_rows(
        _rows("tag_applied", applied, names) + _rows("tag_removed", removed, names),
        connection=connection,
    )


def _insert_many(table, values) -> None:
    # The bulk path's own batched INSERT: a third of the cost of a Core
    # executemany, which matters at import speed.
    from crm.contacts.bulk import _insert_rows, _uniform

    _insert_rows(table, _uniform(table, values))


def applied_in_bulk(links: list[dict]) -> None:
    """Record "tag applied" for tag links a bulk path inserted without the ORM.

    ``links`` are the inserted rows (contact_id, tag_id, applied_at,
    applied_by_id); one batched INSERT for all of them.
    """
    if not links:
        return
    from crm.extensions import db

    connection = db.session.connection()
    now = utcnow()
    changes = [
        (
            link["contact_id"],
            link["tag_id"],
            link.get("applied_by_id"),
            link.get("applied_at") or now,
        )
        for link in links
    ]
    names = _names(connection, [c[1] for c in changes])
    activity.record_rows(
        _rows("tag_applied", changes, names),
        connection=connection,
        insert_many=_insert_many,
    )
    log.info("tag applied events recorded for %s bulk tag links", len(changes))
