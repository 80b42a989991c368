"""The Web behaviour tab of the contact record.

Visits of every browser identified as the contact (each a visitor), newest
first, with their pages, referrer, UTM parameters and time on site; and per
visitor its totals, including what pruning kept of older visits.
"""

from flask import render_template
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.access import policy
from crm.contacts import tabs
from crm.extensions import db
from crm.tracking import services
from crm.tracking.models import Visitor, WebSession

SESSIONS_SHOWN = 50


@tabs.renderer("web")
def render_web_tab(contact, tab_key):
    """Sessions with their pages, and a summary per visitor."""
    visitors = db.session.scalars(
        select(Visitor)
        .where(Visitor.contact_id == contact.id, policy.scope(Visitor, current_user))
        .order_by(Visitor.first_seen_at, Visitor.id)
    ).all()
    numbers = {visitor.id: index for index, visitor in enumerate(visitors, start=1)}
    sessions = db.session.scalars(
        select(WebSession)
        .where(
            WebSession.contact_id == contact.id,
            policy.scope(WebSession, current_user),
        )
        .options(selectinload(WebSession.views))
        .order_by(WebSession.started_at.desc(), WebSession.id.desc())
        .limit(SESSIONS_SHOWN)
    ).all()
    return Markup(
        render_template(
            "tracking/tab.html",
            contact=contact,
            visitors=[(v, numbers[v.id], services.summarise(v)) for v in visitors],
            sessions=sessions,
            numbers=numbers,
            utm_fields=services.UTM_FIELDS,
            shown=SESSIONS_SHOWN,
        )
    )
