"""Form pieces of the contact record tabs: pick-lists, form-only fields, inline rows.

The inline rows (e-mails, phones, faxes, addresses, social accounts) are
edited through Flask-Admin's inline forms with two changes:

* A row left blank is ignored, and clearing an existing row removes it.
* Posted rows fill the contact's existing rows in slot order (addresses: by
  kind), rather than following the row ids in the post. A slot is unique per
  contact, and the unit of work writes UPDATEs and INSERTs before DELETEs, so
  moving e-mail 2 into the slot of a removed e-mail 1 would collide with the
  row still there. Filling rows in order means only the last rows are ever
  deleted, and only after the last existing row are rows added. It also means
  a crafted row id can never reach another contact's row.
"""

import zoneinfo
from functools import lru_cache

import pycountry
from flask_admin.contrib.sqla.fields import InlineModelFormList
from flask_admin.contrib.sqla.form import InlineModelConverter
from flask_admin.form import BaseForm, RenderTemplateWidget
from flask_admin.model.form import InlineFormAdmin
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional, StopValidation, ValidationError

from crm.contacts import picklists
from crm.contacts.models import (
    ADDRESS_PARTS,
    SOCIAL_LABELS,
    SOCIAL_TYPES,
    ContactAddress,
    ContactEmail,
    ContactPhone,
    SocialAccount,
)
from crm.contacts.services import country_label, name_key
from crm.core.i18n import locale_label, reader_locale

LOCALES = ("en", "en_US", "en_GB", "es", "es_MX", "fr", "de", "it", "pt_BR", "nl")

EXTRA_ADDRESS_KINDS = (
    ("shipping", lazy_pgettext("address kind", "Shipping")),
    ("other", lazy_pgettext("address kind", "Other")),
)


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def countries() -> tuple[tuple[str, str], ...]:
    """ISO 3166-1 alpha-3 codes with their names in the reader's language, by name."""
    return _countries(reader_locale())


@lru_cache(maxsize=8)
def _countries(locale: str) -> tuple[tuple[str, str], ...]:
    rows = [(c.alpha_3, country_label(c.alpha_3, locale)) for c in pycountry.countries]
    return tuple(sorted(rows, key=lambda row: name_key(row[1])))


def country_name(code: str | None) -> str:
    """The name of an ISO 3166 alpha-3 code in the reader's language (else the code)."""
    return country_label(code)


def locale_options() -> list[tuple[str, str]]:
    """LOCALES, each named in the reader's language with its code after it."""
    return [(code, locale_label(code)) for code in LOCALES]


# A stored locale that is no longer offered (an import's) reads the same way.
locale_options.label = locale_label


def fixed_options(values):
    """Options from a fixed list of values or (value, label) pairs, or a callable."""

    def options():
        items = values() if callable(values) else values
        return [item if isinstance(item, tuple) else (item, item) for item in items]

    return options


class PickListField(SelectField):
    """A select over options read per request, with a blank choice.

    A stored value that is no longer offered (the list was edited, or the
    value came from an import) stays selectable, so saving an unrelated
    change never fails on it. Options from a pick-list (see
    ``crm.core.picklists``) name such a value with the pick-list's label.
    """

    def __init__(
        self,
        label=None,
        validators=None,
        options=None,
        blank=True,
        message=None,
        **kwargs,
    ):
        kwargs.pop("filters", None)
        kwargs.pop("allow_blank", None)
        self.options = options or (lambda: [])
        self.blank = blank
        self.message = message
        super().__init__(label, validators, choices=self._choices, **kwargs)

    def _pairs(self):
        pairs = list(self.options())
        values = {value for value, _ in pairs}
        stored = self.object_data
        if stored and stored not in values:
            shown = getattr(self.options, "label", str)
            pairs.insert(0, (stored, shown(stored)))
        return pairs

    def _choices(self):
        pairs = self._pairs()
        if self.blank:
            pairs.insert(0, ("", "—"))
        return [SelectChoice(value=value, label=str(label)) for value, label in pairs]

    def iter_choices(self):
        current = self.data or ""
        return [c._replace(selected=c.value == current) for c in super().iter_choices()]

    def process_data(self, value):
        self.data = str(value) if value not in (None, "") else None

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = valuelist[0].strip() or None

    def pre_validate(self, form):
        if self.data is None:
            if not self.blank:
                raise ValidationError(str(self.message or _l("Choose a value.")))
            return
        if self.data not in {value for value, _ in self._pairs()}:
            message = self.message or _l("Choose a value from the list.")
            raise ValidationError(str(message))


