"""What a form field can hold, and how a submitted value is checked and stored.

A field names a contact field ("email", "billing.locality"), a custom field
("custom:<id>") or a file upload ("file:<n>", whose files go to the contact's
file box; see crm/webforms/uploads.py). Each submitted value is checked the
way the record's own forms check it, so a web form never stores what the
record would refuse.
"""

import re
from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.contacts import services as contacts
from crm.contacts.models import ContactAddress, ContactEmail, ContactPhone
from crm.core.errors import ServiceError
from crm.core.text import (
    clean,
    email_problem,
    normalize_email,
    phone_to_e164,
    split_extension,
)
from crm.customfields import services as customfields
from crm.customfields.models import CustomField
from crm.extensions import db

CUSTOM = "custom:"
FILE = "file:"
# How many file fields one form may have ("file:1" to "file:5").
FILE_SLOTS = 5


@dataclass(frozen=True)
class ContactField:
    key: str
    label: object
    kind: str = "text"  # text, email, phone, date, country, choice
    limit: int = 255


CONTACT_FIELDS = {
    field.key: field
    for field in (
        ContactField("given_name", _l("First name"), limit=40),
        ContactField("family_name", _l("Last name"), limit=40),
        ContactField("email", _l("E-mail"), "email", 75),
        ContactField("phone", _l("Phone"), "phone", 40),
        ContactField("company", _l("Company"), limit=255),
        ContactField("job_title", _l("Job title"), limit=255),
        ContactField("website", _l("Website"), "website", 100),
        ContactField("lead_source", _l("Lead source"), limit=255),
        ContactField("contact_type", _l("Contact type"), "choice", 50),
        ContactField("birthday", _l("Birthday"), "date"),
        ContactField("billing.line1", _l("Street address 1"), limit=75),
        ContactField("billing.line2", _l("Street address 2"), limit=75),
        ContactField("billing.locality", _l("City"), limit=50),
        ContactField("billing.region", _l("Region"), limit=50),
        ContactField("billing.postal_code", _l("Postal code"), limit=15),
        ContactField("billing.country_code", _l("Country"), "country", 3),
    )
}
SCALAR_ATTRIBUTES = (
    "given_name",
    "family_name",
    "job_title",
    "website",
    "lead_source",
    "contact_type",
    "birthday",
)


# A public form never asks for these: a visitor's answer would tell which
# users exist.
NOT_ON_PUBLIC_FORMS = {"user"}


def custom_field_of(key: str) -> CustomField | None:
    """The custom field a "custom:<id>" key names, or None."""
    number = key[len(CUSTOM) :] if key.startswith(CUSTOM) else ""
    if not re.fullmatch(r"[0-9]{1,9}", number):
        return None
    field = db.session.get(CustomField, int(number))
    if field is None or field.field_type in NOT_ON_PUBLIC_FORMS:
        return None
    return field


def is_file(key) -> bool:
    """Whether ``key`` names one of the file fields ("file:1" ... "file:5")."""
    number = key[len(FILE) :] if isinstance(key, str) and key.startswith(FILE) else ""
    return number.isdigit() and len(number) == 1 and 1 <= int(number) <= FILE_SLOTS


def key_choices() -> list[tuple[str, str]]:
    """Every field a form may show: contact fields, custom fields, file uploads."""
    choices = [(f.key, str(f.label)) for f in CONTACT_FIELDS.values()]
    rows = db.session.scalars(
        select(CustomField)
        .where(CustomField.field_type.not_in(NOT_ON_PUBLIC_FORMS))
        .order_by(CustomField.label)
    )
    choices += [
        (f"{CUSTOM}{f.id}", _("Custom: %(label)s", label=f.label)) for f in rows
    ]
    choices += [
        (f"{FILE}{n}", _("File upload %(number)s", number=n))
        for n in range(1, FILE_SLOTS + 1)
    ]
    return choices


def default_label(key: str) -> str:
    if key in CONTACT_FIELDS:
        return str(CONTACT_FIELDS[key].label)
    if is_file(key):
        number = int(key[len(FILE) :])
        return _("File") if number == 1 else _("File %(number)s", number=number)
    custom = custom_field_of(key)
    return custom.label if custom else key


def input_kind(key: str) -> tuple[str, list[str]]:
    """How the public page renders a field: (kind, options)."""
    if is_file(key):
        return "file", []
    if key in CONTACT_FIELDS:
        field = CONTACT_FIELDS[key]
        if field.kind == "choice":
            return "select", list(current_app.config["CONTACT_TYPES"])
        return {"email": "email", "phone": "tel", "date": "date"}.get(
            field.kind, "text"
        ), []
    custom = custom_field_of(key)
    if custom is None:
        return "text", []
    kind = custom.field_type
    if kind in ("dropdown", "radio"):
        return "select", custom.option_list
    if kind == "list_box":
        return "multi", custom.option_list
    if kind == "yes_no":
        return "checkbox", []
    if kind == "text_area":
        return "textarea", []
    return {"date": "date", "email": "email", "phone": "tel"}.get(kind, "text"), []


# Checking values ------------------------------------------------------------


