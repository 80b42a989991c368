"""E-mail: per-address status and its history, messages, tracking, templates."""

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


class EmailAddressStatus(db.Model):
    """The e-mail status of one address, shared by every contact holding it."""

    __tablename__ = "email_address_statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Trimmed and casefolded, the same key as ContactEmail.normalized.
    address: Mapped[str] = mapped_column(String(254), unique=True)
    status: Mapped[str] = mapped_column(String(30), default="NON_MARKETABLE")
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_sent_at = mapped_column(UTCDateTime)
    last_open_at = mapped_column(UTCDateTime)
    last_click_at = mapped_column(UTCDateTime)
    last_bounce_at = mapped_column(UTCDateTime)
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    hard_bounces: Mapped[int] = mapped_column(Integer, default=0)

    changes = relationship(
        "EmailStatusChange",
        back_populates="address_status",
        cascade="all, delete-orphan",
        order_by="EmailStatusChange.id.desc()",
    )

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"


class EmailStatusChange(db.Model):
    """One change of an address's status: old, new, why, from where, by whom."""

    __tablename__ = "email_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    status_id: Mapped[int] = mapped_column(
        ForeignKey("email_address_statuses.id", ondelete="CASCADE"), index=True
    )
    old_status: Mapped[str | None] = mapped_column(String(30))
    new_status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    # manual, confirmation, unsubscribe_link, list_unsubscribe, bounce, system
    source: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    address_status = relationship("EmailAddressStatus", back_populates="changes")
    actor = relationship("User", lazy="joined")

    def __str__(self) -> str:
        return f"{self.old_status or '-'} -> {self.new_status}"


class EmailTemplate(db.Model):
    """A reusable e-mail with merge fields in its subject and body."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[str] = mapped_column(String(255))
    html: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(String(20), default="one_to_one")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __str__(self) -> str:
        return self.name


class Message(db.Model):
    """One e-mail sent (or refused, failed, kept in the outbox) to a contact."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # A system message to a CRM user (reminders) has a user and no contact.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    address: Mapped[str] = mapped_column(String(254), index=True)
    cc: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(255))
    html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(String(20))
    # queued, sent, outbox, failed
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at = mapped_column(UTCDateTime)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="SET NULL")
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    message_id_header: Mapped[str] = mapped_column(String(255), default="")
    open_count: Mapped[int] = mapped_column(Integer, default=0)
    click_count: Mapped[int] = mapped_column(Integer, default=0)
    last_open_at = mapped_column(UTCDateTime)
    last_click_at = mapped_column(UTCDateTime)

    contact = relationship("Contact")
    template = relationship("EmailTemplate")
    actor = relationship("User", foreign_keys=[actor_id])
    links = relationship(
        "MessageLink", cascade="all, delete-orphan", order_by="MessageLink.position"
    )
    opens = relationship(
        "MessageOpen", cascade="all, delete-orphan", order_by="MessageOpen.id"
    )
    clicks = relationship(
        "MessageClick", cascade="all, delete-orphan", order_by="MessageClick.id"
    )
    attachments = relationship(
        "Attachment", cascade="all, delete-orphan", order_by="Attachment.id"
    )

    def __str__(self) -> str:
        return self.subject


class MessageLink(db.Model):
    """A link of a message's body, in order, rewritten to a signed click URL."""

    __tablename__ = "mail_message_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)

    def __str__(self) -> str:
        return self.url


class MessageOpen(db.Model):
    __tablename__ = "mail_message_opens"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")

    def __str__(self) -> str:
        return f"open {self.at:%Y-%m-%d %H:%M}"


class MessageClick(db.Model):
    __tablename__ = "mail_message_clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_message_links.id", ondelete="SET NULL")
    )
    url: Mapped[str] = mapped_column(Text)
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")

    def __str__(self) -> str:
        return self.url


class Attachment(db.Model):
    """A file sent with a message, stored under instance/ with a generated name."""

    __tablename__ = "mail_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)

    def __str__(self) -> str:
        return self.filename
