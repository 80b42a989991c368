"""Files in a contact's file box; the bytes live on disk under generated names."""

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

UPLOAD = "upload"
EMAIL = "email"
FORM = "form"
SOURCES = (UPLOAD, EMAIL, FORM)


class ContactFile(db.Model):
    """One file of a contact: its original name is metadata, never a path."""

    __tablename__ = "contact_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    # Decided from the bytes; "application/octet-stream" when unknown.
    content_type: Mapped[str] = mapped_column(String(100))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # The unguessable part of the public link; None while the file is private.
    public_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(10), default=UPLOAD)
    # Which one, in words: the web form a file came with.
    source_name: Mapped[str] = mapped_column(String(120), default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    uploaded_by = relationship("User")

    def __str__(self) -> str:
        return self.name or ""
