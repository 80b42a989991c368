"""Recording events on a contact and reading its feed."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from crm.activity import kinds
from crm.activity.models import ActivityEvent
from crm.core.db import utcnow
from crm.extensions import db

logger = logging.getLogger(__name__)

# functions(event) called after an event is added, in the same transaction
_listeners: list[Callable[[ActivityEvent], None]] = []


# functions(facts, connection) called after events are added in bulk
_row_listeners: list[Callable] = []


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What rules need to know about a recorded event, without the ORM row."""

    id: int
    contact_id: int
    kind: str
    target: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, event: ActivityEvent) -> "EventFacts":
        return cls(
            event.id, event.contact_id, event.kind, event.target, event.occurred_at
        )


def listen(fn: Callable[[ActivityEvent], None]):
    """Register ``fn`` to be called with every event as it is recorded."""
    _listeners.append(fn)
    return fn


def record(
    contact_id: int,
    kind: str,
    *,
    subject: str = "",
    actor_id: int | None = None,
    ref: tuple[str, int] | None = None,
    target: str | None = None,
    occurred_at=None,
    data: dict | None = None,
) -> ActivityEvent:
    """Add an event to the contact's history and flush it; the caller commits."""
    if kinds.get(kind) is None:
        raise ValueError(f"unknown activity kind {kind!r}")
    event = ActivityEvent(
        contact_id=contact_id,
        kind=kind,
        subject=(subject or "")[:255],
        actor_id=actor_id,
        ref_type=ref[0] if ref else None,
        ref_id=ref[1] if ref else None,
        target=target,
        occurred_at=occurred_at or utcnow(),
        data=data,
    )
    db.session.add(event)
    db.session.flush()
    for listener in _listeners:
        listener(event)
    return event


def listen_rows(fn: Callable):
    """Register ``fn(facts, connection)`` for events added by ``record_rows``."""
    _row_listeners.append(fn)
    return fn


def record_rows(rows: list[dict], *, connection=None) -> list[EventFacts]:
    """Add many events in one batched INSERT, for bulk paths and flush hooks.

    Each row holds the keyword arguments of ``record`` plus ``contact_id``
    and ``kind``. It runs on ``connection`` (the session's own when not
    given) without the ORM, so it may be called while a flush is running;
    the row listeners are called with the events' facts on that connection.
    """
    if not rows:
        return []
    for row in rows:
        if kinds.get(row["kind"]) is None:
            raise ValueError(f"unknown activity kind {row['kind']!r}")
    now = utcnow()
    values = [
        {
            "contact_id": row["contact_id"],
            "kind": row["kind"],
            "subject": (row.get("subject") or "")[:255],
            "actor_id": row.get("actor_id"),
            "ref_type": row["ref"][0] if row.get("ref") else None,
            "ref_id": row["ref"][1] if row.get("ref") else None,
            "target": row.get("target"),
            "occurred_at": row.get("occurred_at") or now,
            "data": row.get("data"),
        }
        for row in rows
    ]
    connection = connection if connection is not None else db.session.connection()
    table = ActivityEvent.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids = connection.execute(statement, values).scalars().all()
    facts = [
        EventFacts(i, v["contact_id"], v["kind"], v["target"], v["occurred_at"])
        for i, v in zip(ids, values, strict=True)
    ]
    for listener in _row_listeners:
        listener(facts, connection)
    return facts


def feed_query(contact_id: int, kind_keys=None):
    """The contact's events, newest first, optionally only some kinds."""
    query = select(ActivityEvent).where(ActivityEvent.contact_id == contact_id)
    if kind_keys:
        query = query.where(ActivityEvent.kind.in_(list(kind_keys)))
    return query.order_by(ActivityEvent.occurred_at.desc(), ActivityEvent.id.desc())
