"""The editors behind the record's top-row tabs: General, Address, Additional info,
Person notes.

Each is a Flask-Admin model view over Contact that is not in the menu. Its
form holds one tab's fields and inline rows plus the record version the form
was opened at; a save from a form opened before someone else's save is
refused (failure kind E1). Every save goes through ``services.prepare``.
"""

import logging

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import expose
from flask_admin.babel import gettext as admin_gettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from crm.access import policy
from crm.auth.models import User
from crm.contacts import forms, services, tabs
from crm.contacts.models import Company, Contact
from crm.core.admin import STALE_MESSAGE, SecuredAjaxLoader, SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import clean
from crm.extensions import db

log = logging.getLogger(__name__)

LABELS = {
    "prefix": _l("Title"),
    "given_name": _l("First name"),
    "middle_name": _l("Middle name"),
    "family_name": _l("Last name"),
    "suffix": _l("Suffix"),
    "preferred_name": _l("Preferred name"),
    "company_name": _l("Company"),
    "job_title": _l("Job title"),
    "website": _l("Website"),
    "owner": _l("Owner"),
    "contact_type": _l("Contact type"),
    "lead_source": _l("Lead source"),
    "time_zone": _l("Time zone"),
    "preferred_locale": _l("Preferred locale"),
    "birthday": _l("Birthday"),
    "anniversary": _l("Anniversary"),
    "spouse_name": _l("Spouse name"),
    "assistant_name": _l("Assistant name"),
    "assistant_phone": _l("Assistant phone"),
    "referral_code": _l("Referral code"),
    "billing_information": _l("Billing information"),
    "person_notes": _l("Person notes"),
}


def as_id(value) -> int | None:
    """A posted or query-string id as an integer (None when it is not one).

    Comparing an integer key with a string makes PostgreSQL refuse the query
    (SQLAlchemy 2.1 binds the string as VARCHAR), so ids are cast first.
    """
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class UserLoader(SecuredAjaxLoader):
    """The owner picker: visible users only, looked up by an integer id."""

    def get_one(self, pk):
        return super().get_one(as_id(pk))


def record_url(contact_id, tab_key: str) -> str:
    return url_for("contact.details_view", id=contact_id, tab=tab_key)


class ContactTabView(SecuredModelView):
    """One tab's editor; subclasses name the tab, its fields and inline rows."""

    tab_key = ""
    edit_template = "contacts/edit.html"
    create_template = "contacts/create.html"
    allow_create = False
    allow_delete = False
    can_view_details = False
    column_labels = LABELS
    form_extra_fields = {"version": forms.VersionField()}
    #: (legend, field names) in the order the form shows them.
    form_layout: tuple = ()

    def __init__(self, endpoint: str, name, **kwargs):
        super().__init__(Contact, endpoint=endpoint, name=name, **kwargs)

    def is_visible(self):
        return False

    def get_one(self, id):
        contact_id = as_id(id)
        return None if contact_id is None else super().get_one(contact_id)

    @expose("/")
    def index_view(self):
        return redirect(url_for("contact.index_view"))

    @expose("/details/")
    def details_view(self):
        contact = services.get_visible(request.args.get("id"), current_user)
        if contact is None:
            abort(404)
        return redirect(record_url(contact.id, self.tab_key))

    def render(self, template, **kwargs):
        if template in (self.edit_template, self.create_template):
            contact = kwargs.get("model")
            kwargs.update(
                contact=contact,
                top_tabs=tabs.top_row(),
                bottom_tabs=list(tabs.BOTTOM_ROW),
                active=self.tab_key,
                tag_links=contact.tag_links if contact is not None else [],
                form_layout=self.form_layout,
                cancel_url=(
                    record_url(contact.id, self.tab_key)
                    if contact is not None
                    else url_for("contact.index_view")
                ),
            )
        return super().render(template, **kwargs)

    # Saving. Nothing may reach the database before prepare() has renumbered
    # the slots and validated the rows, so the form is applied without
    # autoflush; the commit (or a service's explicit flush) writes it.
    def create_model(self, form):
        with db.session.no_autoflush:
            return super().create_model(form)

    def update_model(self, form, model):
        with db.session.no_autoflush:
            return super().update_model(form, model)

    def on_model_change(self, form, model, is_created):
        if not is_created:
            check_version(form.version.data, model)
        self.apply(form, model, is_created)
        services.prepare(model, current_user, is_new=is_created)
        self.after_prepare(form, model, is_created)

    def apply(self, form, model, is_created) -> None:
        """Tab-specific changes the form does not populate itself (no writes)."""

    def after_prepare(self, form, model, is_created) -> None:
        """Tab-specific writes once the contact has been validated."""

    def after_model_change(self, form, model, is_created):
        log.info(
            "contact %s %s (%s tab) by user %s",
            model.id,
            "created" if is_created else "saved",
            self.tab_key,
            current_user.id,
        )

    def get_save_return_url(self, model, is_created=False):
        message = _("Contact created.") if is_created else _("Contact saved.")
        replace_stock_flash(message)
        return record_url(model.id, self.tab_key)


def check_version(posted, contact) -> None:
    """Refuse a save from a form opened at an older version of the record."""
    if str(posted or "").strip() != str(contact.version):
        log.info(
            "stale save refused: contact %s is at version %s, form had %r",
            contact.id,
            contact.version,
            posted,
        )
        raise ServiceError(_(STALE_MESSAGE))


