"""The record's "Recent & scored activity" tab: the feed, filtered and paged,
with the lead score and the points behind it."""

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, select

from crm.activity import kinds, services
from crm.auth.models import User
from crm.contacts import tabs
from crm.core.db import utcnow
from crm.extensions import db
from crm.scoring import services as scoring

PAGE_SIZE = 25

# Labels of the feed groups the domains use; an unknown group shows its key.
GROUP_LABELS = {
    "note": _l("Notes"),
    "task": _l("Tasks and appointments"),
    "email": _l("E-mail"),
    "tag": _l("Tags"),
    "form": _l("Web forms"),
    "order": _l("Orders"),
    "opportunity": _l("Opportunities"),
    "referral": _l("Referrals"),
    "web": _l("Web visits"),
}


def group_choices() -> list[tuple[str, str]]:
    """(group key, label) of every group some registered kind falls under."""
    return [(g, str(GROUP_LABELS.get(g, g))) for g in kinds.groups()]


def _page_number(raw) -> int:
    try:
        return max(1, min(int(raw), 1_000_000))
    except (TypeError, ValueError):
        return 1


def feed_page(contact_id: int, group: str | None, page: int):
    """One page of the contact's events (newest first) and whether more follow.

    Reads one row more than the page over the (contact_id, occurred_at, id)
    index instead of counting the whole history.
    """
    keys = [k.key for k in kinds.all_kinds() if k.group == group] if group else None
    query = services.feed_query(contact_id, keys or None)
    rows = list(
        db.session.scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE))
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def _actors(events) -> dict[int, str]:
    ids = {e.actor_id for e in events if e.actor_id}
    if not ids:
        return {}
    rows = db.session.execute(
        select(User.id, func.coalesce(func.nullif(User.name, ""), User.email)).where(
            User.id.in_(ids)
        )
    )
    return dict(rows.all())


def _describe(event):
    kind = kinds.get(event.kind)
    if kind is None or kind.describe is None:
        return None
    return kind.describe(event)


@tabs.renderer("activity")
def activity_tab(contact, tab_key):
    """The feed (filter by group, 25 a page) and the scored events with flames."""
    groups = group_choices()
    group = request.args.get("kind") or None
    if group not in {g for g, _label in groups}:
        group = None
    page = _page_number(request.args.get("page"))
    events, more = feed_page(contact.id, group, page)
    scored_page = _page_number(request.args.get("scored"))
    entries, more_entries = scoring.entries_page(contact.id, scored_page, PAGE_SIZE)

    return Markup(
        render_template(
            "activity/tab.html",
            contact=contact,
            events=events,
            actors=_actors(events),
            kind_of=kinds.get,
            describe=_describe,
            subject_of=kinds.subject_of,
            groups=groups,
            group=group,
            page=page,
            more=more,
            lead=scoring.request_lead(contact.id),
            entries=entries,
            scored_page=scored_page,
            more_entries=more_entries,
            now=utcnow(),
        )
    )
