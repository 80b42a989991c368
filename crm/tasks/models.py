"""Tasks, appointments and notes of a contact, and their custom fields."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.customfields.models import FieldDefinition
from crm.extensions import db

TASK_TYPES = (
    ("call", _l("Call")),
    ("email", _l("E-mail")),
    ("follow_up", _l("Follow-up")),
    ("other", _l("Other")),
)
PRIORITIES = (
    ("critical", _l("Critical")),
    ("essential", _l("Essential")),
    ("non_essential", _l("Non-essential")),
)
NOTE_TYPES = (
    ("call", _l("Call")),
    ("email", _l("E-mail")),
    ("fax", _l("Fax")),
    ("letter", _l("Letter")),
    ("appointment", _l("Appointment")),
    ("other", _l("Other")),
)
# Minutes before the due time or start, as Keap offers them.
REMINDER_MINUTES = (5, 10, 15, 30, 60, 120, 240, 480, 1440, 2880)
# The record types custom activity fields apply to.
RECORD_TYPES = (
    ("task", _l("Tasks")),
    ("appointment", _l("Appointments")),
    ("note", _l("Notes")),
)


class _Reminder:
    """When the assigned user is reminded, and whether that has happened."""

    remind_minutes: Mapped[int | None] = mapped_column(Integer)
    # Due time (or start) minus remind_minutes; kept so reminders are one
    # indexed range query.
    remind_at = mapped_column(UTCDateTime)
    reminder_sent_at = mapped_column(UTCDateTime)
    reminder_dismissed_at = mapped_column(UTCDateTime)


class Task(_Reminder, db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_assigned_pending", "assigned_to_id", "completed", "due_at"),
        Index("ix_tasks_remind_at", "remind_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(String(20), default="other")
    priority: Mapped[str] = mapped_column(String(20), default="essential")
    due_at = mapped_column(UTCDateTime)
    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = relationship("Contact")
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    completed_by = relationship("User", foreign_keys=[completed_by_id])
    created_by = relationship("User", foreign_keys=[created_by_id])

    def __str__(self) -> str:
        return self.title


class Appointment(_Reminder, db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="end_after_start"),
        Index("ix_appointments_remind_at", "remind_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    starts_at = mapped_column(UTCDateTime, nullable=False)
    ends_at = mapped_column(UTCDateTime, nullable=False)
    location: Mapped[str | None] = mapped_column(String(255))
    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = relationship("Contact")
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    created_by = relationship("User", foreign_keys=[created_by_id])

    def __str__(self) -> str:
        return self.title


class Note(db.Model):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    note_type: Mapped[str] = mapped_column(String(20), default="other")
    title: Mapped[str] = mapped_column(String(255))
    # Sanitised HTML (nh3) from the moment it is saved.
    body: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned_at = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = relationship("Contact")
    created_by = relationship("User", foreign_keys=[created_by_id])

    def __str__(self) -> str:
        return self.title


class ActivityField(FieldDefinition, db.Model):
    """A custom field administrators add to tasks, appointments or notes."""

    __tablename__ = "activity_fields"

    record_type: Mapped[str] = mapped_column(String(20), default="task")


class ActivityFieldValue(db.Model):
    """The value of one activity field on one task, appointment or note."""

    __tablename__ = "activity_field_values"
    __table_args__ = (UniqueConstraint("field_id", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    field_id: Mapped[int] = mapped_column(
        ForeignKey("activity_fields.id", ondelete="CASCADE"), index=True
    )
    # The owning record's contact, so a value follows the contact's visibility.
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(Text)

    field = relationship("ActivityField", lazy="joined")
