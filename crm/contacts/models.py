"""The contact record: general details, e-mail addresses, phones, addresses."""

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

EMAIL_SLOTS = 3
PHONE_SLOTS = 5
FAX_SLOTS = 2

ADDRESS_KINDS = ("billing", "shipping", "other")
# The parts of an address, in the order an address is written.
ADDRESS_PARTS = (
    "line1",
    "line2",
    "locality",
    "region",
    "postal_code",
    "zip_four",
    "country_code",
)
# Each address kind as messages name it ("the limit of the billing address").
ADDRESS_NAMES = {
    "billing": _l("billing address"),
    "shipping": _l("shipping address"),
    "other": _l("other address"),
}

# Per-slot limits (Keap's REST v2 contract): address fields are shorter on
# the billing address than on the other two.
ADDRESS_LIMITS = {
    "billing": {
        "line1": 75,
        "line2": 75,
        "locality": 50,
        "region": 50,
        "postal_code": 15,
        "zip_four": 10,
    },
    "shipping": {
        "line1": 100,
        "line2": 100,
        "locality": 100,
        "region": 50,
        "postal_code": 20,
        "zip_four": 10,
    },
    "other": {
        "line1": 100,
        "line2": 100,
        "locality": 100,
        "region": 50,
        "postal_code": 15,
        "zip_four": 10,
    },
}

SOCIAL_TYPES = (
    "FACEBOOK",
    "LINKED_IN",
    "TWITTER",
    "INSTAGRAM",
    "SNAPCHAT",
    "YOUTUBE",
    "PINTEREST",
)
# The networks' own names (brand names, the same in every language).
SOCIAL_LABELS = {
    "FACEBOOK": "Facebook",
    "LINKED_IN": "LinkedIn",
    "TWITTER": "X (Twitter)",
    "INSTAGRAM": "Instagram",
    "SNAPCHAT": "Snapchat",
    "YOUTUBE": "YouTube",
    "PINTEREST": "Pinterest",
}

SOURCE_TYPES = ("MANUAL", "IMPORT", "WEBFORM", "API", "OTHER")


