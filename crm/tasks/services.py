"""The rules and writes of tasks, appointments and notes; the Tasks tab's queries.

Services validate, write and flush; the request or command that called them
commits once. Every write records an activity event on the contact.
"""

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nh3
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from crm.access import policy
from crm.activity import kinds
from crm.activity import services as activity
from crm.activity.models import ActivityEvent
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import clean
from crm.extensions import db
from crm.tasks.models import (
    NOTE_TYPES,
    PRIORITIES,
    REMINDER_MINUTES,
    TASK_TYPES,
    Appointment,
    Note,
    Task,
)

log = logging.getLogger(__name__)

TASK_CREATED = kinds.register("task_created", _l("Task created"), "task")
TASK_COMPLETED = kinds.register("task_completed", _l("Task completed"), "task")
APPOINTMENT = kinds.register("appointment", _l("Appointment"), "task")
NOTE_ADDED = kinds.register("note_added", _l("Note added"), "note")

# The kinds the tab's one dated history shows (mail and web-form kinds are
# registered by their own domains; an unregistered kind simply never occurs).
HISTORY_KINDS = (
    "note_added",
    "appointment",
    "email_sent",
    "email_opened",
    "email_clicked",
    "email_unsubscribed",
    "email_bounced",
    "email_status_changed",
    "form_submitted",
)
HISTORY_PAGE_SIZE = 25
TITLE_LIMIT = 255


# Time zones ---------------------------------------------------------------


def user_zone(user=None) -> ZoneInfo:
    """The user's time zone when it has one, else the app's DEFAULT_TIMEZONE."""
    name = getattr(user, "time_zone", None) or current_app.config.get(
        "DEFAULT_TIMEZONE", "UTC"
    )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r, showing UTC", name)
        return ZoneInfo("UTC")


def local(moment: datetime | None, user=None) -> str:
    """A stored UTC moment as the user reads it: "2026-03-31 14:30"."""
    if moment is None:
        return ""
    return moment.astimezone(user_zone(user)).strftime("%Y-%m-%d %H:%M")


