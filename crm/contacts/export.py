"""Exports of the contact list: CSV (spreadsheet-safe) and vCard 3.0.

The web export reads the rows through the list view's own ``get_list``, so it
holds exactly the contacts the list shows for the same search, filters and
sort, within the user's scope. The ``flask contacts export`` command uses the
same writers on a plain query. Both stream: contacts are read in batches with
their e-mails, phones, addresses, social accounts, tags and custom values
loaded per batch.

The CSV holds every field of the record under the names the importer maps
(Keap's), one column per custom field headed by its label, so an export
imports back as it was. The vCard holds what an address book reads, plus
the dates, people and custom fields in the X- properties the vCard import
reads back (see crm/imports/vcard.py).
"""

import csv
import io
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field

import pycountry
import vobject
from flask import Response, abort, current_app, flash, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, lazyload, selectinload

from crm.auth.models import User
from crm.contacts.models import (
    ADDRESS_KINDS,
    ADDRESS_PARTS,
    EMAIL_SLOTS,
    FAX_SLOTS,
    PHONE_SLOTS,
    SOCIAL_TYPES,
    Contact,
)
from crm.core.csvsafe import neutralise_row
from crm.core.db import utcnow
from crm.core.text import fold
from crm.customfields.models import CustomField, CustomHeader, CustomTab, CustomValue
from crm.extensions import db
from crm.imports import presets
from crm.tags.models import ContactTag, Tag

log = logging.getLogger(__name__)

BATCH_SIZE = 500

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "vcf": "text/vcard; charset=utf-8",
}

# Keap's export names, which the importer's Keap preset maps (see
# crm/imports/presets.py), so the export reads back through the importer.
ADDRESS_HEADERS = {
    "billing": (
        "Street Address 1",
        "Street Address 2",
        "City",
        "State",
        "Postal Code",
        "Zip Four",
        "Country",
    ),
    "shipping": (
        "Address 2 Street 1",
        "Address 2 Street 2",
        "City 2",
        "State 2",
        "Postal Code 2",
        "Zip Four 2",
        "Country 2",
    ),
    "other": (
        "Address 3 Street 1",
        "Address 3 Street 2",
        "City 3",
        "State 3",
        "Postal Code 3",
        "Zip Four 3",
        "Country 3",
    ),
}
# One column per network, named as the network writes itself.
SOCIAL_HEADERS = {
    "FACEBOOK": "Facebook",
    "LINKED_IN": "LinkedIn",
    "TWITTER": "Twitter",
    "INSTAGRAM": "Instagram",
    "SNAPCHAT": "Snapchat",
    "YOUTUBE": "YouTube",
    "PINTEREST": "Pinterest",
}
# The contact's own text columns after the addresses, by header.
ADDITIONAL_COLUMNS = (
    ("Website", "website"),
    ("Birthday", "birthday"),
    ("Anniversary", "anniversary"),
    ("Spouse Name", "spouse_name"),
    ("Assistant Name", "assistant_name"),
    ("Assistant Phone", "assistant_phone"),
    ("Referral Code", "referral_code"),
    ("Billing Information", "billing_information"),
    ("Time Zone", "time_zone"),
    ("Preferred Locale", "preferred_locale"),
)

CSV_HEADERS = [
    "Id",
    "Title",
    "First Name",
    "Middle Name",
    "Last Name",
    "Suffix",
    "Nickname",
    "Company",
    "Job Title",
    "Email",
    "Email 2",
    "Email 3",
    *[
        label
        for slot in range(1, PHONE_SLOTS + 1)
        for label in (f"Phone {slot}", f"Phone {slot} Type", f"Phone {slot} Ext")
    ],
    *[
        label
        for slot in range(1, FAX_SLOTS + 1)
        for label in (f"Fax {slot}", f"Fax {slot} Type")
    ],
    *[label for kind in ADDRESS_KINDS for label in ADDRESS_HEADERS[kind]],
    *[label for label, _key in ADDITIONAL_COLUMNS],
    *[SOCIAL_HEADERS[network] for network in SOCIAL_TYPES],
    "Person Notes",
    "Tags",
    "Owner",
    "Contact Type",
    "Lead Source",
    "Date Created",
]

