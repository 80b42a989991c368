"""Recording events on a contact and reading its feed."""

import logging
from collections.abc import Callable

from sqlalchemy import select

from crm.activity import kinds
from crm.activity.models import ActivityEvent
from crm.core.db import utcnow
from crm.extensions import db

logger = logging.getLogger(__name__)

# functions(event) called after an event is added, in the same transaction
_listeners: list[Callable[[ActivityEvent], None]] = []


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


def feed_query(contact_id: int, kind_keys=None):
    """The contact's events, newest first, optionally only some kinds."""
    query = select(ActivityEvent).where(ActivityEvent.contact_id == contact_id)
    if kind_keys:
        query = query.where(ActivityEvent.kind.in_(list(kind_keys)))
    return query.order_by(ActivityEvent.occurred_at.desc(), ActivityEvent.id.desc())
