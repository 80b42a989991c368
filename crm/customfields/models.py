"""Administrator-defined custom tabs, headers and fields, and their values."""

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db

FIELD_TYPES = (
    ("text", "Text"),
    ("text_area", "Text area"),
    ("whole_number", "Whole number"),
    ("decimal", "Decimal number"),
    ("currency", "Currency"),
    ("percent", "Percent"),
    ("date", "Date"),
    ("date_time", "Date and time"),
    ("yes_no", "Yes/No"),
    ("dropdown", "Drop-down"),
    ("radio", "Radio"),
    ("list_box", "List box (multi-select)"),
    ("email", "E-mail"),
    ("phone", "Phone number"),
    ("website", "Website"),
    ("user", "User"),
    ("year", "Year"),
    ("month", "Month"),
    ("day_of_week", "Day of week"),
    ("state", "State"),
)

OPTION_TYPES = {"dropdown", "radio", "list_box"}


class CustomTab(db.Model):
    __tablename__ = "custom_tabs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    record_type: Mapped[str] = mapped_column(String(20), default="contact")

    headers = relationship(
        "CustomHeader", back_populates="tab", order_by="CustomHeader.position"
    )

    def __str__(self) -> str:
        return self.name


class CustomHeader(db.Model):
    __tablename__ = "custom_headers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tab_id: Mapped[int] = mapped_column(ForeignKey("custom_tabs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)

    tab = relationship("CustomTab", back_populates="headers")
    fields = relationship(
        "CustomField", back_populates="header", order_by="CustomField.position"
    )

    def __str__(self) -> str:
        return f"{self.tab} › {self.name}" if self.tab else self.name


class FieldDefinition:
    """The columns every custom-field definition has, whatever it belongs to.

    Contact fields, task/note fields and opportunity fields share the types,
    validation and canonical storage of ``crm.customfields.services``; each
    keeps its definitions and values in its own tables.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    # Stable machine name, used by import column matching and the API.
    field_name: Mapped[str] = mapped_column(String(100), unique=True)
    field_type: Mapped[str] = mapped_column(String(20), default="text")
    # One option a line, for drop-down, radio and list box fields.
    options: Mapped[str | None] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def option_list(self) -> list[str]:
        return [o.strip() for o in (self.options or "").splitlines() if o.strip()]

    def __str__(self) -> str:
        return self.label


class CustomField(FieldDefinition, db.Model):
    __tablename__ = "custom_fields"

    header_id: Mapped[int] = mapped_column(ForeignKey("custom_headers.id"), index=True)

    header = relationship("CustomHeader", back_populates="fields")


class CustomValue(db.Model):
    __tablename__ = "custom_values"
    __table_args__ = (UniqueConstraint("contact_id", "field_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("custom_fields.id", ondelete="CASCADE"), index=True
    )
    # Canonical text: ISO dates, plain decimals, "1"/"0", JSON list for list box.
    value: Mapped[str] = mapped_column(Text)

    field = relationship("CustomField", lazy="joined")