# vCard TEL types for the phone types the CRM offers (matched folded). The
# vCard import reads each back to the same type (crm/imports/rows.py,
# phone_type); a phone without a type is a plain VOICE line.
TEL_TYPES = {
    "work": ["WORK"],
    "home": ["HOME"],
    "mobile": ["CELL"],
    "cell": ["CELL"],
    "other": ["VOICE", "X-OTHER"],
}
ADR_TYPES = {"billing": ["WORK", "PREF"], "shipping": ["PARCEL"], "other": []}
# Apple's label for an "other" address, which the vCard import reads as such.
OTHER_LABEL = "_$!<Other>!$_"
SOCIAL_PROFILE_TYPES = {
    "FACEBOOK": "facebook",
    "LINKED_IN": "linkedin",
    "TWITTER": "twitter",
    "INSTAGRAM": "instagram",
    "SNAPCHAT": "snapchat",
    "YOUTUBE": "youtube",
    "PINTEREST": "pinterest",
}

# Control characters other than newline and tab break vCard lines.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A list-box option holding one of these is written as a JSON list, which
# the importer reads whole; the others are joined with commas.
_LIST_SEPARATORS = re.compile(r"[,;\n]")


# Reading -------------------------------------------------------------------


def contacts_in(statement):
    """Stream the contacts a select yields, children loaded one batch at a time."""
    statement = statement.options(
        selectinload(Contact.emails),
        selectinload(Contact.phones),
        selectinload(Contact.faxes),
        selectinload(Contact.billing_addresses),
        selectinload(Contact.extra_addresses),
        selectinload(Contact.social_accounts),
        # Only the tags' names are exported, not who applied them nor their
        # category (an import finds a tag that exists, category and all).
        selectinload(Contact.tag_links).options(
            lazyload(ContactTag.applied_by),
            joinedload(ContactTag.tag).lazyload(Tag.category),
        ),
    )
    if db.session.scalar(select(CustomField.id).limit(1)) is not None:
        # The fields come from CustomColumns, read once per export.
        statement = statement.options(
            selectinload(Contact.custom_values).options(lazyload(CustomValue.field))
        )
    return db.session.scalars(statement, execution_options={"yield_per": BATCH_SIZE})


class Counted:
    """An iterable that counts the items it has handed out."""

    def __init__(self, items):
        self.items = items
        self.count = 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


def _alphabetical(name: str) -> tuple[str, str]:
    """A sort key that puts accented letters next to their base letter."""
    decomposed = unicodedata.normalize("NFD", fold(name))
    return "".join(c for c in decomposed if not unicodedata.combining(c)), name


def tag_names(contact) -> list[str]:
    """The names of the contact's tags, in alphabetical order."""
    return sorted((link.tag.name for link in contact.tag_links), key=_alphabetical)


# Custom fields ---------------------------------------------------------------


@dataclass
class CustomColumns:
    """The contact custom fields in the record's order, with their CSV headers."""

    fields: list = field(default_factory=list)
    headers: list = field(default_factory=list)
    # E-mail of each user a user-type field may name, read once.
    users: dict = field(default_factory=dict)

    def values(self, contact) -> list[str]:
        """The contact's value of each field as text the importer reads back."""
        if not self.fields:
            return []
        stored = {value.field_id: value.value for value in contact.custom_values}
        return [custom_text(f, stored.get(f.id), self.users) for f in self.fields]


def custom_columns() -> CustomColumns:
    """Every contact custom field, ordered by tab, header and position."""
    query = (
        select(CustomField)
        .outerjoin(CustomField.header)
        .outerjoin(CustomHeader.tab)
        .order_by(
            CustomTab.position,
            CustomTab.name,
            CustomHeader.position,
            CustomField.position,
            CustomField.id,
        )
    )
    fields = list(db.session.scalars(query))
    users = {}
    if any(f.field_type == "user" for f in fields):
        users = dict(db.session.execute(select(User.id, User.email)).all())
    return CustomColumns(fields, _custom_headers(fields), users)


