"""Sequences, campaigns, goals and the due rows the workers claim.

A follow-up sequence is a ``Sequence`` without a campaign; a campaign holds
goals and sequences in order of ``position``. A contact in a sequence is an
``Enrollment``; each step it is due to run is one ``StepRun`` row, unique per
step, contact and occurrence (the enrollment's start count), and every try
to run it is one ``StepAttempt``.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

DRAFT = "draft"
PUBLISHED = "published"
CAMPAIGN_STATUSES = ((DRAFT, _l("Draft")), (PUBLISHED, _l("Published")))

ACTIVE = "active"
PAUSED = "paused"
COMPLETED = "completed"
REMOVED = "removed"
ENROLLMENT_STATUSES = (
    (ACTIVE, _l("Active")),
    (PAUSED, _l("Paused")),
    (COMPLETED, _l("Completed")),
    (REMOVED, _l("Removed")),
)

SCHEDULED = "scheduled"
CLAIMED = "claimed"
DONE = "done"
SKIPPED = "skipped"
EXPIRED = "expired"
FAILED = "failed"
CANCELLED = "cancelled"
RUN_STATUSES = (
    (SCHEDULED, _l("Scheduled")),
    (CLAIMED, _l("Running")),
    (DONE, _l("Done")),
    (SKIPPED, _l("Skipped")),
    (EXPIRED, _l("Expired")),
    (FAILED, _l("Failed")),
    (CANCELLED, _l("Cancelled")),
)
#: A run in one of these states is over: the sequence moves past its step.
FINISHED = (DONE, SKIPPED, EXPIRED, FAILED)

TIMER_KINDS = (
    ("none", _l("No timer: run at once")),
    ("delay", _l("Delay timer")),
    ("date", _l("Date timer")),
    ("field", _l("Field timer")),
)
ACTION_KINDS = (
    ("send_email", _l("Send an e-mail")),
    ("apply_tag", _l("Apply a tag")),
    ("remove_tag", _l("Remove a tag")),
    ("assign_owner", _l("Assign an owner")),
    ("set_field", _l("Set a field")),
    ("start_sequence", _l("Start another sequence")),
    ("create_task", _l("Create a task")),
    ("create_note", _l("Create a note")),
)
GOAL_KINDS = (
    ("tag_applied", _l("Tag applied")),
    ("email_clicked", _l("E-mail link clicked")),
    ("lead_score", _l("Lead score reached")),
    ("manual", _l("Manual or API achievement")),
    ("form_submitted", _l("Web form submitted")),
    ("purchase", _l("Purchase made")),
)


class Campaign(db.Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=DRAFT)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    published_at = mapped_column(UTCDateTime)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    goals = relationship(
        "Goal",
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="Goal.position",
    )
    sequences = relationship(
        "Sequence", back_populates="campaign", order_by="Sequence.position"
    )

    @property
    def is_live(self) -> bool:
        return self.status == PUBLISHED

    def __str__(self) -> str:
        return self.name


class Sequence(db.Model):
    __tablename__ = "sequences"
    __table_args__ = (UniqueConstraint("campaign_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    #: Order among the campaign's goals and sequences.
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: A later goal does not take the contact out of this sequence.
    runs_until_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    campaign = relationship("Campaign", back_populates="sequences")
    steps = relationship(
        "Step",
        back_populates="sequence",
        cascade="all, delete-orphan",
        order_by="Step.position",
    )

    def __str__(self) -> str:
        if self.campaign is not None:
            return f"{self.campaign.name}: {self.name}"
        return self.name


class Step(db.Model):
    """One item of a sequence: a timer, then an action.

    ``timer`` and ``action`` hold the settings of their kind, for example
    ``{"amount": 1, "unit": "days", "start": "09:00"}`` and
    ``{"tag_id": 3}``.
    """

    __tablename__ = "sequence_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120), default="")
    timer_kind: Mapped[str] = mapped_column(String(12), default="none")
    timer: Mapped[dict | None] = mapped_column(JSON)
    action_kind: Mapped[str] = mapped_column(String(20))
    action: Mapped[dict | None] = mapped_column(JSON)
    #: Past this many minutes late the step is expired instead of run;
    #: empty means the default of its action kind.
    max_lateness_minutes: Mapped[int | None] = mapped_column(Integer)

    sequence = relationship("Sequence", back_populates="steps")

    def __str__(self) -> str:
        return self.name or f"{self.action_kind} #{self.position}"


class Goal(db.Model):
    """A campaign goal: achieving it starts ``sequence`` and ends earlier ones."""

    __tablename__ = "campaign_goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(20))
    #: Settings of the kind: {"tag_id": 3}, {"url_contains": "/pricing"},
    #: {"score": 50}, {"call_name": "webinar_attended"}.
    config: Mapped[dict | None] = mapped_column(JSON)
    sequence_id: Mapped[int | None] = mapped_column(
        ForeignKey("sequences.id", ondelete="SET NULL")
    )

    campaign = relationship("Campaign", back_populates="goals")
    sequence = relationship("Sequence")

    def __str__(self) -> str:
        return self.name or self.kind


class Enrollment(db.Model):
    """A contact in a sequence, with its state and how many times it started."""

    __tablename__ = "sequence_enrollments"
    __table_args__ = (UniqueConstraint("contact_id", "sequence_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default=ACTIVE)
    occurrence: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str] = mapped_column(String(255), default="")
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = relationship("Contact")
    sequence = relationship("Sequence")

    def __str__(self) -> str:
        return f"{self.sequence} ({self.status})"


class StepRun(db.Model):
    """One step due for one contact: the row workers claim and run once."""

    __tablename__ = "step_runs"
    __table_args__ = (
        Index("ix_step_runs_status_due", "status", "due_at"),
        Index("ix_step_runs_contact_due", "contact_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("sequence_enrollments.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    step_id: Mapped[int] = mapped_column(
        ForeignKey("sequence_steps.id", ondelete="CASCADE"), index=True
    )
    occurrence: Mapped[int] = mapped_column(Integer, default=1)
    due_at = mapped_column(UTCDateTime, nullable=False)
    #: The IANA zone the due time was computed in.
    zone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(12), default=SCHEDULED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at = mapped_column(UTCDateTime)
    finished_at = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(255), default="")
    #: What the step produced, for the report: "message:<id>" for an e-mail.
    result_ref: Mapped[str | None] = mapped_column(String(80))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    enrollment = relationship("Enrollment")
    step = relationship("Step")
    contact = relationship("Contact")

    def __str__(self) -> str:
        return f"{self.step} ({self.status})"


class StepAttempt(db.Model):
    """One try at running a step, with what came of it."""

    __tablename__ = "step_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("step_runs.id", ondelete="CASCADE"), index=True
    )
    worker: Mapped[str] = mapped_column(String(64), default="")
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str] = mapped_column(Text, default="")

    def __str__(self) -> str:
        return self.outcome


class GoalAchievement(db.Model):
    """A contact reached a campaign goal (kept for the report and the tab)."""

    __tablename__ = "goal_achievements"
    __table_args__ = (
        Index("ix_goal_achievements_goal_contact", "goal_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_goals.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    achieved_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    source: Mapped[str] = mapped_column(String(40), default="")

    goal = relationship("Goal")

    def __str__(self) -> str:
        return str(self.goal)
