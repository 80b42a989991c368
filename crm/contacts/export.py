"""Exports of the contact list: CSV (spreadsheet-safe) and vCard 3.0.

The web export reads the rows through the list view's own ``get_list``, so it
holds exactly the contacts the list shows for the same search, filters and
sort, within the user's scope. The ``flask contacts export`` command uses the
same writers on a plain query. Both stream: contacts are read in batches with
their e-mails, phones, addresses and tags loaded per batch.
"""

import csv
import io
import logging
import re
import unicodedata

import pycountry
import vobject
from flask import Response, abort, current_app, flash, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.contacts.models import FAX_SLOTS, PHONE_SLOTS, Contact
from crm.core.csvsafe import neutralise_row
from crm.core.db import utcnow
from crm.core.text import fold
from crm.extensions import db

log = logging.getLogger(__name__)

BATCH_SIZE = 500

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "vcf": "text/vcard; charset=utf-8",
}

# Keap-style headers, so the export reads back through the importer.
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
    "Street Address 1",
    "Street Address 2",
    "City",
    "State",
    "Postal Code",
    "Zip Four",
    "Country",
    "Website",
    "Birthday",
    "Tags",
    "Owner",
    "Contact Type",
    "Lead Source",
    "Date Created",
]

# vCard TEL types for the phone types the CRM offers (matched folded).
TEL_TYPES = {
    "work": "WORK",
    "home": "HOME",
    "mobile": "CELL",
    "cell": "CELL",
    "other": "VOICE",
}
ADR_TYPES = {"billing": ["WORK", "PREF"], "shipping": ["PARCEL"], "other": []}

# Control characters other than newline and tab break vCard lines.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# Reading -------------------------------------------------------------------


def contacts_in(statement):
    """Stream the contacts a select yields, children loaded one batch at a time."""
    statement = statement.options(
        selectinload(Contact.emails),
        selectinload(Contact.phones),
        selectinload(Contact.faxes),
        selectinload(Contact.billing_addresses),
        selectinload(Contact.extra_addresses),
        selectinload(Contact.tag_links),
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


# CSV -----------------------------------------------------------------------


def csv_row(contact) -> list:
    """One contact as the cells of a CSV row, in CSV_HEADERS order."""
    emails = [e.address for e in contact.emails]
    emails += [""] * (3 - len(emails))

    phones = []
    for slot in range(PHONE_SLOTS):
        phone = contact.phones[slot] if slot < len(contact.phones) else None
        phones += [phone.number, phone.type, phone.extension] if phone else [""] * 3
    faxes = []
    for slot in range(FAX_SLOTS):
        fax = contact.faxes[slot] if slot < len(contact.faxes) else None
        faxes += [fax.number, fax.type] if fax else [""] * 2

    address = contact.billing_address
    address_cells = (
        [
            address.line1,
            address.line2,
            address.locality,
            address.region,
            address.postal_code,
            address.zip_four,
            address.country_code,
        ]
        if address
        else [""] * 7
    )

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
        *emails[:3],
        *phones,
        *faxes,
        *address_cells,
        contact.website,
        contact.birthday.isoformat() if contact.birthday else "",
        ",".join(tag_names(contact)),
        contact.owner.email if contact.owner else "",
        contact.contact_type,
        contact.lead_source,
        contact.created_at.strftime("%Y-%m-%d %H:%M:%S") if contact.created_at else "",
    ]


def csv_chunks(contacts, note: str | None = None):
    """The CSV text in chunks: a BOM (for Excel), the headers, the rows, the note.

    Every cell is neutralised against spreadsheet formulas. ``note`` (when the
    export was capped) becomes a last row of its own.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush():
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(neutralise_row(CSV_HEADERS))
    yield "\ufeff" + flush()

    for count, contact in enumerate(contacts, start=1):
        writer.writerow(neutralise_row(csv_row(contact)))
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


def _country_name(code: str | None) -> str:
    if not code:
        return ""
    country = pycountry.countries.get(alpha_3=code)
    return country.name if country else code


def _tel_types(phone, kind: str) -> list[str]:
    mapped = TEL_TYPES.get(fold(phone.type or ""))
    types = [mapped] if mapped else []
    if kind == "fax":
        types = [t for t in types if t in ("WORK", "HOME")] + ["FAX"]
    return types or ["VOICE"]


def vcard(contact) -> vobject.base.Component:
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
    if contact.preferred_name:
        card.add("nickname").value = _text(contact.preferred_name)
    if contact.company:
        card.add("org").value = [_text(contact.company.name)]
    if contact.job_title:
        card.add("title").value = _text(contact.job_title)

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
    for address in contact.addresses:
        line = card.add("adr")
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

    if contact.birthday:
        card.add("bday").value = contact.birthday.isoformat()
    if contact.website:
        card.add("url").value = _text(contact.website)
    if contact.person_notes:
        card.add("note").value = _text(contact.person_notes)
    tags = tag_names(contact)
    if tags:
        card.add("categories").value = [_text(t) for t in tags]
    return card


def vcard_chunks(contacts):
    """The vCard file in chunks: one card per contact."""
    cards = []
    for contact in contacts:
        cards.append(vcard(contact).serialize())
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