def _custom_headers(fields) -> list[str]:
    """Each field's label, or its field name where the label would not map back.

    The importer maps a label to its field unless a built-in column of that
    name comes first or another field has the same label; the field name is
    unique. The headers are checked as the importer will read them, after
    the formula neutralisation.
    """
    headers = [f.label for f in fields]
    missed = _not_mapped_back(fields, headers)
    for index in missed:
        headers[index] = fields[index].field_name
    still = _not_mapped_back(fields, headers) if missed else []
    if still:
        log.info(
            "export: custom fields %s will not map back by header",
            ", ".join(fields[i].field_name for i in still),
        )
    return headers


def _not_mapped_back(fields, headers) -> list[int]:
    """The indexes of the fields the importer would not map by these headers."""
    if not fields:
        return []
    mapping = presets.auto_mapping(neutralise_row(CSV_HEADERS + headers), "keap")
    custom = mapping[len(CSV_HEADERS) :]
    return [i for i, f in enumerate(fields) if custom[i] != f"custom:{f.id}"]


def custom_text(custom_field, stored: str | None, users: dict | None = None) -> str:
    """A stored custom value as the importer reads it back ("" when empty).

    Dates and numbers are stored in their portable form (ISO, a dot for
    decimals) and written as they are; yes/no is written Yes or No, a list
    box's options joined with commas, a user by e-mail.
    """
    if stored in (None, ""):
        return ""
    kind = custom_field.field_type
    if kind == "yes_no":
        return "Yes" if stored == "1" else "No"
    if kind == "list_box":
        try:
            options = json.loads(stored)
        except ValueError:
            return stored
        if not isinstance(options, list) or any(
            _LIST_SEPARATORS.search(str(o)) or str(o).startswith("[") for o in options
        ):
            return stored
        return ", ".join(str(o) for o in options)
    if kind == "user" and stored.isdigit():
        return (users or {}).get(int(stored), stored)
    return stored


# CSV -----------------------------------------------------------------------


def _slots(rows, count: int) -> list:
    return [rows[slot] if slot < len(rows) else None for slot in range(count)]


def csv_row(contact, custom: CustomColumns | None = None) -> list:
    """One contact as the cells of a CSV row: CSV_HEADERS, then custom fields."""
    emails = [e.address if e else "" for e in _slots(contact.emails, EMAIL_SLOTS)]

    phones = []
    for phone in _slots(contact.phones, PHONE_SLOTS):
        phones += [phone.number, phone.type, phone.extension] if phone else [""] * 3
    faxes = []
    for fax in _slots(contact.faxes, FAX_SLOTS):
        faxes += [fax.number, fax.type] if fax else [""] * 2

    by_kind = {address.kind: address for address in contact.addresses}
    addresses = []
    for kind in ADDRESS_KINDS:
        address = by_kind.get(kind)
        addresses += [
            getattr(address, part) if address else "" for part in ADDRESS_PARTS
        ]

    additional = []
    for _header, key in ADDITIONAL_COLUMNS:
        value = getattr(contact, key)
        additional.append(value.isoformat() if hasattr(value, "isoformat") else value)

    social = {}
    for account in contact.social_accounts:
        social.setdefault(account.type, []).append(account.name)

    return [
        contact.id,
        contact.prefix,
        contact.given_name,
        contact.middle_name,
        contact.family_name,
        contact.suffix,
        contact.preferred_name,
        contact.company.name if contact.company else "",
        contact.job_title,
        *emails,
        *phones,
        *faxes,
        *addresses,
        *additional,
        *[", ".join(social.get(network, ())) for network in SOCIAL_TYPES],
        contact.person_notes,
        ",".join(tag_names(contact)),
        contact.owner.email if contact.owner else "",
        contact.contact_type,
        contact.lead_source,
        contact.created_at.strftime("%Y-%m-%d %H:%M:%S") if contact.created_at else "",
        *(custom.values(contact) if custom else ()),
    ]


