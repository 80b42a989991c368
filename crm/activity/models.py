"""One row per thing that happened to a contact, whichever domain recorded it."""

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


class ActivityEvent(db.Model):
    """A dated event on a contact: a note added, an e-mail sent or opened, ...

    ``kind`` names what happened (see ``crm.activity.kinds``); ``ref_type``
    and ``ref_id`` point at the domain row it is about (a message, a task);
    ``target`` says what it happened to where rules need it ("tag:12",
    "message:55", a link's URL), so scoring can tell one open of a message
    from another.
    """

    __tablename__ = "activity_events"
    __table_args__ = (
        Index("ix_activity_events_contact_time", "contact_id", "occurred_at", "id"),
        Index("ix_activity_events_ref", "ref_type", "ref_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(255), default="")
    ref_type: Mapped[str | None] = mapped_column(String(40))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict | None] = mapped_column(JSON)

    def __str__(self) -> str:
        return self.subject or self.kind
