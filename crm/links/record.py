"""The Linked contacts tab: links in both directions, link and unlink.

The contact picker is an ajax lookup served by ``ContactLinkView`` through
``SecuredAjaxLoader``, and the id posted back is loaded through the same
loader, so only contacts the user may see can be found or linked.
"""

import logging

from flask import (
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.contacts.models import Contact
from crm.core.admin import SecuredAjaxLoader, SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import fold
from crm.extensions import db
from crm.links import services
from crm.links.models import ContactLink, LinkType

log = logging.getLogger(__name__)

ENDPOINT = "contact_link"
EDITOR = "contact_links"
LOOKUP = "contact2"


class ContactLookup(SecuredAjaxLoader):
    """Finds contacts by name, e-mail, phone or company (the folded search text)."""

    def get_query(self):
        query = super().get_query()
        # The Linked contacts tab asks without the record itself (?exclude=ID):
        # a contact cannot be linked to itself, so it is not offered.
        if has_request_context() and (request.endpoint or "").endswith(".ajax_lookup"):
            leave_out = request.args.get("exclude", type=int)
            if leave_out is not None:
                query = query.filter(Contact.id != leave_out)
        return query

    def get_list(self, term, offset=0, limit=10):
        return super().get_list(fold(term or ""), offset, limit)

    def format(self, model):
        if model is None:
            return None
        text = model.display_name
        if model.primary_email and model.primary_email != text:
            text = f"{text} <{model.primary_email}>"
        return model.id, text


def contact_lookup(name: str = LOOKUP) -> ContactLookup:
    """The secured contact picker (used here and by the links editor)."""
    return ContactLookup(
        name,
        db,
        Contact,
        fields=("search_text",),
        order_by=Contact.family_name,
        page_size=10,
        minimum_input_length=1,
        placeholder=_l("Type a name or e-mail"),
    )


@tabs.renderer("links")
def render_links_tab(contact, tab_key):
    """The contact's links (both directions) and the form to add one."""
    rows = services.links_of(contact)
    others = [row.other(contact.id) for row in rows]
    visible = _visible_ids([other.id for other in others])
    can_edit = contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    link_types = db.session.scalars(select(LinkType).order_by(LinkType.name)).all()
    return Markup(
        render_template(
            "links/tab.html",
            contact=contact,
            rows=[
                (row, other, other.id in visible)
                for row, other in zip(rows, others, strict=True)
            ],
            can_edit=can_edit,
            link_types=link_types,
            lookup_url=url_for(
                f"{ENDPOINT}.ajax_lookup", name=LOOKUP, exclude=contact.id
            ),
            endpoint=ENDPOINT,
            edit_url=url_for(f"{EDITOR}.edit_view", id=contact.id),
        )
    )


def _visible_ids(ids) -> set[int]:
    if not ids:
        return set()
    query = select(Contact.id).where(
        Contact.id.in_(ids), policy.scope(Contact, current_user)
    )
    return set(db.session.scalars(query))


class ContactLinkView(SecuredModelView):
    """Links between contacts: the lookup and the link/unlink endpoints.

    Not in the menu; its list is read-only and scoped like every view.
    """

    column_list = ("contact1", "link_type", "contact2", "created_at")
    column_labels = {
        "contact1": _l("Contact"),
        "link_type": _l("Link type"),
        "contact2": _l("Linked contact"),
        "created_at": _l("Linked"),
    }
    form_columns = ("link_type", "contact2")
    allow_create = False
    allow_edit = False
    allow_delete = False
    can_view_details = False

    def __init__(self):
        self.form_ajax_refs = {LOOKUP: contact_lookup()}
        super().__init__(
            ContactLink,
            name=_l("Contact links"),
            endpoint=ENDPOINT,
            url="/admin/contact-links",
        )

    def is_visible(self):
        return False

    @expose("/<int:contact_id>/link", methods=("POST",))
    def link(self, contact_id):
        contact = self._contact(contact_id)
        link_type = _get_link_type(request.form.get("link_type_id"))
        if link_type is None:
            return self._back(contact, _("Choose a link type."))
        # The posted id goes through the same secured loader as the lookup.
        other = self._form_ajax_refs[LOOKUP].get_one(request.form.get(LOOKUP))
        if other is None:
            return self._back(contact, _("Choose a contact to link from the list."))
        if contacts.get_visible(other.id, current_user, policy.EDIT) is None:
            return self._back(contact, _("You may not change that contact."))

        try:
            services.link(contact, other, link_type, current_user)
        except ServiceError as exc:
            db.session.rollback()
            return self._back(contact, exc.message)
        db.session.commit()
        return self._back(
            contact,
            _("%(contact)s linked as %(type)s.", contact=other, type=link_type.name),
            "success",
        )

    @expose("/<int:contact_id>/unlink/<int:link_id>", methods=("POST",))
    def unlink(self, contact_id, link_id):
        contact = self._contact(contact_id)
        row = services.get_link(link_id, contact, current_user, policy.EDIT)
        if row is None:
            return self._back(contact, _("That link does not exist any more."))
        other = row.other(contact.id)
        services.unlink(row, current_user)
        db.session.commit()
        return self._back(
            contact, _("The link to %(contact)s was removed.", contact=other), "success"
        )

    def _contact(self, contact_id):
        contact = contacts.get_visible(contact_id, current_user, policy.EDIT)
        if contact is None:
            abort(404)
        return contact

    def _back(self, contact, message, category="error"):
        flash(message, category)
        return redirect(url_for("contact.details_view", id=contact.id, tab="links"))


def _get_link_type(link_type_id) -> LinkType | None:
    try:
        link_type_id = int(link_type_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        select(LinkType).where(
            LinkType.id == link_type_id, policy.scope(LinkType, current_user)
        )
    )