def from_local(moment: datetime | None, user=None) -> datetime | None:
    """A wall-clock time typed by the user, as an aware UTC moment."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=user_zone(user))
    return moment.astimezone(ZoneInfo("UTC"))


# Validation ---------------------------------------------------------------


def _title(value) -> str:
    title = clean(value)
    if not title:
        raise ServiceError(_("Enter a title."), field="title")
    if len(title) > TITLE_LIMIT:
        raise ServiceError(
            _("Use at most %(limit)s characters in the title.", limit=TITLE_LIMIT),
            field="title",
        )
    return title


def _choice(value, choices, field, message):
    if value not in {key for key, _label in choices}:
        raise ServiceError(message, field=field)
    return value


def _remind_minutes(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        minutes = -1
    if minutes not in REMINDER_MINUTES:
        raise ServiceError(
            _("Choose a reminder time from the list."), field="remind_minutes"
        )
    return minutes


# Notes carry no pictures: the site serves none for them, and an image
# would make each reader's browser request whatever URL the note names.
NOTE_TAGS = nh3.ALLOWED_TAGS - {"img", "map", "area"}
NOTE_URL_SCHEMES = {"http", "https", "mailto", "tel"}


def clean_note_html(html: str | None) -> str:
    """Rich text without scripts, handlers, images or script URLs."""
    return nh3.clean(
        html or "",
        tags=NOTE_TAGS,
        url_schemes=NOTE_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def sanitise_html(html: str | None) -> str | None:
    """A note body to store: ``clean_note_html``, or None when nothing is left."""
    if html is None:
        return None
    cleaned = clean_note_html(html).strip()
    return cleaned or None


def _reminder_time(moment, minutes):
    if moment is None or minutes is None:
        return None
    return moment - timedelta(minutes=minutes)


def _reset_reminder(record, moment) -> None:
    remind_at = _reminder_time(moment, record.remind_minutes)
    if remind_at != record.remind_at:
        record.remind_at = remind_at
        record.reminder_sent_at = None
        record.reminder_dismissed_at = None


# Tasks --------------------------------------------------------------------


def save_task(task: Task, actor, *, is_new: bool) -> Task:
    """Check and store a task; a new one records "task_created". Flushes."""
    task.title = _title(task.title)
    task.description = clean(task.description)
    task.task_type = _choice(
        task.task_type or "other", TASK_TYPES, "task_type", _("Choose a task type.")
    )
    task.priority = _choice(
        task.priority or "essential", PRIORITIES, "priority", _("Choose a priority.")
    )
    task.remind_minutes = _remind_minutes(task.remind_minutes)
    if task.remind_minutes is not None and task.due_at is None:
        raise ServiceError(
            _("A reminder needs a due date and time."), field="remind_minutes"
        )
    if task.assigned_to_id is None and task.assigned_to is None and actor is not None:
        task.assigned_to_id = actor.id
    _reset_reminder(task, task.due_at)

    if is_new:
        task.created_by_id = actor.id if actor else None
        db.session.add(task)
    db.session.flush()
    if is_new:
        activity.record(
            task.contact_id,
            TASK_CREATED.key,
            subject=task.title,
            actor_id=task.created_by_id,
            ref=("task", task.id),
        )
    log.info(
        "task %s %s on contact %s by %s",
        task.id,
        "created" if is_new else "changed",
        task.contact_id,
        getattr(actor, "email", None),
    )
    return task


def complete_task(task: Task, actor) -> bool:
    """Mark a task done and record "task_completed"; False when it already was."""
    if task.completed:
        return False
    task.completed = True
    task.completed_at = utcnow()
    task.completed_by_id = actor.id if actor else None
    db.session.flush()
    activity.record(
        task.contact_id,
        TASK_COMPLETED.key,
        subject=task.title,
        actor_id=task.completed_by_id,
        ref=("task", task.id),
    )
    log.info("task %s completed by %s", task.id, getattr(actor, "email", None))
    return True


# Appointments -------------------------------------------------------------


def save_appointment(appointment: Appointment, actor, *, is_new: bool):
    """Check and store an appointment; it is dated in the history at its start."""
    appointment.title = _title(appointment.title)
    appointment.description = clean(appointment.description)
    appointment.location = clean(appointment.location)
    if appointment.starts_at is None:
        raise ServiceError(_("Enter when the appointment starts."), field="starts_at")
    if appointment.ends_at is None:
        raise ServiceError(_("Enter when the appointment ends."), field="ends_at")
    if appointment.ends_at <= appointment.starts_at:
        raise ServiceError(
            _("The appointment must end after it starts."), field="ends_at"
        )
    appointment.remind_minutes = _remind_minutes(appointment.remind_minutes)
    if appointment.assigned_to_id is None and appointment.assigned_to is None:
        appointment.assigned_to_id = actor.id if actor else None
    _reset_reminder(appointment, appointment.starts_at)

    if is_new:
        appointment.created_by_id = actor.id if actor else None
        db.session.add(appointment)
    db.session.flush()
    if is_new:
        activity.record(
            appointment.contact_id,
            APPOINTMENT.key,
            subject=appointment.title,
            actor_id=appointment.created_by_id,
            ref=("appointment", appointment.id),
            occurred_at=appointment.starts_at,
        )
    else:
        _move_event("appointment", appointment.id, appointment.starts_at)
        _rename_event("appointment", appointment.id, appointment.title)
    log.info(
        "appointment %s %s on contact %s by %s",
        appointment.id,
        "created" if is_new else "changed",
        appointment.contact_id,
        getattr(actor, "email", None),
    )
    return appointment


def _move_event(ref_type, ref_id, moment) -> None:
    db.session.execute(
        update(ActivityEvent)
        .where(ActivityEvent.ref_type == ref_type, ActivityEvent.ref_id == ref_id)
        .values(occurred_at=moment)
    )


def _rename_event(ref_type, ref_id, subject) -> None:
    db.session.execute(
        update(ActivityEvent)
        .where(ActivityEvent.ref_type == ref_type, ActivityEvent.ref_id == ref_id)
        .values(subject=subject[:255])
    )


# Notes --------------------------------------------------------------------


def save_note(note: Note, actor, *, is_new: bool) -> Note:
    """Check and store a note, its body sanitised; a new one records "note_added"."""
    note.title = _title(note.title)
    note.note_type = _choice(
        note.note_type or "other", NOTE_TYPES, "note_type", _("Choose a note type.")
    )
    note.body = sanitise_html(note.body)
    if is_new:
        note.created_by_id = actor.id if actor else None
        db.session.add(note)
    db.session.flush()
    if is_new:
        activity.record(
            note.contact_id,
            NOTE_ADDED.key,
            subject=note.title,
            actor_id=note.created_by_id,
            ref=("note", note.id),
        )
    else:
        _rename_event("note", note.id, note.title)
    log.info(
        "note %s %s on contact %s by %s",
        note.id,
        "created" if is_new else "changed",
        note.contact_id,
        getattr(actor, "email", None),
    )
    return note


def set_pinned(note: Note, pinned: bool, actor) -> None:
    """Pin a note to the top of the tab, or unpin it."""
    note.pinned = pinned
    note.pinned_at = utcnow() if pinned else None
    db.session.flush()
    log.info(
        "note %s %s by %s",
        note.id,
        "pinned" if pinned else "unpinned",
        getattr(actor, "email", None),
    )


def forget_events(ref_type: str, ref_id: int) -> None:
    """Remove the history rows of a deleted task, appointment or note."""
    db.session.execute(
        ActivityEvent.__table__.delete().where(
            ActivityEvent.ref_type == ref_type, ActivityEvent.ref_id == ref_id
        )
    )


# Reading ------------------------------------------------------------------


def tasks_of(contact_id: int, *, completed: bool) -> list[Task]:
    """The contact's pending tasks by due time, or its completed ones, newest first."""
    query = select(Task).where(
        Task.contact_id == contact_id, Task.completed.is_(completed)
    )
    if completed:
        query = query.order_by(Task.completed_at.desc(), Task.id.desc())
    else:
        query = query.order_by(Task.due_at.is_(None), Task.due_at, Task.id)
    return list(db.session.scalars(query))


