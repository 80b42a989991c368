"""Score rules, the points each contact earned, and the ideal score."""

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

#: The ideal score until an administrator sets one (Keap's out-of-box value).
DEFAULT_IDEAL_SCORE = 3


class ScoreRule(db.Model):
    """Points (-10..10) given when an event of the rule's trigger happens.

    ``target`` narrows the trigger to one thing ("tag:12", "form:3"); empty
    means any. ``expires_weeks`` empty means the points never expire.
    """

    __tablename__ = "score_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    points: Mapped[int] = mapped_column(Integer)
    expires_weeks: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __str__(self) -> str:
        return self.name


class ScoreEntry(db.Model):
    """Points one rule gave one contact for one event.

    A rule that scores once per target stores the event's target, so the
    unique constraint refuses a second entry for the same message; a rule
    that scores every time stores no target (NULLs never collide).
    """

    __tablename__ = "score_entries"
    __table_args__ = (
        UniqueConstraint("rule_id", "contact_id", "target"),
        Index("ix_score_entries_contact_expiry", "contact_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("score_rules.id", ondelete="CASCADE")
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("activity_events.id", ondelete="SET NULL"), index=True
    )
    points: Mapped[int] = mapped_column(Integer)
    earned_at = mapped_column(UTCDateTime, nullable=False)
    expires_at = mapped_column(UTCDateTime)
    target: Mapped[str | None] = mapped_column(String(255))

    rule = relationship("ScoreRule", lazy="joined")
    event = relationship("ActivityEvent")

    def __str__(self) -> str:
        return f"{self.rule} ({self.points:+d})"


class ScoreSetting(db.Model):
    """The one row of scoring settings: the score that shows five flames."""

    __tablename__ = "score_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    ideal_score: Mapped[int] = mapped_column(Integer, default=DEFAULT_IDEAL_SCORE)

    def __str__(self) -> str:
        return str(self.ideal_score)
