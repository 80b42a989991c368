"""Referral partners, the referrals they earn and the commissions they are paid."""

from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

ACTIVE = "active"
INACTIVE = "inactive"
STATUSES = (ACTIVE, INACTIVE)

COOKIE = "cookie"
MANUAL = "manual"
PERMANENT = "permanent"
REFERRAL_KINDS = (COOKIE, MANUAL, PERMANENT)

FIRST = "first"
LATEST = "latest"

PERCENT = "percent"
FIXED = "fixed"

EARNED = "earned"
REVERSED = "reversed"


class ReferralPartner(db.Model):
    """A contact who refers others, known by a code that is also its link."""

    __tablename__ = "referral_partners"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("track_days IS NULL OR track_days > 0", name="track_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    code: Mapped[str] = mapped_column(String(40))
    # The code folded to lower case: codes are unique whatever their case.
    code_key: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=INACTIVE)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_partners.id", ondelete="SET NULL"), index=True
    )
    notify_on_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_on_sale: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days a tracking link counts after the click; None means no limit.
    track_days: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = relationship("Contact", lazy="joined")
    parent = relationship("ReferralPartner", remote_side=[id])

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def __str__(self) -> str:
        name = self.contact.display_name if self.contact is not None else ""
        return f"{self.code} ({name})" if name else (self.code or "")


class Referral(db.Model):
    """A partner's credit for bringing a contact: by link, by hand or for good."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("referral_partners.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    # When the partner referred the contact (the click, for a cookie).
    referred_at = mapped_column(UTCDateTime, nullable=False)
    # After this moment the referral no longer earns credit; None: never.
    expires_at = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    contact = relationship("Contact")
    partner = relationship("ReferralPartner", lazy="joined")

    def active_at(self, moment) -> bool:
        return self.referred_at <= moment and (
            self.expires_at is None or moment < self.expires_at
        )

    def __str__(self) -> str:
        return f"{self.partner}: {self.kind}"


class PartnerSettings(db.Model):
    """How referrals are credited; one row, edited by administrators."""

    __tablename__ = "partner_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit: Mapped[str] = mapped_column(String(10), default=LATEST)
    use_history: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where a tracking link goes when its destination is missing or refused.
    landing_url: Mapped[str | None] = mapped_column(String(500))

    def __str__(self) -> str:
        return "partner settings"


class TrackingDestination(db.Model):
    """A site or URL prefix that tracking links may send visitors to."""

    __tablename__ = "tracking_destinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(500), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __str__(self) -> str:
        return self.prefix


class CommissionRule(db.Model):
    """What a partner (or, without one, every partner) earns per sale."""

    __tablename__ = "commission_rules"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'percent' AND percent IS NOT NULL AND percent >= 0"
            " AND percent <= 100) OR (kind = 'fixed' AND amount IS NOT NULL"
            " AND amount >= 0 AND currency IS NOT NULL)",
            name="kind_values",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_partners.id", ondelete="CASCADE")
    )
    # "default" or "partner:<id>": one rule per partner and one default.
    rule_key: Mapped[str] = mapped_column(String(30), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default=PERCENT)
    percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    partner = relationship("ReferralPartner")

    def __str__(self) -> str:
        if self.kind == PERCENT:
            return f"{self.percent}%"
        return f"{self.amount} {self.currency}"


class Commission(db.Model):
    """A commission earned on an order, or (negative) the reversal of one."""

    __tablename__ = "commissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("referral_partners.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(10), default=EARNED)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    # The sale (for an earned row) or refund (for a reversal) it was computed on.
    basis: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    # "<order>:<partner>" on earned rows, so an order pays a partner once.
    earn_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("commissions.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("commission_rules.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    partner = relationship("ReferralPartner")
    reverses = relationship("Commission", remote_side=[id])

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
