"""Tags, their categories, and when each was applied to a contact."""

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


class TagCategory(db.Model):
    __tablename__ = "tag_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    tags = relationship("Tag", back_populates="category", order_by="Tag.name")

    def __str__(self) -> str:
        return self.name


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("tag_categories.id", ondelete="SET NULL"), index=True
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    category = relationship("TagCategory", back_populates="tags", lazy="joined")

    @property
    def label(self) -> str:
        if self.category:
            return f"{self.category.name} › {self.name}"
        return self.name

    def __str__(self) -> str:
        return self.name


class ContactTag(db.Model):
    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )
    applied_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    applied_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    #: What applied the tag when no user did: "sequence:<id>", "webform:<id>".
    applied_via: Mapped[str | None] = mapped_column(String(40))

    tag = relationship("Tag", lazy="joined")
    contact = relationship("Contact", back_populates="tag_links")
    applied_by = relationship("User", lazy="joined")

    def __str__(self) -> str:
        return str(self.tag)


Index("ix_contact_tags_tag_contact", ContactTag.tag_id, ContactTag.contact_id)
