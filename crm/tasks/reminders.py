"""Reminders of tasks and appointments: in the app, and by e-mail.

``send_due(now)`` is what a timer (the scheduler process) or
``flask tasks remind`` runs. It first claims the due rows with one
``UPDATE ... WHERE reminder_sent_at IS NULL ... RETURNING id``, commits, and
only then sends: a second runner, or a second run, finds nothing left to
claim, so each reminder is sent once.
"""

import logging

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, func, select, update

from crm.auth.models import User
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.tasks import services
from crm.tasks.models import Appointment, Task

log = logging.getLogger(__name__)


def _due(model, now):
    """The criterion of the rows of ``model`` whose reminder time has come."""
    criterion = and_(
        model.remind_at.is_not(None),
        model.remind_at <= now,
        model.assigned_to_id.is_not(None),
    )
    if model is Task:
        return and_(criterion, Task.completed.is_(False))
    return and_(criterion, Appointment.ends_at > now)


def claim_due(now=None) -> dict[type, list[int]]:
    """Mark every due, unsent reminder as sent now and return the claimed ids.

    The caller commits. Rows another runner claimed first no longer match
    ``reminder_sent_at IS NULL`` and are not returned.
    """
    now = now or utcnow()
    claimed = {}
    for model in (Task, Appointment):
        statement = (
            update(model)
            .where(_due(model, now), model.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now)
            .returning(model.id)
            .execution_options(synchronize_session=False)
        )
        claimed[model] = sorted(db.session.scalars(statement))
    return claimed


def _release(model, record_id) -> None:
    db.session.execute(
        update(model)
        .where(model.id == record_id)
        .values(reminder_sent_at=None)
        .execution_options(synchronize_session=False)
    )


def send_due(now=None) -> int:
    """Send every due reminder once by e-mail to its assigned user; the count sent.

    The claim is committed before anything is sent. A message the mail
    server refuses is recorded failed by the mail domain and its reminder is
    released, so the next run tries again. A missing mail configuration
    releases every claim and raises the mail domain's error.
    """
    from crm.mail import services as mail

    now = now or utcnow()
    claimed = claim_due(now)
    db.session.commit()
    queue = [(model, record_id) for model, ids in claimed.items() for record_id in ids]

    sent = 0
    for position, (model, record_id) in enumerate(queue):
        record = db.session.get(model, record_id)
        user = db.session.get(User, record.assigned_to_id)
        if user is None or not user.active:
            log.info("reminder of %s %s has nobody to go to", model.__name__, record_id)
            continue
        subject, text = _message(record, user)
        try:
            mail.notify_user(user, subject, text)
        except mail.MailFailed as exc:
            # The failed message stays recorded; the reminder waits for the next run.
            log.warning("reminder of %s %s failed: %s", model.__name__, record_id, exc)
            _release(model, record_id)
            db.session.commit()
            continue
        except ServiceError:
            db.session.rollback()
            for pending_model, pending_id in queue[position:]:
                _release(pending_model, pending_id)
            db.session.commit()
            raise
        except Exception:
            db.session.rollback()
            log.exception("reminder of %s %s not sent", model.__name__, record_id)
            _release(model, record_id)
            db.session.commit()
            continue
        db.session.commit()
        sent += 1
        log.info("reminder of %s %s sent to %s", model.__name__, record_id, user.email)
    return sent


def _message(record, user) -> tuple[str, str]:
    with force_locale(user.locale or "en"):
        contact = record.contact.display_name
        if isinstance(record, Task):
            when = services.local(record.due_at, user) or "-"
            subject = _("Reminder: %(title)s", title=record.title)
            text = _(
                "Task: %(title)s\nContact: %(contact)s\nDue: %(when)s",
                title=record.title,
                contact=contact,
                when=when,
            )
        else:
            subject = _("Reminder: %(title)s", title=record.title)
            text = _(
                "Appointment: %(title)s\nContact: %(contact)s\nStarts: %(when)s\n"
                "Location: %(location)s",
                title=record.title,
                contact=contact,
                when=services.local(record.starts_at, user),
                location=record.location or "-",
            )
    return subject, text


# In the app ---------------------------------------------------------------


def _shown(model, user, now):
    return and_(
        _due(model, now),
        model.assigned_to_id == user.id,
        model.reminder_dismissed_at.is_(None),
        # Only reminders of contacts the user may still see.
        model.contact_id.in_(_visible_contacts(user)),
    )


def _visible_contacts(user):
    from crm.access import policy
    from crm.contacts.models import Contact

    return policy.visible_ids(Contact, user)


def due_for(user, now=None) -> list:
    """The user's tasks and appointments whose reminder time has come, not dismissed."""
    now = now or utcnow()
    rows = []
    for model in (Task, Appointment):
        rows.extend(db.session.scalars(select(model).where(_shown(model, user, now))))
    return sorted(rows, key=lambda row: row.remind_at)


def count_for(user, now=None) -> int:
    """How many reminders ``due_for`` would list (the menu's badge)."""
    now = now or utcnow()
    return sum(
        db.session.scalar(
            select(func.count()).select_from(model).where(_shown(model, user, now))
        )
        for model in (Task, Appointment)
    )


def own_reminder(model, record_id: int, user):
    """The user's own task or appointment, on a contact they may still see."""
    return db.session.scalar(
        select(model).where(
            model.id == record_id,
            model.assigned_to_id == user.id,
            model.contact_id.in_(_visible_contacts(user)),
        )
    )


def dismiss(record, user) -> None:
    """Hide a reminder from the user's list (the e-mail is not affected)."""
    record.reminder_dismissed_at = utcnow()
    db.session.flush()
    log.info(
        "reminder of %s %s dismissed by %s",
        type(record).__name__,
        record.id,
        user.email,
    )
