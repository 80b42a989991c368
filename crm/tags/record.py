"""The Tags tab of the contact record: applied tags, apply, remove, create."""

import logging

from flask import abort, flash, redirect, render_template, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.core.admin import SecuredView
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.tags import services
from crm.tags.forms import ApplyTagForm, NewTagForm

log = logging.getLogger(__name__)

# The quick forms of the tab; "contact_tags" is the tab's inline editor.
ENDPOINT = "contact_tag_forms"
EDITOR = "contact_tags"


@tabs.renderer("tags")
def render_tags_tab(contact, tab_key):
    """The applied tags with when and by whom, and the forms to change them."""
    links = sorted(contact.tag_links, key=lambda link: link.applied_at)
    can_edit = contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    return Markup(
        render_template(
            "tags/tab.html",
            contact=contact,
            links=[(link, services.applied_by_text(link)) for link in links],
            can_edit=can_edit,
            apply_form=ApplyTagForm().fill(link.tag_id for link in links),
            new_form=NewTagForm().fill(),
            endpoint=ENDPOINT,
            edit_url=url_for(f"{EDITOR}.edit_view", id=contact.id),
        )
    )


class ContactTagsView(SecuredView):
    """The POST endpoints behind the Tags tab; not in the menu."""

    def __init__(self):
        super().__init__(
            name=_("Contact tags"), endpoint=ENDPOINT, url="/admin/tags-of"
        )

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))

    @expose("/<int:contact_id>/apply", methods=("POST",))
    def apply(self, contact_id):
        contact = self._contact(contact_id)
        form = ApplyTagForm()
        if not form.validate():
            return self._back(contact, _first_error(form))
        tag = services.get_tag(form.tag_id.data, current_user)
        if tag is None:
            return self._back(contact, _("That tag does not exist."))

        services.apply_tag(contact, tag, current_user)
        db.session.commit()
        return self._back(contact, _("Tag %(name)s applied.", name=tag.name), "success")

    @expose("/<int:contact_id>/remove/<int:tag_id>", methods=("POST",))
    def remove(self, contact_id, tag_id):
        contact = self._contact(contact_id)
        tag = services.get_tag(tag_id, current_user)
        if tag is None or not services.remove_tag(contact, tag, current_user):
            return self._back(contact, _("That tag is not applied to this contact."))
        db.session.commit()
        return self._back(contact, _("Tag %(name)s removed.", name=tag.name), "success")

    @expose("/<int:contact_id>/new", methods=("POST",))
    def create(self, contact_id):
        contact = self._contact(contact_id)
        form = NewTagForm()
        if not form.validate():
            return self._back(contact, _first_error(form))

        try:
            category_name = self._category_name(form)
            existed = services.find_tag(form.name.data) is not None
            tag = services.get_or_create_tag(form.name.data, category_name)
            services.apply_tag(contact, tag, current_user)
        except ServiceError as exc:
            db.session.rollback()
            return self._back(contact, exc.message)
        db.session.commit()

        if existed:
            message = _(
                "The tag %(name)s already existed and is applied.", name=tag.name
            )
        else:
            message = _("Tag %(name)s created and applied.", name=tag.name)
        return self._back(contact, message, "success")

    def _category_name(self, form) -> str | None:
        new_name = (form.new_category.data or "").strip()
        chosen = form.category_id.data
        if new_name and chosen:
            raise ServiceError(
                _("Choose an existing category or type a new one, not both.")
            )
        if new_name:
            return new_name
        if chosen:
            category = services.get_category(chosen, current_user)
            if category is None:
                raise ServiceError(_("That tag category does not exist."))
            return category.name
        return None

    def _contact(self, contact_id):
        contact = contacts.get_visible(contact_id, current_user, policy.EDIT)
        if contact is None:
            abort(404)
        return contact

    def _back(self, contact, message, category="error"):
        flash(message, category)
        return redirect(url_for("contact.details_view", id=contact.id, tab="tags"))


def _first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("The form could not be read; nothing was changed.")