def replace_stock_flash(message: str) -> None:
    """Show our sentence instead of Flask-Admin's generic success message."""
    stock = {
        admin_gettext("Record was successfully saved."),
        admin_gettext("Record was successfully created."),
    }
    flashes = session.get("_flashes", [])
    session["_flashes"] = [item for item in flashes if item[1] not in stock]
    flash(message, "success")


class GeneralTabView(ContactTabView):
    """Names, company, e-mails, phones, faxes, billing address, owner and type.

    Its create form is also the way to add a contact.
    """

    tab_key = "general"
    allow_create = True
    form_columns = (
        "version",
        "prefix",
        "given_name",
        "middle_name",
        "family_name",
        "suffix",
        "preferred_name",
        "company_name",
        "job_title",
        "website",
        "owner",
        "contact_type",
        "lead_source",
        "time_zone",
        "preferred_locale",
    )
    form_extra_fields = {
        "version": forms.VersionField(),
        "company_name": forms.CompanyNameField(_l("Company")),
    }
    form_overrides = {
        "prefix": forms.PickListField,
        "suffix": forms.PickListField,
        "contact_type": forms.PickListField,
        "time_zone": forms.PickListField,
        "preferred_locale": forms.PickListField,
    }
    form_args = {
        "prefix": {"options": forms.config_options("TITLE_TYPES")},
        "suffix": {"options": forms.config_options("SUFFIX_TYPES")},
        "contact_type": {"options": forms.config_options("CONTACT_TYPES")},
        "time_zone": {"options": forms.fixed_options(forms.time_zones)},
        "preferred_locale": {"options": forms.fixed_options(forms.LOCALES)},
        "emails": {"min_entries": 1},
        "phones": {"min_entries": 1},
        "billing_addresses": {"min_entries": 1},
    }
    form_ajax_refs = {
        "owner": UserLoader(
            "owner",
            db,
            User,
            fields=(User.email, User.name),
            page_size=10,
            placeholder=_l("Choose the owner"),
        )
    }
    inline_models = (
        forms.email_rows(),
        forms.phone_rows(),
        forms.fax_rows(),
        forms.billing_address_rows(),
    )
    form_layout = (
        (
            _l("Name"),
            (
                "prefix",
                "given_name",
                "middle_name",
                "family_name",
                "suffix",
                "preferred_name",
            ),
        ),
        (_l("Work"), ("company_name", "job_title", "website")),
        (_l("E-mail addresses"), ("emails",)),
        (_l("Phones"), ("phones",)),
        (_l("Faxes"), ("faxes",)),
        (_l("Billing address"), ("billing_addresses",)),
        (
            _l("About this contact"),
            ("owner", "contact_type", "lead_source", "time_zone", "preferred_locale"),
        ),
    )

    def __init__(self, **kwargs):
        super().__init__("contact_general", _l("General"), **kwargs)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and request.method == "GET":
            form.company_name.data = obj.company.name if obj.company else ""
        return form

    def apply(self, form, model, is_created):
        if is_created:
            services.require_contact_point(model)
            # An empty owner picker set the relationship to None, which would
            # win over the owner_id that prepare() defaults to the creator.
            if model.owner is None:
                model.owner = current_user._get_current_object()

    def after_prepare(self, form, model, is_created):
        name = clean(form.company_name.data)
        if (model.company.name if model.company else None) == name:
            return
        model.company = services.get_or_create_company(name) if name else None
        model.search_text = services.build_search_text(model)

    @expose("/companies/")
    def companies(self):
        """Company names for the company field's suggestions (JSON)."""
        term = clean(request.args.get("q")) or ""
        query = select(Company.name).where(policy.scope(Company, current_user))
        if term:
            query = query.where(Company.name.icontains(term, autoescape=True))
        cap = current_app.config["LOOKUP_PAGE_CAP"]
        names = db.session.scalars(query.order_by(Company.name).limit(cap))
        return {"names": list(names)}


class AddressTabView(ContactTabView):
    """The billing address and up to two more (shipping, other)."""

    tab_key = "address"
    form_columns = ("version",)
    inline_models = (forms.billing_address_rows(), forms.extra_address_rows())
    form_layout = (
        (_l("Billing address"), ("billing_addresses",)),
        (_l("Shipping and other addresses"), ("extra_addresses",)),
    )

    def __init__(self, **kwargs):
        super().__init__("contact_address", _l("Address"), **kwargs)


class AdditionalTabView(ContactTabView):
    """Dates, family and assistant, referral code and social accounts."""

    tab_key = "additional"
    form_columns = (
        "version",
        "birthday",
        "anniversary",
        "spouse_name",
        "assistant_name",
        "assistant_phone",
        "referral_code",
        "billing_information",
    )
    inline_models = (forms.social_rows(),)
    form_layout = (
        (_l("Dates"), ("birthday", "anniversary")),
        (
            _l("People"),
            ("spouse_name", "assistant_name", "assistant_phone"),
        ),
        (_l("Other details"), ("referral_code", "billing_information")),
        (_l("Social accounts"), ("social_accounts",)),
    )

    def __init__(self, **kwargs):
        super().__init__("contact_additional", _l("Additional info"), **kwargs)


class NotesTabView(ContactTabView):
    """The one free-form, undated text on the contact."""

    tab_key = "notes"
    form_columns = ("version", "person_notes")
    form_widget_args = {"person_notes": {"rows": 14}}
    form_layout = ((_l("Person notes"), ("person_notes",)),)

    def __init__(self, **kwargs):
        super().__init__("contact_notes", _l("Person notes"), **kwargs)


def views():
    yield GeneralTabView()
    yield AddressTabView()
    yield AdditionalTabView()
    yield NotesTabView()