class Company(db.Model):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __str__(self) -> str:
        return self.name


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    prefix: Mapped[str | None] = mapped_column(String(20))
    given_name: Mapped[str | None] = mapped_column(String(40))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(40), index=True)
    suffix: Mapped[str | None] = mapped_column(String(20))
    preferred_name: Mapped[str | None] = mapped_column(String(100))
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    job_title: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(100))

    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    contact_type: Mapped[str | None] = mapped_column(String(50), index=True)
    lead_source: Mapped[str | None] = mapped_column(String(255))
    source_type: Mapped[str] = mapped_column(String(20), default="MANUAL")
    time_zone: Mapped[str | None] = mapped_column(String(64))
    preferred_locale: Mapped[str | None] = mapped_column(String(10))

    birthday: Mapped[date | None] = mapped_column(Date)
    anniversary: Mapped[date | None] = mapped_column(Date)
    spouse_name: Mapped[str | None] = mapped_column(String(100))
    assistant_name: Mapped[str | None] = mapped_column(String(20))
    assistant_phone: Mapped[str | None] = mapped_column(String(15))
    referral_code: Mapped[str | None] = mapped_column(String(100))
    billing_information: Mapped[str | None] = mapped_column(String(100))

    person_notes: Mapped[str | None] = mapped_column(Text)

    # Casefolded, NFC text of names, e-mails, phones and company, kept by the
    # service layer and indexed for substring search (see contacts/search.py).
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Country of the billing address, copied here so the list filters on one
    # indexed column.
    country_code: Mapped[str | None] = mapped_column(String(3), index=True)
    primary_email: Mapped[str | None] = mapped_column(String(254))
    primary_phone: Mapped[str | None] = mapped_column(String(40))

    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    company = relationship("Company", lazy="joined")
    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    emails = relationship(
        "ContactEmail",
        order_by="ContactEmail.slot",
        cascade="all, delete-orphan",
        back_populates="contact",
    )
    phones = relationship(
        "ContactPhone",
        primaryjoin=lambda: and_(
            ContactPhone.contact_id == Contact.id, ContactPhone.kind == "phone"
        ),
        order_by="ContactPhone.slot",
        cascade="all, delete-orphan",
        overlaps="faxes",
    )
    faxes = relationship(
        "ContactPhone",
        primaryjoin=lambda: and_(
            ContactPhone.contact_id == Contact.id, ContactPhone.kind == "fax"
        ),
        order_by="ContactPhone.slot",
        cascade="all, delete-orphan",
        overlaps="phones",
    )
    billing_addresses = relationship(
        "ContactAddress",
        primaryjoin=lambda: and_(
            ContactAddress.contact_id == Contact.id, ContactAddress.kind == "billing"
        ),
        cascade="all, delete-orphan",
        overlaps="extra_addresses",
    )
    extra_addresses = relationship(
        "ContactAddress",
        primaryjoin=lambda: and_(
            ContactAddress.contact_id == Contact.id, ContactAddress.kind != "billing"
        ),
        order_by="ContactAddress.kind",
        cascade="all, delete-orphan",
        overlaps="billing_addresses",
    )
    social_accounts = relationship(
        "SocialAccount", cascade="all, delete-orphan", order_by="SocialAccount.id"
    )

    tag_links = relationship(
        "ContactTag",
        back_populates="contact",
        cascade="all, delete-orphan",
        order_by="ContactTag.applied_at",
    )
    links_out = relationship(
        "ContactLink",
        foreign_keys="ContactLink.contact1_id",
        back_populates="contact1",
        cascade="all, delete-orphan",
    )
    links_in = relationship(
        "ContactLink",
        foreign_keys="ContactLink.contact2_id",
        back_populates="contact2",
        cascade="all, delete-orphan",
    )
    custom_values = relationship("CustomValue", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def display_name(self) -> str:
        parts = [self.given_name, self.middle_name, self.family_name]
        name = " ".join(p for p in parts if p)
        return (
            name
            or (self.company.name if self.company else "")
            or (self.primary_email or f"Contact {self.id}")
        )

    @property
    def billing_address(self):
        return self.billing_addresses[0] if self.billing_addresses else None

    @property
    def addresses(self):
        return list(self.billing_addresses) + list(self.extra_addresses)

    def __str__(self) -> str:
        return self.display_name


class ContactEmail(db.Model):
    __tablename__ = "contact_emails"
    __table_args__ = (
        UniqueConstraint("contact_id", "slot"),
        CheckConstraint(f"slot BETWEEN 1 AND {EMAIL_SLOTS}", name="slot_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[int] = mapped_column(Integer, default=1)
    address: Mapped[str] = mapped_column(String(254))
    # Trimmed, NFC, casefolded: the duplicate check and search compare this.
    normalized: Mapped[str] = mapped_column(String(254), index=True)

    contact = relationship("Contact", back_populates="emails")

    def __str__(self) -> str:
        return self.address


class ContactPhone(db.Model):
    __tablename__ = "contact_phones"
    __table_args__ = (
        UniqueConstraint("contact_id", "kind", "slot"),
        CheckConstraint("kind IN ('phone', 'fax')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(5), default="phone")
    slot: Mapped[int] = mapped_column(Integer, default=1)
    number: Mapped[str] = mapped_column(String(40))
    e164: Mapped[str | None] = mapped_column(String(20))
    extension: Mapped[str | None] = mapped_column(String(20))
    type: Mapped[str | None] = mapped_column(String(30))

    def __str__(self) -> str:
        text = self.number
        if self.extension:
            text += f" x{self.extension}"
        return text


class ContactAddress(db.Model):
    __tablename__ = "contact_addresses"
    __table_args__ = (
        UniqueConstraint("contact_id", "kind"),
        CheckConstraint("kind IN ('billing', 'shipping', 'other')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10), default="billing")
    line1: Mapped[str | None] = mapped_column(String(100))
    line2: Mapped[str | None] = mapped_column(String(100))
    locality: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(50))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    zip_four: Mapped[str | None] = mapped_column(String(10))
    country_code: Mapped[str | None] = mapped_column(String(3))

    def lines(self) -> list[str]:
        city = " ".join(p for p in (self.postal_code, self.locality) if p)
        if self.zip_four and self.postal_code:
            city = city.replace(self.postal_code, f"{self.postal_code}-{self.zip_four}")
        rows = [self.line1, self.line2, city, self.region, self.country_code]
        return [r for r in rows if r]

    def __str__(self) -> str:
        return ", ".join(self.lines())


class SocialAccount(db.Model):
    __tablename__ = "social_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))

    @property
    def network(self) -> str:
        """The network's name as people write it ("LinkedIn"), else the stored type."""
        return SOCIAL_LABELS.get(self.type, self.type)

    def __str__(self) -> str:
        return f"{self.network}: {self.name}"


Index("ix_contacts_owner_family", Contact.owner_id, Contact.family_name)