def check(key: str, raw, *, required: bool, label: str):
    """The canonical value of ``raw`` for field ``key`` (None when empty).

    Raises ServiceError with one sentence naming the field.
    """
    custom = custom_field_of(key) if key.startswith(CUSTOM) else None
    if custom is not None:
        if required and customfields._is_empty(raw):
            raise ServiceError(_("%(label)s is required.", label=label), key)
        try:
            return customfields.coerce_value(custom, raw)
        except ServiceError as exc:
            raise ServiceError(exc.message, key) from None
    field = CONTACT_FIELDS.get(key)
    if field is None:
        raise ServiceError(_("This form has a field that no longer exists."), key)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    text = clean(raw)
    if text is None:
        if required:
            raise ServiceError(_("%(label)s is required.", label=label), key)
        return None
    if len(text) > field.limit and field.kind != "country":
        raise ServiceError(
            _(
                "%(label)s is longer than %(limit)s characters.",
                label=label,
                limit=field.limit,
            ),
            key,
        )
    return _CHECKS[field.kind](text, label, key)


def _check_text(text, label, key):
    return text


def _check_email(text, label, key):
    problem = email_problem(text)
    if problem:
        raise ServiceError(problem, key)
    return text


def _check_phone(text, label, key):
    if phone_to_e164(text, current_app.config["DEFAULT_PHONE_REGION"]) is None:
        raise ServiceError(
            _("%(value)s is not a phone number we can read.", value=repr(text)), key
        )
    return text


def _check_website(text, label, key):
    try:
        return contacts.website_address(text)
    except ServiceError as exc:
        raise ServiceError(exc.message, key) from None


def _check_date(text, label, key):
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ServiceError(
            _("%(label)s: enter a date as YYYY-MM-DD.", label=label), key
        ) from None
    if key == "birthday":
        try:
            contacts.check_birthday(value)
        except ServiceError as exc:
            raise ServiceError(exc.message, key) from None
    return value


def _check_country(text, label, key):
    code = contacts.country_code(text)
    if code is None:
        raise ServiceError(
            _(
                "%(value)s is not a country; type its name or an ISO code such as ESP.",
                value=repr(text),
            ),
            key,
        )
    return code


def _check_choice(text, label, key):
    for option in current_app.config["CONTACT_TYPES"]:
        if option.casefold() == text.casefold():
            return option
    raise ServiceError(_("%(value)s is not one of the options.", value=repr(text)), key)


_CHECKS = {
    "text": _check_text,
    "email": _check_email,
    "phone": _check_phone,
    "date": _check_date,
    "website": _check_website,
    "country": _check_country,
    "choice": _check_choice,
}


# Writing values -------------------------------------------------------------


def current_value(contact, key: str):
    """What the contact holds now for ``key`` (None or "" when nothing)."""
    if key == "email":
        return contact.emails[0].address if contact.emails else None
    if key == "phone":
        return contact.phones[0].number if contact.phones else None
    if key == "company":
        return contact.company.name if contact.company else None
    if key.startswith("billing."):
        address = contact.billing_address
        return getattr(address, key.partition(".")[2]) if address else None
    if key.startswith(CUSTOM):
        return customfields.values_of(contact).get(int(key[len(CUSTOM) :]))
    return getattr(contact, key)


def write(contact, key: str, value, *, overwrite: bool) -> bool:
    """Store one checked value; without ``overwrite`` only an empty one is filled.

    Returns whether anything changed. Custom values are collected by the
    caller and written together through the custom field service.
    """
    if value is None:
        return False
    if key == "email" and any(
        e.normalized == normalize_email(value)
        or normalize_email(e.address) == normalize_email(value)
        for e in contact.emails
    ):
        return False
    current = current_value(contact, key)
    if current not in (None, "") and not overwrite:
        return False
    if key == "phone":
        return _write_phone(contact, value)
    if current == value:
        return False
    if key == "email":
        if contact.emails:
            contact.emails[0].address = value
            contact.emails[0].normalized = normalize_email(value)
        else:
            contact.emails.append(
                ContactEmail(address=value, normalized=normalize_email(value), slot=1)
            )
    elif key == "company":
        contact.company = contacts.get_or_create_company(value)
    elif key.startswith("billing."):
        address = contact.billing_address
        if address is None:
            address = ContactAddress(kind="billing")
            contact.billing_addresses.append(address)
        setattr(address, key.partition(".")[2], value)
    elif key in SCALAR_ATTRIBUTES:
        setattr(contact, key, value)
    else:
        return False
    return True


def _write_phone(contact, value: str) -> bool:
    """Put the visitor's number in phone 1 whole: its number and its extension.

    The extension is the one typed with the number ("x12"), or none: a stored
    extension never stays on a number the visitor typed without it, and is
    never compared with the typed one (the answer would show it).
    """
    region = current_app.config["DEFAULT_PHONE_REGION"]
    number, extension = split_extension(value, region)
    if not contact.phones:
        contact.phones.append(
            ContactPhone(number=number, extension=extension, kind="phone", slot=1)
        )
        return True
    phone = contact.phones[0]
    if (clean(phone.number), clean(phone.extension)) == (number, extension):
        return False
    phone.number, phone.extension = number, extension
    return True
