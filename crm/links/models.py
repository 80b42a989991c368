"""Links between two contacts (spouse, assistant, ...), typed by the admin."""

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


class LinkType(db.Model):
    __tablename__ = "link_types"
    __table_args__ = (CheckConstraint("max_links > 0", name="max_links_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    max_links: Mapped[int] = mapped_column(Integer, default=1)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __str__(self) -> str:
        return self.name


class ContactLink(db.Model):
    __tablename__ = "contact_links"
    __table_args__ = (
        UniqueConstraint("contact1_id", "contact2_id", "link_type_id"),
        CheckConstraint("contact1_id <> contact2_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact1_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    contact2_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    link_type_id: Mapped[int] = mapped_column(
        ForeignKey("link_types.id", ondelete="CASCADE")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    contact1 = relationship(
        "Contact", foreign_keys=[contact1_id], back_populates="links_out"
    )
    contact2 = relationship(
        "Contact", foreign_keys=[contact2_id], back_populates="links_in"
    )
    link_type = relationship("LinkType", lazy="joined")

    def other(self, contact_id: int):
        """The contact at the other end of the link."""
        return self.contact2 if self.contact1_id == contact_id else self.contact1

    def __str__(self) -> str:
        return f"{self.link_type}: {self.contact2}"
