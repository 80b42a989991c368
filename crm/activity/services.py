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


# (wants, fn): fn(facts, connection) called after events are added in bulk
_row_listeners: list[tuple[Callable, Callable]] = []


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


def listen_rows(wants: Callable[[set[str], object], bool]):
    """Register ``fn(facts, connection)`` for events added by ``record_rows``.

    ``wants(kind_keys, connection)`` says whether the listener needs to see
    events of those kinds at all; when no listener does, ``record_rows``
    skips reading the new ids back, which is most of its cost in bulk.
    """

    def register(fn: Callable):
        _row_listeners.append((wants, fn))
        return fn

    return register


def record_rows(
    rows: list[dict], *, connection=None, insert_many: Callable | None = None
) -> list[EventFacts]:
    """Add many events in one batched INSERT, for bulk paths and flush hooks.

    Each row holds the keyword arguments of ``record`` plus ``contact_id``
    and ``kind``. It runs on ``connection`` (the session's own when not
    given) without the ORM, so it may be called while a flush is running;
    the row listeners that want these kinds are called with the events'
    facts on that connection, and those facts are returned (none when no
    listener wanted them). A bulk path may pass its own faster
    ``insert_many(table, values)`` for the case where no ids are needed.
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
    keys = {v["kind"] for v in values}
    listeners = [fn for wants, fn in _row_listeners if wants(keys, connection)]
    if not listeners:
        if insert_many is not None:
            insert_many(table, values)
        else:
            connection.execute(insert(table), values)
        return []

    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids = connection.execute(statement, values).scalars().all()
    facts = [
        EventFacts(i, v["contact_id"], v["kind"], v["target"], v["occurred_at"])
        for i, v in zip(ids, values, strict=True)
    ]
    for listener in listeners:
        listener(facts, connection)
    return facts


def feed_query(contact_id: int, kind_keys=None):
    """The contact's events, newest first, optionally only some kinds."""
    query = select(ActivityEvent).where(ActivityEvent.contact_id == contact_id)
    if kind_keys:
        query = query.where(ActivityEvent.kind.in_(list(kind_keys)))
    return query.order_by(ActivityEvent.occurred_at.desc(), ActivityEvent.id.desc())