class CountryField(PickListField):
    """ISO 3166-1 alpha-3 countries by name."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("options", countries)
        super().__init__(label, validators, **kwargs)

    def pre_validate(self, form):
        if self.data is not None and self.data not in dict(countries()):
            raise ValidationError(
                _(
                    "%(value)s is not a country; choose one from the list.",
                    value=repr(self.data),
                )
            )
        super().pre_validate(form)


class FormOnlyMixin:
    """A field the view reads itself; populate_obj leaves the model alone."""

    def populate_obj(self, obj, name):
        pass


class VersionField(FormOnlyMixin, HiddenField):
    """The record version the form was opened at (see failure kind E1).

    On a post only the posted value counts: a form without it must not fall
    back to the stored version and so skip the check.
    """

    def process_formdata(self, valuelist):
        self.data = valuelist[0] if valuelist else ""


class CompanyNameField(FormOnlyMixin, StringField):
    """The company's name; a name not on file creates the company on save."""

    def __init__(self, label=None, validators=None, **kwargs):
        validators = validators or [Optional(), Length(max=255)]
        render_kw = {"list": "company-options", "autocomplete": "off"}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)


# Inline rows. ``content`` names the fields that make a row non-blank.


def _strip_or_none(value):
    if value is None:
        return None
    return str(value).strip() or None


def _text(limit: int) -> dict:
    """Arguments of an optional text input of at most ``limit`` characters."""
    return {"validators": [Optional(), Length(max=limit)], "filters": [_strip_or_none]}


class Needed:
    """A row's key field must be filled.

    Unlike InputRequired this sets no HTML ``required`` attribute: a row left
    blank is skipped, and the browser must not refuse to send it.
    """

    def __init__(self, message=None):
        self.message = message

    def __call__(self, form, field):
        if not (field.data or "").strip():
            raise StopValidation(
                str(self.message or _l("Fill this in or remove the row."))
            )


class RowForm(BaseForm):
    content: tuple[str, ...] = ()

    id = HiddenField()

    def is_blank(self) -> bool:
        return all(not (self[name].data or "").strip() for name in self.content)


class EmailRow(RowForm):
    content = ("address",)

    address = StringField(_l("E-mail address"), validators=[Needed(), Length(max=100)])


class PhoneRow(RowForm):
    content = ("number", "extension")

    number = StringField(_l("Number"), validators=[Needed(), Length(max=40)])
    extension = StringField(_l("Extension"), **_text(20))
    type = PickListField(_l("Type"), options=picklists.PHONE_TYPES)


class FaxRow(RowForm):
    content = ("number",)

    number = StringField(_l("Number"), validators=[Needed(), Length(max=40)])
    type = PickListField(_l("Type"), options=picklists.FAX_TYPES)


class AddressRow(RowForm):
    content = ADDRESS_PARTS

    # The column limits; the tighter per-kind limits are the service's rule.
    line1 = StringField(_l("Street address 1"), **_text(100))
    line2 = StringField(_l("Street address 2"), **_text(100))
    locality = StringField(_l("City"), **_text(100))
    region = StringField(_l("Region"), **_text(50))
    postal_code = StringField(_l("Postal code"), **_text(20))
    zip_four = StringField(_l("ZIP+4"), **_text(10))
    country_code = CountryField(_l("Country"))


class ExtraAddressRow(AddressRow):
    kind = PickListField(
        _l("Kind"), options=fixed_options(EXTRA_ADDRESS_KINDS), blank=False
    )


class SocialRow(RowForm):
    content = ("name",)

    type = PickListField(
        _l("Network"),
        options=fixed_options([(t, SOCIAL_LABELS[t]) for t in SOCIAL_TYPES]),
        blank=False,
    )
    name = StringField(_l("Account name"), validators=[Needed(), Length(max=255)])


