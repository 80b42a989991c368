"""Custom tabs on the contact record: one tab per defined tab, and its editor."""

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.contacts.tab_views import contact_gone
from crm.core.admin import STALE_MESSAGE, SecuredView
from crm.core.errors import ServiceError
from crm.customfields import forms, services
from crm.customfields.models import CustomHeader, CustomTab
from crm.extensions import db

log = logging.getLogger(__name__)

ENDPOINT = "contact_custom"
PREFIX = "custom-"


def tab_key(tab: CustomTab) -> str:
    return f"{PREFIX}{tab.id}"


@tabs.dynamic_tabs
def custom_tabs() -> list[tabs.Tab]:
    """One record tab per custom tab defined for contacts, in their order."""
    query = (
        select(CustomTab)
        .where(CustomTab.record_type == "contact")
        .order_by(CustomTab.position, CustomTab.name)
    )
    return [tabs.Tab(tab_key(t), t.name, "top") for t in db.session.scalars(query)]


def _load_tab(tab_id) -> CustomTab | None:
    try:
        tab_id = int(tab_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        select(CustomTab)
        .where(
            CustomTab.id == tab_id,
            CustomTab.record_type == "contact",
            policy.scope(CustomTab, current_user),
        )
        .options(selectinload(CustomTab.headers).selectinload(CustomHeader.fields))
    )


def _fields(tab: CustomTab):
    return [field for header in tab.headers for field in header.fields]


@tabs.renderer(PREFIX)
def render_custom_tab(contact, key):
    """The tab's headers and fields with the contact's values, and an Edit button."""
    tab = _load_tab(key.removeprefix(PREFIX))
    if tab is None:
        return None
    stored = services.values_of(contact)
    sections = [
        (
            header,
            [(f, services.display_value(f, stored.get(f.id))) for f in header.fields],
        )
        for header in tab.headers
    ]
    can_edit = contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    return Markup(
        render_template(
            "customfields/tab.html",
            contact=contact,
            tab=tab,
            sections=sections,
            has_fields=bool(_fields(tab)),
            can_edit=can_edit,
            endpoint=ENDPOINT,
        )
    )


class CustomValuesView(SecuredView):
    """Edits the values of one custom tab of one contact; not in the menu."""

    def __init__(self):
        super().__init__(
            name=_l("Custom fields"), endpoint=ENDPOINT, url="/admin/custom-values"
        )

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))

    @expose("/<int:contact_id>/<int:tab_id>/", methods=("GET", "POST"))
    def edit(self, contact_id, tab_id):
        contact = contacts.get_visible(contact_id, current_user, policy.EDIT)
        if contact is None:
            return contact_gone()
        tab = _load_tab(tab_id)
        if tab is None:
            abort(404)
        fields = _fields(tab)
        stored = services.values_of(contact)

        if request.method == "GET":
            form = forms.build_form(fields, stored)
            return self._render(contact, tab, form, {}, str(contact.version))

        # A form shown again keeps the version it was opened at, so that a
        # refused form stays refused until it is reloaded.
        opened_at = request.form.get("version", "")
        form = forms.build_form(fields, stored, request.form)
        if str(contact.version) != opened_at:
            flash(str(STALE_MESSAGE), "error")
            return self._render(contact, tab, form, {}, opened_at, status=409)

        errors = _check(fields, request.form, stored)
        if errors:
            flash(_("Nothing was saved: correct the fields marked below."), "error")
            return self._render(contact, tab, form, errors, opened_at, status=400)

        raw = {field: forms.raw_input(field, request.form) for field in fields}
        try:
            changed = services.set_values(contact, raw, current_user)
            db.session.commit()
        except StaleDataError:
            db.session.rollback()
            flash(str(STALE_MESSAGE), "error")
            return redirect(self._record_url(contact, tab))

        if changed:
            flash(_("%(tab)s saved.", tab=tab.name), "success")
        else:
            flash(_("Nothing changed."), "info")
        return redirect(self._record_url(contact, tab))

    def _render(self, contact, tab, form, errors, version, status=200):
        fields = _fields(tab)
        sections = [
            (header, [(f, form[forms.form_key(f)]) for f in header.fields])
            for header in tab.headers
        ]
        page = self.render(
            "customfields/edit.html",
            contact=contact,
            tab=tab,
            sections=sections,
            errors=errors,
            version=version,
            has_fields=bool(fields),
            back_url=self._record_url(contact, tab),
            # The record's heading and tabs, as on the other tab editors.
            top_tabs=tabs.top_row(),
            active=tab_key(tab),
            tag_links=contact.tag_links,
        )
        return page, status

    @staticmethod
    def _record_url(contact, tab):
        return url_for("contact.details_view", id=contact.id, tab=tab_key(tab))


def _check(fields, formdata, stored) -> dict[int, str]:
    """The message of every invalid field, by field id (empty when all are valid)."""
    errors = {}
    for field in fields:
        try:
            services.coerce_value(
                field, forms.raw_input(field, formdata), stored=stored.get(field.id)
            )
        except ServiceError as exc:
            errors[field.id] = exc.message
    return errors
