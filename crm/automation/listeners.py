"""Goals hear what happens to contacts: tags applied, links clicked, forms, orders.

Importing this module connects the listeners once. Tag goals hear the tags
domain's own signal (the place a tag is applied); the other kinds hear the
shared activity events.
"""

import logging

from crm.activity import services as activity
from crm.automation import campaigns
from crm.extensions import db
from crm.tags import services as tags

logger = logging.getLogger(__name__)

PURCHASE_KINDS = ("order_created", "payment")


def _on_tag_applied(contact, tag=None, actor=None, **extra):
    if tag is not None:
        campaigns.tag_applied(contact, tag)


def _on_event(event):
    if event.kind == "email_clicked":
        handler = _link_clicked
    elif event.kind == "form_submitted":
        handler = _form_submitted
    elif event.kind in PURCHASE_KINDS:
        handler = _purchase
    else:
        return
    from crm.contacts.models import Contact

    contact = db.session.get(Contact, event.contact_id)
    if contact is not None:
        handler(contact, event)


def _link_clicked(contact, event):
    url = (event.data or {}).get("url") or event.target or ""
    campaigns.link_clicked(contact, url, event.occurred_at)


def _form_submitted(contact, event):
    form = event.ref_id
    campaigns.achieve_matching(
        "form_submitted",
        contact,
        lambda goal: (goal.config or {}).get("form_id") in (None, form),
        "form_submitted",
        event.occurred_at,
    )


def _purchase(contact, event):
    campaigns.achieve_matching(
        "purchase", contact, lambda goal: True, event.kind, event.occurred_at
    )


tags.tag_applied.connect(_on_tag_applied, weak=False)
activity.listen(_on_event)
