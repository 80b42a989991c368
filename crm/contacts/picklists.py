"""The contact record's configured pick-lists and the labels of their defaults."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from crm.core.picklists import PickList

CONTACT_TYPES = PickList(
    "CONTACT_TYPES",
    {
        "Lead": _l("Lead"),
        "Prospect": _l("Prospect"),
        "Customer": _l("Customer"),
        "Partner": _l("Partner"),
        "Vendor": _l("Vendor"),
        "Other": _l("Other"),
    },
)

_LINE_TYPES = {
    "Work": lazy_pgettext("phone type", "Work"),
    "Home": lazy_pgettext("phone type", "Home"),
    "Mobile": lazy_pgettext("phone type", "Mobile"),
    "Other": lazy_pgettext("phone type", "Other"),
}

PHONE_TYPES = PickList("PHONE_TYPES", _LINE_TYPES)

FAX_TYPES = PickList("FAX_TYPES", _LINE_TYPES)

TITLES = PickList(
    "TITLE_TYPES",
    {
        "Mr.": lazy_pgettext("person title", "Mr."),
        "Mrs.": lazy_pgettext("person title", "Mrs."),
        "Ms.": lazy_pgettext("person title", "Ms."),
        "Dr.": lazy_pgettext("person title", "Dr."),
        "Prof.": lazy_pgettext("person title", "Prof."),
    },
)

SUFFIXES = PickList(
    "SUFFIX_TYPES",
    {
        "Jr.": lazy_pgettext("name suffix", "Jr."),
        "Sr.": lazy_pgettext("name suffix", "Sr."),
        "II": lazy_pgettext("name suffix", "II"),
        "III": lazy_pgettext("name suffix", "III"),
        "PhD": lazy_pgettext("name suffix", "PhD"),
    },
)


def contact_type_label(value: str | None) -> str:
    """A contact type in the reader's language when it is one of the defaults."""
    return CONTACT_TYPES.label(value)


def phone_type_label(phone) -> str:
    """The type of a phone or fax row in the reader's language."""
    kinds = FAX_TYPES if phone.kind == "fax" else PHONE_TYPES
    return kinds.label(phone.type)


def full_name(contact) -> str:
    """Title, names and suffix as the record shows them, in the reader's language."""
    parts = (
        TITLES.label(contact.prefix),
        contact.given_name,
        contact.middle_name,
        contact.family_name,
        SUFFIXES.label(contact.suffix),
    )
    return " ".join(part for part in parts if part)