def csv_chunks(contacts, note: str | None = None):
    """The CSV text in chunks: a BOM (for Excel), the headers, the rows, the note.

    Every cell is neutralised against spreadsheet formulas, the headers of
    custom fields too. ``note`` (when the export was capped) becomes a last
    row of its own.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush():
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    custom = custom_columns()
    writer.writerow(neutralise_row(CSV_HEADERS + custom.headers))
    yield "\ufeff" + flush()

    for count, contact in enumerate(contacts, start=1):
        writer.writerow(neutralise_row(csv_row(contact, custom)))
        if count % BATCH_SIZE == 0:
            yield flush()

    if note:
        writer.writerow(neutralise_row([note]))
    yield flush()


# vCard ---------------------------------------------------------------------


def _text(value) -> str:
    """Text safe for a vCard value: CR and other control characters removed."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _param(value) -> str:
    """Text safe for a vCard parameter value, which cannot hold a double quote."""
    return _text(value).replace("\n", " ").replace('"', "'")


def _country_name(code: str | None) -> str:
    if not code:
        return ""
    country = pycountry.countries.get(alpha_3=code)
    return country.name if country else code


def _tel_types(phone, kind: str) -> list[str]:
    types = list(TEL_TYPES.get(fold(phone.type or ""), []))
    if kind == "fax":
        return [t for t in types if t != "VOICE"] + ["FAX"]
    return types or ["VOICE"]


def _add_text(card, name: str, value) -> None:
    if value:
        card.add(name).value = _text(value)


def vcard(contact, custom: CustomColumns | None = None) -> vobject.base.Component:
    """One contact as a vCard 3.0 component."""
    card = vobject.vCard()
    card.add("n").value = vobject.vcard.Name(
        family=_text(contact.family_name),
        given=_text(contact.given_name),
        additional=_text(contact.middle_name),
        prefix=_text(contact.prefix),
        suffix=_text(contact.suffix),
    )
    card.add("fn").value = _text(contact.display_name)
    _add_text(card, "nickname", contact.preferred_name)
    if contact.company:
        card.add("org").value = [_text(contact.company.name)]
    _add_text(card, "title", contact.job_title)

    for index, email in enumerate(contact.emails):
        line = card.add("email")
        line.value = _text(email.address)
        line.type_param = ["INTERNET", "PREF"] if index == 0 else ["INTERNET"]
    for kind, numbers in (("phone", contact.phones), ("fax", contact.faxes)):
        for phone in numbers:
            line = card.add("tel")
            number = phone.number
            if phone.extension:
                number += f" x{phone.extension}"
            line.value = _text(number)
            line.type_param = _tel_types(phone, kind)
    _addresses(card, contact)

    if contact.birthday:
        card.add("bday").value = contact.birthday.isoformat()
    if contact.anniversary:
        card.add("x-anniversary").value = contact.anniversary.isoformat()
    _add_text(card, "x-spouse", contact.spouse_name)
    _add_text(card, "x-assistant", contact.assistant_name)
    _add_text(card, "x-assistant-tel", contact.assistant_phone)
    if contact.time_zone:
        line = card.add("tz")
        line.value = _text(contact.time_zone)
        line.params["VALUE"] = ["text"]
    _add_text(card, "url", contact.website)
    for account in contact.social_accounts:
        line = card.add("x-socialprofile")
        line.value = _text(account.name)
        line.type_param = SOCIAL_PROFILE_TYPES.get(account.type, fold(account.type))
    _add_text(card, "note", contact.person_notes)
    tags = tag_names(contact)
    if tags:
        card.add("categories").value = [_text(t) for t in tags]
    if custom:
        _custom_properties(card, contact, custom)
    return card


