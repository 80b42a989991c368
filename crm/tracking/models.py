"""Sites that carry the tracking code, and what their visitors did there.

A visitor is one browser on one site, known by the random id the script
keeps in a first-party cookie. Its views are grouped in sessions (30 minutes
without a view end one). When the visitor is identified, the visitor and its
sessions point at the contact; several browsers make several visitors on the
same contact.
"""

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


class TrackedSite(db.Model):
    """A web site registered for the tracking code, with the origins it serves."""

    __tablename__ = "tracked_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # One origin (scheme://host[:port]) per line, normalised.
    origins: Mapped[str] = mapped_column(Text, default="")
    site_key: Mapped[str] = mapped_column(String(40), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @property
    def origin_list(self) -> list[str]:
        return [line for line in (self.origins or "").split() if line]

    def __str__(self) -> str:
        return self.name or ""


class Visitor(db.Model):
    """One browser on one site; ``summary`` keeps the totals once details are pruned."""

    __tablename__ = "web_visitors"
    __table_args__ = (UniqueConstraint("site_id", "visitor_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None until the browser is seen on a site (identified before any view).
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracked_sites.id", ondelete="CASCADE")
    )
    visitor_key: Mapped[str] = mapped_column(String(64), index=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    first_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    identified_at = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    # {"sessions": n, "page_views": n, "first_seen": iso, "last_seen": iso,
    #  "top_pages": [[page, views], ...]} of the details already pruned.
    summary: Mapped[dict | None] = mapped_column(JSON)
    summarised_at = mapped_column(UTCDateTime)

    site = relationship("TrackedSite")

    def __str__(self) -> str:
        return self.visitor_key or ""


class WebSession(db.Model):
    """A visit: the views of one visitor with no 30-minute gap between them."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_visitor_seen", "visitor_id", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(
        ForeignKey("web_visitors.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    landing_page: Mapped[str] = mapped_column(String(2000), default="")
    referrer: Mapped[str] = mapped_column(String(2000), default="")
    utm_source: Mapped[str] = mapped_column(String(255), default="")
    utm_medium: Mapped[str] = mapped_column(String(255), default="")
    utm_campaign: Mapped[str] = mapped_column(String(255), default="")
    utm_term: Mapped[str] = mapped_column(String(255), default="")
    utm_content: Mapped[str] = mapped_column(String(255), default="")
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    # The "web_visit" history event, once the session belongs to a contact.
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("activity_events.id", ondelete="SET NULL")
    )

    visitor = relationship("Visitor")
    views = relationship(
        "PageView",
        order_by="PageView.viewed_at, PageView.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def seconds(self) -> int:
        return int((self.last_seen_at - self.started_at).total_seconds())

    def __str__(self) -> str:
        return self.landing_page or ""


class PageView(db.Model):
    """One page shown to a visitor; ``seconds`` arrives when the page is left."""

    __tablename__ = "page_views"
    __table_args__ = (
        UniqueConstraint("visitor_id", "view_key"),
        Index("ix_page_views_session_time", "session_id", "viewed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("web_sessions.id", ondelete="CASCADE")
    )
    visitor_id: Mapped[int] = mapped_column(
        ForeignKey("web_visitors.id", ondelete="CASCADE")
    )
    # A random id the script gives each view, so its "left" beacon finds it.
    view_key: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2000))
    # The URL without query or fragment: what pages are counted and scored by.
    page: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(300), default="")
    referrer: Mapped[str] = mapped_column(String(2000), default="")
    viewed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    seconds: Mapped[int | None] = mapped_column(Integer)

    def __str__(self) -> str:
        return self.title or self.url or ""