class SlotFormList(InlineModelFormList):
    """Inline rows that fill a contact's existing rows in order (see module doc)."""

    widget = RenderTemplateWidget("contacts/inline_field_list.html")

    def kept(self):
        return [
            entry
            for entry in self.entries
            if not self.should_delete(entry) and not entry.form.is_blank()
        ]

    def validate(self, form, extra_validators=()):
        self.errors = []
        for entry in self.kept():
            if not entry.validate(form):
                self.errors.append(entry.errors)
        return not self.errors

    def populate_obj(self, obj, name):
        rows = getattr(obj, name)
        existing = list(rows)
        pairs = self.inline_view.match(existing, self.kept())

        used = set()
        for row, entry in pairs:
            is_created = row is None
            if is_created:
                row = self.model()
                rows.append(row)
            used.add(id(row))
            entry.populate_obj(row, None)
            self.inline_view._on_model_change(entry, row, is_created)

        for row in existing:
            if id(row) not in used:
                rows.remove(row)


class ContactRows(InlineFormAdmin):
    """One kind of inline row on a contact, bound to one relationship by name."""

    row_form: type[RowForm] = RowForm
    #: How many rows a contact may have (the "Add" button hides at the limit).
    slots = 1

    def __init__(self, model, relationship: str, label, **kwargs):
        self.relationship = relationship
        self.form_label = label
        super().__init__(model, **kwargs)

    def get_form(self):
        return self.row_form

    def match(self, existing, entries):
        """Pair each kept entry with the existing row it overwrites (or None)."""
        pairs = []
        for index, entry in enumerate(entries):
            row = existing[index] if index < len(existing) else None
            pairs.append((row, entry))
        return pairs


class AddressRows(ContactRows):
    """Addresses are unique per kind, so rows are matched by kind first."""

    def match(self, existing, entries):
        free = list(existing)
        pairs = []
        for entry in entries:
            kind = entry.form.kind.data if "kind" in entry.form else None
            same = next((r for r in free if kind and r.kind == kind), None)
            if same is not None:
                free.remove(same)
            pairs.append([same, entry])
        for pair in pairs:
            if pair[0] is None and free:
                pair[0] = free.pop(0)
        return [tuple(pair) for pair in pairs]


class ContactRowsConverter(InlineModelConverter):
    """Binds each inline to the relationship it names.

    Contact has several relationships to the same child model (phones and
    faxes, billing and other addresses), which Flask-Admin cannot tell apart.
    """

    inline_field_list_type = SlotFormList

    def _calculate_mapping_key_pair(self, model, info):
        # The second key is the child's link back to the contact; the inline
        # forms are written by hand, so it is only used as a name.
        return {info.relationship: "contact_id"}


def email_rows():
    return ContactRows(
        ContactEmail,
        "emails",
        _l("E-mail address"),
        row_form=EmailRow,
        slots=3,
        inline_converter=ContactRowsConverter,
    )


def phone_rows():
    return ContactRows(
        ContactPhone,
        "phones",
        _l("Phone"),
        row_form=PhoneRow,
        slots=5,
        inline_converter=ContactRowsConverter,
    )


def fax_rows():
    return ContactRows(
        ContactPhone,
        "faxes",
        _l("Fax"),
        row_form=FaxRow,
        slots=2,
        inline_converter=ContactRowsConverter,
    )


def billing_address_rows():
    return AddressRows(
        ContactAddress,
        "billing_addresses",
        _l("Billing address"),
        row_form=AddressRow,
        slots=1,
        inline_converter=ContactRowsConverter,
    )


def extra_address_rows():
    return AddressRows(
        ContactAddress,
        "extra_addresses",
        _l("Address"),
        row_form=ExtraAddressRow,
        slots=2,
        inline_converter=ContactRowsConverter,
    )


def social_rows():
    return ContactRows(
        SocialAccount,
        "social_accounts",
        _l("Social account"),
        row_form=SocialRow,
        slots=len(SOCIAL_TYPES),
        inline_converter=ContactRowsConverter,
    )