def pinned_notes(contact_id: int) -> list[Note]:
    query = (
        select(Note)
        .where(Note.contact_id == contact_id, Note.pinned.is_(True))
        .order_by(Note.pinned_at.desc(), Note.id.desc())
    )
    return list(db.session.scalars(query))


def history_page(contact_id: int, page: int = 1, size: int = HISTORY_PAGE_SIZE):
    """One page of the contact's dated history, newest first, and whether more follow.

    LIMIT/OFFSET on the (contact_id, occurred_at, id) index: only one page
    (plus one row, to know whether there is a next page) is read.
    """
    page = max(page, 1)
    query = (
        activity.feed_query(contact_id, HISTORY_KINDS)
        .limit(size + 1)
        .offset((page - 1) * size)
    )
    events = list(db.session.scalars(query))
    return events[:size], len(events) > size


def refs_of(events, model, ref_type: str) -> dict:
    """The rows the events of one ref type point at, by id, in one query."""
    ids = {e.ref_id for e in events if e.ref_type == ref_type and e.ref_id}
    if not ids:
        return {}
    return {
        row.id: row
        for row in db.session.scalars(select(model).where(model.id.in_(ids)))
    }


def my_tasks(user, *, now=None, priority=None, viewer=None) -> dict[str, list[Task]]:
    """``user``'s pending tasks on contacts ``viewer`` may see, grouped by due day.

    Groups are "overdue" (due before now), "today" (due later today in the
    viewer's time zone) and "upcoming" (later, then those with no due time).
    """
    viewer = viewer or user
    now = now or utcnow()
    zone = user_zone(user)
    local_now = now.astimezone(zone)
    tomorrow = datetime.combine(
        local_now.date() + timedelta(days=1), time.min, tzinfo=zone
    )

    query = select(Task).where(
        Task.assigned_to_id == user.id,
        Task.completed.is_(False),
        policy.scope(Task, viewer),
    )
    if priority:
        query = query.where(Task.priority == priority)
    query = query.order_by(Task.due_at.is_(None), Task.due_at, Task.id)

    groups = {"overdue": [], "today": [], "upcoming": []}
    for task in db.session.scalars(query):
        if task.due_at is None or task.due_at >= tomorrow:
            groups["upcoming"].append(task)
        elif task.due_at < now:
            groups["overdue"].append(task)
        else:
            groups["today"].append(task)
    return groups


def is_overdue(task: Task, now=None) -> bool:
    return (
        not task.completed
        and task.due_at is not None
        and task.due_at < (now or utcnow())
    )
