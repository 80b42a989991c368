"""Stages, opportunities, their stage moves, checklists and custom fields."""

from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.customfields.models import FieldDefinition
from crm.extensions import db

OPEN = "open"
WON = "won"
LOST = "lost"
STAGE_KINDS = (OPEN, WON, LOST)
CLOSING_KINDS = (WON, LOST)

MONEY = Numeric(12, 2)


class Stage(db.Model):
    """A pipeline stage; one stage is the win stage and one the loss stage."""

    __tablename__ = "opportunity_stages"
    __table_args__ = (
        CheckConstraint("probability >= 0 AND probability <= 100", name="probability"),
        CheckConstraint("target_days >= 0", name="target_days"),
        CheckConstraint("kind IN ('open', 'won', 'lost')", name="kind"),
        # At most one win and one loss stage, whatever path writes them.
        Index(
            "ix_opportunity_stages_closing_kind",
            "kind",
            unique=True,
            sqlite_where=text("kind <> 'open'"),
            postgresql_where=text("kind <> 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    target_days: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(4), default=OPEN)
    reason_required: Mapped[bool] = mapped_column(Boolean, default=False)

    checklist = relationship(
        "ChecklistItem",
        back_populates="stage",
        cascade="all, delete-orphan",
        order_by="ChecklistItem.position, ChecklistItem.id",
    )
    reasons = relationship(
        "StageReason",
        back_populates="stage",
        cascade="all, delete-orphan",
        order_by="StageReason.position, StageReason.id",
    )

    @property
    def is_closing(self) -> bool:
        return self.kind in CLOSING_KINDS

    def __str__(self) -> str:
        return self.name


class ChecklistItem(db.Model):
    """One thing to do in a stage; required items are checked before moving on."""

    __tablename__ = "opportunity_checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("opportunity_stages.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(String(255))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)

    stage = relationship("Stage", back_populates="checklist")

    def __str__(self) -> str:
        return self.description


class StageReason(db.Model):
    """A reason offered when an opportunity is won or lost."""

    __tablename__ = "opportunity_stage_reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("opportunity_stages.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)

    stage = relationship("Stage", back_populates="reasons")

    def __str__(self) -> str:
        return self.text


class Opportunity(db.Model):
    """A possible sale to a contact, moving through the stages."""

    __tablename__ = "opportunities"
    __table_args__ = (
        CheckConstraint(
            "revenue_low IS NULL OR revenue_high IS NULL "
            "OR revenue_low <= revenue_high",
            name="revenue_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("opportunity_stages.id"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    next_action_at = mapped_column(UTCDateTime, nullable=True)
    next_action_notes: Mapped[str | None] = mapped_column(Text)
    estimated_close_on = mapped_column(Date, nullable=True, index=True)
    revenue_low: Mapped[Decimal | None] = mapped_column(MONEY)
    revenue_high: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    include_in_forecast: Mapped[bool] = mapped_column(Boolean, default=True)
    lead_source: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    stage_entered_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    closed_at = mapped_column(UTCDateTime, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(255))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Two moves of the same opportunity at once: the second one fails cleanly.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    contact = relationship("Contact")
    stage = relationship("Stage", lazy="joined")
    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    moves = relationship(
        "StageMove",
        back_populates="opportunity",
        cascade="all, delete-orphan",
        order_by="StageMove.moved_at, StageMove.id",
    )
    checks = relationship(
        "ChecklistCheck", back_populates="opportunity", cascade="all, delete-orphan"
    )
    field_values = relationship(
        "OpportunityValue", back_populates="opportunity", cascade="all, delete-orphan"
    )

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def __str__(self) -> str:
        return self.title


class ChecklistCheck(db.Model):
    """A checklist item done on one opportunity, with when and by whom."""

    __tablename__ = "opportunity_checklist_checks"
    __table_args__ = (UniqueConstraint("opportunity_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("opportunity_checklist_items.id", ondelete="CASCADE"), index=True
    )
    done_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    done_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    opportunity = relationship("Opportunity", back_populates="checks")
    item = relationship("ChecklistItem")

    def __str__(self) -> str:
        return str(self.item)


class StageMove(db.Model):
    """One move of an opportunity: from (None on creation), to, when, by whom."""

    __tablename__ = "opportunity_stage_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    from_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunity_stages.id", ondelete="SET NULL")
    )
    to_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunity_stages.id", ondelete="SET NULL")
    )
    moved_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    moved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(String(255))

    opportunity = relationship("Opportunity", back_populates="moves")
    from_stage = relationship("Stage", foreign_keys=[from_stage_id], lazy="joined")
    to_stage = relationship("Stage", foreign_keys=[to_stage_id], lazy="joined")
    moved_by = relationship("User", lazy="joined")

    def __str__(self) -> str:
        return f"{self.from_stage or '-'} -> {self.to_stage or '-'}"


class OpportunityField(FieldDefinition, db.Model):
    """An administrator-defined field on every opportunity (the contact field types)."""

    __tablename__ = "opportunity_fields"


class OpportunityValue(db.Model):
    """The canonical text of one custom field on one opportunity."""

    __tablename__ = "opportunity_field_values"
    __table_args__ = (UniqueConstraint("opportunity_id", "field_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("opportunity_fields.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(Text)

    opportunity = relationship("Opportunity", back_populates="field_values")
    field = relationship("OpportunityField", lazy="joined")

    def __str__(self) -> str:
        return self.value
