"""Web forms, their fields, the submissions they receive, and product checkouts."""

import secrets

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


def new_slug() -> str:
    """A public slug nobody guesses: 12 random hexadecimal digits."""
    return secrets.token_hex(6)


DUPLICATE_RULES = ("email", "email_name", "email_name_company", "none")
EXITS = ("message", "redirect")
SUBMISSION_STATES = ("queued", "processing", "processed", "held", "discarded")
# A file sent with a submission: waiting on disk for the submission to be
# processed, in the contact's file box, or not kept (a discarded or spam
# submission).
SENT_FILE_STATES = ("pending", "filed", "dropped")

webform_tags = Table(
    "webform_tags",
    db.metadata,
    Column(
        "form_id",
        ForeignKey("webforms.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class WebForm(db.Model):
    """A public form that creates or updates contacts."""

    __tablename__ = "webforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # A slug left empty on the form is made up (and the field is not required).
    slug: Mapped[str] = mapped_column(String(64), unique=True, default=new_slug)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    submit_label: Mapped[str] = mapped_column(String(60), default="")
    duplicate_rule: Mapped[str] = mapped_column(String(20), default="email")
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    min_fill_seconds: Mapped[int] = mapped_column(Integer, default=3)
    exit: Mapped[str] = mapped_column(String(10), default="message")
    thank_you: Mapped[str] = mapped_column(Text, default="")
    redirect_url: Mapped[str] = mapped_column(String(2000), default="")
    # One prefix or origin a line: where the form may redirect to and which
    # sites may frame it.
    allowed_urls: Mapped[str] = mapped_column(Text, default="")
    notify_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    fields = relationship(
        "WebFormField",
        back_populates="form",
        cascade="all, delete-orphan",
        order_by="WebFormField.position",
    )
    tags = relationship("Tag", secondary=webform_tags, order_by="Tag.name")
    notify_user = relationship("User")

    @property
    def allowed_list(self) -> list[str]:
        return [
            line.strip()
            for line in (self.allowed_urls or "").splitlines()
            if line.strip()
        ]

    def __str__(self) -> str:
        return self.name


class WebFormField(db.Model):
    """One field of a form: a contact field or a custom field, shown or hidden."""

    __tablename__ = "webform_fields"
    __table_args__ = (UniqueConstraint("form_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(
        ForeignKey("webforms.id", ondelete="CASCADE"), index=True
    )
    # A contact field ("email", "given_name", "billing.locality"),
    # "custom:<id>" for a custom field or "file:<n>" for a file upload.
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120), default="")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    fixed_value: Mapped[str] = mapped_column(String(255), default="")
    # False: a submission only fills the value when the contact has none.
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    # File fields only: the visitor may send several files at once.
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)

    form = relationship("WebForm", back_populates="fields")

    def __str__(self) -> str:
        return self.label or self.key


class Submission(db.Model):
    """One submission of a form: processed into a contact, held or discarded."""

    __tablename__ = "webform_submissions"
    __table_args__ = (
        Index("ix_webform_submissions_ip_at", "ip", "created_at"),
        Index("ix_webform_submissions_form_at", "form_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("webforms.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(10), default="processed", index=True)
    hold_reason: Mapped[str] = mapped_column(String(40), default="")
    # Why processing failed, in words (a file box too full for its files...).
    hold_detail: Mapped[str] = mapped_column(Text, default="")
    # The submitted values by field key, as typed.
    data = mapped_column(JSON, nullable=False, default=dict)
    email: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    page_url: Mapped[str] = mapped_column(String(2000), default="")
    utm = mapped_column(JSON, nullable=False, default=dict)
    visitor_id: Mapped[str] = mapped_column(String(64), default="")
    referral_cookie: Mapped[str] = mapped_column(String(500), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    processed_at = mapped_column(UTCDateTime)

    form = relationship("WebForm")
    contact = relationship("Contact")
    files = relationship(
        "SubmissionFile",
        back_populates="submission",
        cascade="all, delete-orphan",
        order_by="SubmissionFile.id",
    )

    def __str__(self) -> str:
        return f"{self.form} #{self.id}"


class SubmissionFile(db.Model):
    """A file that came with a submission.

    Until the submission is processed its bytes wait on disk under
    ``stored_name`` (a generated name); processing moves them into the
    contact's file box, discarding the submission deletes them.
    """

    __tablename__ = "webform_submission_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("webform_submissions.id", ondelete="CASCADE"), index=True
    )
    field_key: Mapped[str] = mapped_column(String(40))
    # The sent name made safe to show; metadata only, never a path.
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    # Decided from the bytes (empty when they were not kept).
    content_type: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(10), default="pending")
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    contact_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_files.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    submission = relationship("Submission", back_populates="files")
    contact_file = relationship("ContactFile")

    def __str__(self) -> str:
        return self.name or ""


class ProductCheckout(db.Model):
    """A product made purchasable at a public order page."""

    __tablename__ = "product_checkouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), unique=True
    )
    # A slug left empty on the form is made up (and the field is not required).
    slug: Mapped[str] = mapped_column(String(64), unique=True, default=new_slug)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    max_quantity: Mapped[int] = mapped_column(Integer, default=10)
    ask_shipping: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    product = relationship("Product")

    def __str__(self) -> str:
        return str(self.product) if self.product else self.slug


class Purchase(db.Model):
    """A paid checkout, by the one-time key its page carried.

    The unique key is what makes a double click or a retried request find
    the first purchase instead of making a second order and charge.
    """

    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    checkout_id: Mapped[int] = mapped_column(
        ForeignKey("product_checkouts.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    checkout = relationship("ProductCheckout")
    contact = relationship("Contact")
    order = relationship("Order")

    def __str__(self) -> str:
        return self.key[:8]
