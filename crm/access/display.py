"""How a contact appears inside another record: its name, or a placeholder.

Related panels (linked contacts, a note's or task's contact, an order's
customer...) must never show a contact the viewer may not see. They render
it through ``contact_label`` (one contact) or ``contact_labels`` (a page of
them, in one query), which answer a "Restricted record" placeholder without
any field value when the contact is hidden.
"""

from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from crm.access import policy
from crm.extensions import db

RESTRICTED = Markup('<span class="crm-restricted">{}</span>')
VISIBLE = Markup('<a class="crm-contact-link" href="{}">{}</a>')


def _contact_model():
    from crm.contacts.models import Contact

    return Contact


def _contact_id(contact_or_id):
    raw = getattr(contact_or_id, "id", contact_or_id)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def restricted_label() -> Markup:
    """The placeholder shown instead of a contact the viewer may not see."""
    return RESTRICTED.format(_("Restricted record"))


def contact_labels(contacts_or_ids, user) -> dict[int, Markup]:
    """Labels of many contacts by id, with one visibility query."""
    Contact = _contact_model()
    ids = {i for i in (_contact_id(c) for c in contacts_or_ids) if i is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Contact).where(Contact.id.in_(ids), policy.scope(Contact, user))
    ).scalars()
    labels = {i: restricted_label() for i in ids}
    for contact in rows:
        url = url_for("contact.details_view", id=contact.id)
        labels[contact.id] = VISIBLE.format(url, contact.display_name)
    return labels


def contact_label(contact_or_id, user) -> Markup:
    """A link to the contact when ``user`` may see it, else the placeholder."""
    contact_id = _contact_id(contact_or_id)
    if contact_id is None:
        return restricted_label()
    return contact_labels([contact_id], user)[contact_id]


def is_visible(contact_or_id, user) -> bool:
    """Whether ``user`` may see the contact (for panels that show more than a name)."""
    contact_id = _contact_id(contact_or_id)
    if contact_id is None:
        return False
    return contact_id in visible_subset([contact_id], user)


def visible_subset(ids, user) -> set[int]:
    """The subset of ``ids`` whose contacts ``user`` may see."""
    Contact = _contact_model()
    rows = db.session.execute(
        select(Contact.id).where(Contact.id.in_(list(ids)), policy.scope(Contact, user))
    )
    return {row[0] for row in rows}
