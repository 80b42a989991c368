"""The editors behind the record's top-row tabs: General, Address, Additional info,
Person notes, Tags and Linked contacts.

Each is a Flask-Admin model view over Contact that is not in the menu. Its
form holds one tab's fields and inline rows plus the record version the form
was opened at; a save from a form opened before someone else's save is
refused (failure kind E1). Every save goes through ``services.prepare``.

The Tags and Linked contacts editors list the applied tags and the links as
inline rows, but their rows are not written by the form: the view compares
the rows kept with what the contact has and applies the difference through
the tag and link services, so their rules and signals hold.
"""

import logging

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import expose
from flask_admin.babel import gettext as admin_gettext
from flask_admin.contrib.sqla.fields import InlineModelFormList, QuerySelectField
from flask_admin.form import BaseForm, RenderTemplateWidget
from flask_admin.helpers import get_url
from flask_admin.model.fields import AjaxSelectField
from flask_admin.model.widgets import AjaxSelect2Widget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, or_, select
from wtforms import Field, HiddenField
from wtforms.fields.choices import Choice
from wtforms.utils import unset_value
from wtforms.validators import ValidationError

from crm.access import policy
from crm.auth.models import User
from crm.contacts import forms, picklists, services, tabs
from crm.contacts.models import Company, Contact
from crm.core.admin import STALE_MESSAGE, SecuredAjaxLoader, SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import as_id, clean
from crm.extensions import db
from crm.links import services as link_services
from crm.links.models import ContactLink, LinkType
from crm.links.record import contact_lookup
from crm.tags import services as tag_services
from crm.tags.models import ContactTag, Tag

log = logging.getLogger(__name__)