def _addresses(card, contact) -> None:
    """ADR lines, billing, shipping and other in that order, typed by kind."""
    order = {kind: index for index, kind in enumerate(ADDRESS_KINDS)}
    for address in sorted(contact.addresses, key=lambda a: order.get(a.kind, 9)):
        group = None
        if address.kind == "other":
            group = f"item{len(card.contents.get('x-ablabel', [])) + 1}"
        line = card.add("adr", group=group)
        code = address.postal_code or ""
        if code and address.zip_four:
            code += f"-{address.zip_four}"
        line.value = vobject.vcard.Address(
            street=_text("\n".join(p for p in (address.line1, address.line2) if p)),
            city=_text(address.locality),
            region=_text(address.region),
            code=_text(code),
            country=_text(_country_name(address.country_code)),
        )
        if ADR_TYPES.get(address.kind):
            line.type_param = ADR_TYPES[address.kind]
        if group:
            card.add("x-ablabel", group=group).value = OTHER_LABEL


def _custom_properties(card, contact, custom: CustomColumns) -> None:
    """One X-CRM-FIELD per filled custom field, named by label and field name."""
    for custom_field, text in zip(custom.fields, custom.values(contact), strict=True):
        if not text:
            continue
        line = card.add("x-crm-field")
        line.value = _text(text)
        line.params["LABEL"] = [_param(custom_field.label)]
        line.params["NAME"] = [custom_field.field_name]


def vcard_chunks(contacts):
    """The vCard file in chunks: one card per contact."""
    custom = custom_columns()
    cards = []
    for contact in contacts:
        cards.append(vcard(contact, custom).serialize())
        if len(cards) == BATCH_SIZE:
            yield "".join(cards)
            cards = []
    if cards:
        yield "".join(cards)


def file_name(export_type: str) -> str:
    """The dated download name, e.g. contacts-2026-05-01.csv."""
    return f"contacts-{utcnow().date().isoformat()}.{export_type}"


def capped_note(limit: int) -> str:
    """The sentence that says an export stopped at the row limit."""
    return _(
        "Only the first %(limit)s contacts were exported (the export limit); "
        "narrow the list with a search or filters to export the rest.",
        limit=f"{limit:,}",
    )


# The web export ------------------------------------------------------------


def export_response(view, export_type):
    """Stream the list of ``view``, as it stands, as a CSV or vCard download.

    The rows come from the view's ``get_list`` with the request's search,
    filters and sort, so the scope and every list rule apply; at most
    EXPORT_MAX_ROWS rows are written, with a note when the list is longer.
    """
    if not view.can_export:
        abort(403)
    if export_type not in view.export_types or export_type not in FORMATS:
        abort(404)

    args = view._get_list_extra_args()
    sort = view._get_column_by_idx(args.sort)
    limit = current_app.config["EXPORT_MAX_ROWS"]
    _, query = view.get_list(
        0,
        sort[0] if sort else None,
        args.sort_desc,
        args.search,
        args.filters,
        execute=False,
        page_size=limit if limit > 0 else 0,
    )

    note = None
    if limit > 0 and _longer_than(query, limit):
        note = capped_note(limit)
        flash(note, "warning")

    statement = query.statement
    user = getattr(current_user, "email", None)

    # The request's session is closed once the view returns, so the rows are
    # read inside the generator, in the session of the streaming context.
    def generate():
        contacts = Counted(contacts_in(statement))
        if export_type == "csv":
            chunks = csv_chunks(contacts, note)
        else:
            chunks = vcard_chunks(contacts)
        for chunk in chunks:
            yield chunk.encode("utf-8")
        log.info(
            "contact export (%s): %d contacts by %s", export_type, contacts.count, user
        )

    return Response(
        stream_with_context(generate()),
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(export_type)}"'
        },
        content_type=FORMATS[export_type],
    )


def _longer_than(query, limit: int) -> bool:
    """Whether the list has rows beyond the first ``limit``."""
    probe = query.with_entities(Contact.id).limit(1).offset(limit)
    return probe.first() is not None