LABELS = {
    # A person's title (Mr., Dr.), not the title of a task or an order.
    "prefix": lazy_pgettext("person", "Title"),
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


class UserLoader(SecuredAjaxLoader):
    """The owner picker: active users by name, then e-mail; ids read as integers.

    A deactivated user is never offered, but an id posted back still finds
    one, so a form that keeps its deactivated owner saves and a form that
    picks one is refused by the owner rule (``services.check_owner``).
    """

    def get_one(self, pk):
        return super().get_one(as_id(pk))

    def get_list(self, term, offset=0, limit=10):
        cap = current_app.config["LOOKUP_PAGE_CAP"]
        limit = max(1, min(limit or cap, cap))
        query = self.get_query().filter(User.active.is_(True))
        if term:
            query = query.filter(
                or_(
                    User.name.icontains(term, autoescape=True),
                    User.email.icontains(term, autoescape=True),
                )
            )
        query = query.order_by(func.lower(User.name), func.lower(User.email), User.id)
        return query.offset(max(offset or 0, 0)).limit(limit).all()


OWNER_LOADER = UserLoader(
    "owner",
    db,
    User,
    fields=(User.email, User.name),
    page_size=10,
    placeholder=_l("Choose the owner"),
)


class OwnerField(AjaxSelectField):
    """The owner picker's field: an id that names no user is refused, not read
    as "no owner" (Flask-Admin's field reads both as an empty choice)."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(OWNER_LOADER, label, validators, **kwargs)

    def pre_validate(self, form):
        posted = (self.raw_data or [""])[0].strip()
        if posted and posted != "__None" and self.data is None:
            raise ValidationError(
                _(
                    "Owner: choose a user from the list (there is no user %(id)s).",
                    id=posted[:20],
                )
            )
        super().pre_validate(form)


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

    read_only_message = _l("You may view this contact but not change it.")

    def is_visible(self):
        return False

    def get_one(self, id):
        contact_id = as_id(id)
        return None if contact_id is None else super().get_one(contact_id)

    def read_only_url(self, model) -> str:
        return record_url(model.id, self.tab_key)

    @expose("/")
    def index_view(self):
        return redirect(url_for("contact.index_view"))

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        # Flask-Admin would say "Record does not exist.": say what happened.
        if self.get_one(request.args.get("id")) is None:
            return contact_gone()
        return super().edit_view()

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
        form.saved_warnings = services.prepare(model, current_user, is_new=is_created)
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
        for warning in getattr(form, "saved_warnings", ()):
            flash(warning, "warning")

    def get_save_return_url(self, model, is_created=False):
        message = _("Contact created.") if is_created else _("Contact saved.")
        replace_stock_flash(message)
        return record_url(model.id, self.tab_key)


CONTACT_GONE = _l(
    "That contact does not exist any more: it was deleted, or it is no longer "
    "shared with you."
)
CONTACT_GONE_UNSAVED = _l(
    "That contact does not exist any more: it was deleted, or it is no longer "
    "shared with you. Nothing was saved."
)


def contact_gone():
    """Back to the contact list, saying the contact an editor names is gone."""
    unsaved = request.method == "POST"
    flash(str(CONTACT_GONE_UNSAVED if unsaved else CONTACT_GONE), "error")
    return redirect(url_for("contact.index_view"))


def check_version(posted, contact) -> None:
    """Refuse a save from a form opened at an older version of the record."""
    if str(posted or "").strip() != str(contact.version):
        log.info(
            "stale save refused: contact %s is at version %s, form had %r",
            contact.id,
            contact.version,
            posted,
        )
        raise ServiceError(str(STALE_MESSAGE))


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
        "owner": OwnerField,
        "contact_type": forms.PickListField,
        "time_zone": forms.PickListField,
        "preferred_locale": forms.PickListField,
    }
    form_args = {
        "prefix": {"options": picklists.TITLES},
        "suffix": {"options": picklists.SUFFIXES},
        "contact_type": {"options": picklists.CONTACT_TYPES},
        "time_zone": {"options": forms.fixed_options(forms.time_zones)},
        "preferred_locale": {"options": forms.locale_options},
        "emails": {"min_entries": 1},
        "phones": {"min_entries": 1},
        "billing_addresses": {"min_entries": 1},
    }
    form_ajax_refs = {"owner": OWNER_LOADER}
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


# Tags and Linked contacts: rows that stand for a set of choices.


class PickedField(AjaxSelectField):
    """An ajax pick through a secured loader, with our sentence for a bad id.

    An id the user may not see reads as no choice at all, exactly like an
    id that does not exist.
    """

    def __init__(self, loader, label=None, message=None, **kwargs):
        self.message = message
        super().__init__(loader, label, **kwargs)

    def pre_validate(self, form):
        if self.data is None:
            raise ValidationError(str(self.message))


class OtherContactWidget(AjaxSelect2Widget):
    """The links editor's contact picker, without the contact being edited."""

    def __call__(self, field, **kwargs):
        contact_id = as_id(request.args.get("id"))
        if contact_id is not None:
            kwargs.setdefault(
                "data-url",
                get_url(".ajax_lookup", name=field.loader.name, exclude=contact_id),
            )
        return super().__call__(field, **kwargs)


class LinkTypeField(QuerySelectField):
    """The link types, by name, with how many links each allows."""

    def __init__(self, label=None, **kwargs):
        super().__init__(
            label,
            query_factory=lambda: db.session.query(LinkType).order_by(LinkType.name),
            get_label=lambda row: _(
                "%(name)s (up to %(n)s)", name=row.name, n=row.max_links
            ),
            **kwargs,
        )

    def iter_choices(self):
        # WTForms 3.2+ wants Choice objects; the stock field yields tuples.
        for pk, row in self._get_object_list():
            yield Choice(pk, self.get_label(row), row == self.data, {})

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(_("Choose a link type from the list.")) from None


def shown_text(field, **kwargs):
    """Render a read-only value as plain text (it is never posted)."""
    return Markup('<span class="form-control-plaintext py-0" id="{}">{}</span>').format(
        field.id, field.shown()
    )


class ShownField(forms.FormOnlyMixin, Field):
    """A value shown in a row for reading only; the form never writes it."""

    widget = staticmethod(shown_text)

    def process_formdata(self, valuelist):
        pass

    def shown(self) -> str:
        if self.data is None:
            return "—"
        return self.data.strftime("%Y-%m-%d %H:%M UTC")


class TagRowForm(BaseForm):
    """One applied tag; ``id`` marks a row that exists (the tag's id)."""

    def __init__(self, formdata=None, obj=None, prefix="", **kwargs):
        super().__init__(formdata, obj, prefix, **kwargs)
        if obj is not None and formdata is None:
            self.id.data = obj.tag_id


class ChoiceRowList(InlineModelFormList):
    """Inline rows whose kept entries the view reads; ``populate_obj`` writes none."""

    widget = RenderTemplateWidget("contacts/inline_field_list.html")

    def process(self, formdata, data=unset_value, extra_filters=None):
        if data is not unset_value and data is not None:
            data = self.inline_view.editable(data)
        return super().process(formdata, data, extra_filters)

    def kept(self):
        """The entries neither removed nor left blank."""
        key = self.inline_view.key_field
        return [
            entry
            for entry in self.entries
            if not self.should_delete(entry)
            and (entry.form[key].raw_data or [""])[0].strip()
        ]

    def validate(self, form, extra_validators=()):
        self.errors = []
        for entry in self.kept():
            if not entry.validate(form):
                self.errors.append(entry.errors)
        return not self.errors

    def populate_obj(self, obj, name):
        pass


class ChoiceRowsConverter(forms.ContactRowsConverter):
    inline_field_list_type = ChoiceRowList


class ChoiceRows(forms.ContactRows):
    """Rows of a set the view applies through a service (tags, links)."""

    #: The field that makes a row non-blank.
    key_field = ""
    #: No limit on the number of rows in the form; the services hold the limits.
    slots = 0

    def __init__(self, model, relationship, label, **kwargs):
        kwargs.setdefault("inline_converter", ChoiceRowsConverter)
        super().__init__(model, relationship, label, **kwargs)

    def editable(self, rows):
        """The existing rows the form shows as editable rows."""
        return list(rows)


class TagLoader(SecuredAjaxLoader):
    """The tag picker: tags by name, shown with their category."""

    def format(self, model):
        return None if model is None else (model.id, model.label)


class TagRows(ChoiceRows):
    key_field = "tag"

    def __init__(self):
        loader = TagLoader(
            "tag",
            db,
            Tag,
            fields=(Tag.name,),
            order_by=Tag.name,
            page_size=10,
            minimum_input_length=0,
            placeholder=_l("Type a tag name"),
        )
        super().__init__(
            ContactTag, "tag_links", _l("Tag"), form_ajax_refs={"tag": loader}
        )

    def get_form(self):
        # The loader is the view's registered one, known only at this point.
        fields = {
            "id": HiddenField(),
            "tag": PickedField(
                self._form_ajax_refs["tag"],
                _l("Tag"),
                message=_l("Choose a tag from the list."),
            ),
            "applied_at": ShownField(_l("Applied")),
        }
        return type("TagRow", (TagRowForm,), fields)


class LinkRows(ChoiceRows):
    key_field = "contact2"

    def __init__(self):
        super().__init__(
            ContactLink,
            "links_out",
            _l("Link"),
            form_ajax_refs={"contact2": contact_lookup()},
        )

    def get_form(self):
        fields = {
            "id": HiddenField(),
            "link_type": LinkTypeField(_l("Link type")),
            "contact2": PickedField(
                self._form_ajax_refs["contact2"],
                _l("Contact"),
                message=_l("Choose a contact to link from the list."),
                widget=OtherContactWidget(),
            ),
        }
        return type("LinkRow", (BaseForm,), fields)

    def editable(self, rows):
        return editable_links(rows)


def editable_links(rows) -> list[ContactLink]:
    """The links (from a contact) to contacts the current user may change.

    The others stay out of the editable rows and are listed read-only, so
    the form can neither show nor drop them.
    """
    rows = list(rows)
    allowed = contact_ids([row.contact2_id for row in rows], policy.EDIT)
    kept = [row for row in rows if row.contact2_id in allowed]
    return sorted(kept, key=lambda row: (row.link_type.name, row.created_at, row.id))


def contact_ids(ids, action=policy.VIEW) -> set[int]:
    """Those of ``ids`` whose contact the current user may act on."""
    if not ids:
        return set()
    query = select(Contact.id).where(
        Contact.id.in_(ids), policy.scope(Contact, current_user, action)
    )
    return set(db.session.scalars(query))


class OtherLinksField(forms.FormOnlyMixin, Field):
    """The links the form does not edit, listed for reading (set by the view)."""

    widget = RenderTemplateWidget("contacts/other_links.html")

    def process_formdata(self, valuelist):
        pass


class OpenedWithField(forms.FormOnlyMixin, HiddenField):
    """The ids of the rows a choice editor was opened with ("3 7 12").

    Set by the view when the form is opened; on a post only the posted value
    counts, so a refused form shown again keeps what it was opened with.
    """

    def process_formdata(self, valuelist):
        self.data = valuelist[0] if valuelist else None


def id_snapshot(ids) -> str:
    """A set of row ids as the text an editor form carries."""
    return " ".join(str(row_id) for row_id in sorted(ids))


def same_ids(snapshot: str | None, ids) -> bool:
    """Whether a posted ``id_snapshot`` names exactly ``ids`` (False if unreadable)."""
    if snapshot is None:
        return False
    parts = snapshot.split()
    if not all(part.isascii() and part.isdigit() for part in parts):
        return False
    return {int(part) for part in parts} == set(ids)


class ChoiceTabView(ContactTabView):
    """A tab editor whose rows are applied through services after prepare().

    Tags and links change without the contact's version moving: the quick
    forms of the tab, automation steps, web forms, imports, bulk edits and
    links made from the other contact all write their rows alone. So the form
    also carries the ids of the rows it was opened with, and a save is refused
    when the contact's rows are no longer those, whichever path changed them.
    Bumping the contact's version on every such change would do the same, but
    would also make every open General or Address form stale each time an
    automation tags the contact.
    """

    saved_message = ""
    #: The contact's relationship that holds the rows, reloaded before comparing.
    rows_attr = ""

    def current_ids(self, contact) -> set[int]:
        """The ids of the rows the editor shows, as the contact has them now."""
        raise NotImplementedError

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and request.method == "GET":
            form.opened_with.data = id_snapshot(self.current_ids(obj))
        return form

    def apply(self, form, model, is_created):
        # Hold the contact until the commit and read its rows afresh, so that
        # a change committed meanwhile is seen (PostgreSQL; SQLite has one
        # writer at a time), then compare with the rows the form was opened with.
        db.session.execute(
            select(Contact.id).where(Contact.id == model.id).with_for_update()
        )
        db.session.expire(model, [self.rows_attr])
        if not same_ids(form.opened_with.data, self.current_ids(model)):
            log.info(
                "stale %s save refused: contact %s has %r, form had %r",
                self.tab_key,
                model.id,
                id_snapshot(self.current_ids(model)),
                form.opened_with.data,
            )
            raise ServiceError(str(STALE_MESSAGE))

    def get_save_return_url(self, model, is_created=False):
        replace_stock_flash(str(self.saved_message))
        return record_url(model.id, self.tab_key)


class TagsTabView(ChoiceTabView):
    """The applied tags: add a row to apply a tag, remove one to remove it."""

    tab_key = "tags"
    form_columns = ("version", "opened_with")
    form_extra_fields = {
        "version": forms.VersionField(),
        "opened_with": OpenedWithField(),
    }
    form_layout = ((_l("Applied tags"), ("tag_links",)),)
    saved_message = _l("Tags saved.")
    rows_attr = "tag_links"

    def __init__(self, **kwargs):
        self.inline_models = (TagRows(),)
        super().__init__("contact_tags", _l("Tags"), **kwargs)

    def current_ids(self, contact):
        return {link.tag_id for link in contact.tag_links}

    def after_prepare(self, form, model, is_created):
        chosen = {}
        for entry in form.tag_links.kept():
            tag = entry.form.tag.data
            chosen.setdefault(tag.id, tag)

        for link in list(model.tag_links):
            if link.tag_id not in chosen:
                tag_services.remove_tag(model, link.tag, current_user)
        for tag in chosen.values():
            tag_services.apply_tag(model, tag, current_user)


class LinksTabView(ChoiceTabView):
    """Links from this contact as rows; links to it are listed read-only."""

    tab_key = "links"
    form_columns = ("version", "opened_with", "other_links")
    form_extra_fields = {
        "version": forms.VersionField(),
        "opened_with": OpenedWithField(),
        "other_links": OtherLinksField(_l("Other links")),
    }
    form_layout = (
        (_l("Links from this contact"), ("links_out",)),
        (_l("Other links"), ("other_links",)),
    )
    saved_message = _l("Links saved.")
    rows_attr = "links_out"

    def __init__(self, **kwargs):
        self.inline_models = (LinkRows(),)
        super().__init__("contact_links", _l("Linked contacts"), **kwargs)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None:
            form.other_links.rows = self.other_links(obj)
            form.other_links.tab_url = record_url(obj.id, self.tab_key)
        return form

    def current_ids(self, contact):
        return {row.id for row in editable_links(contact.links_out)}

    def other_links(self, contact) -> list[tuple]:
        """(link, other contact, visible) for the links the rows leave out."""
        editable = {row.id for row in editable_links(contact.links_out)}
        rows = [
            row for row in link_services.links_of(contact) if row.id not in editable
        ]
        others = [row.other(contact.id) for row in rows]
        visible = contact_ids([other.id for other in others])
        return [
            (row, other, other.id in visible)
            for row, other in zip(rows, others, strict=True)
        ]

    def after_prepare(self, form, model, is_created):
        current = {
            (row.link_type_id, row.contact2_id): row
            for row in editable_links(model.links_out)
        }
        chosen = [
            (entry.form.link_type.data, entry.form.contact2.data)
            for entry in form.links_out.kept()
        ]
        kept = {(link_type.id, other.id) for link_type, other in chosen}

        # Unlink first, so that replacing a link does not count against the limit.
        for key, row in current.items():
            if key not in kept:
                link_services.unlink(row, current_user)
        for link_type, other in chosen:
            if (link_type.id, other.id) in current:
                continue
            if services.get_visible(other.id, current_user, policy.EDIT) is None:
                raise ServiceError(_("You may not change that contact."))
            link_services.link(model, other, link_type, current_user)


def views():
    yield GeneralTabView()
    yield AddressTabView()
    yield AdditionalTabView()
    yield NotesTabView()
    yield TagsTabView()
    yield LinksTabView()
