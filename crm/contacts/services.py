"""Rules and writes for contacts: validation, derived fields, duplicates."""

import logging
import unicodedata
from datetime import date
from functools import lru_cache

import pycountry
from babel import Locale, UnknownLocaleError
from flask import current_app, has_app_context
from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect, select

from crm.access import policy
from crm.auth.models import User
from crm.contacts.models import (
    ADDRESS_LIMITS,
    ADDRESS_NAMES,
    EMAIL_SLOTS,
    FAX_SLOTS,
    PHONE_SLOTS,
    SOCIAL_LABELS,
    Company,
    Contact,
    ContactEmail,
)
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.i18n import reader_locale
from crm.core.text import (
    as_id,
    clean,
    digits,
    email_problem,
    fold,
    has_digits,
    is_extension_only,
    looks_spreadsheet_damaged,
    normalize_email,
    phone_to_e164,
    split_extension,
    unix_lines,
    web_address,
)
from crm.extensions import db

log = logging.getLogger(__name__)

ADDRESS_FIELD_LABELS = {
    "line1": _l("Street address 1"),
    "line2": _l("Street address 2"),
    "locality": _l("City"),
    "region": _l("Region"),
    "postal_code": _l("Postal code"),
    "zip_four": _l("ZIP+4"),
}

# The earliest year a birthday or an anniversary may have.
FIRST_YEAR = 1900
# Keap's website column; the person notes have no published limit, so they
# get the 64 KB that Keap's long text fields hold.
WEBSITE_LIMIT = 100
PERSON_NOTES_LIMIT = 65_535
# Contact fields whose rules apply to what is typed (see validate).
CHECKED_FIELDS = (
    "website",
    "birthday",
    "anniversary",
    "assistant_phone",
    "person_notes",
)


def country_code(value: str | None) -> str | None:
    """The ISO 3166-1 alpha-3 code for a code or a country name, or None.

    A name is read in English, in the reader's language and in every
    language the interface has ("España", "Alemania", "Allemagne" when
    French is offered), with or without accents. Nothing is guessed: a
    fuzzy search would read "none" as Italy and "x" as Azerbaijan.
    """
    text = clean(value)
    if not text:
        return None
    try:
        return pycountry.countries.lookup(text).alpha_3
    except LookupError:
        pass
    key = name_key(text)
    for locale in _name_locales():
        code = _territory_names(locale).get(key)
        if code is not None:
            return code
    return None


def country_label(code: str | None, locale: str | None = None) -> str:
    """The country of an ISO 3166 alpha-3 code, named in ``locale`` (default: the
    reader's language); the code itself when it is no country."""
    country = pycountry.countries.get(alpha_3=code) if code else None
    if country is None:
        return code or ""
    try:
        names = Locale.parse(locale or reader_locale()).territories
    except (ValueError, UnknownLocaleError):
        names = {}
    return names.get(country.alpha_2) or country.name


def address_lines(address) -> list[str]:
    """A postal address as the lines printed on a letter or an invoice."""
    if address is None:
        return []
    postal = "-".join(p for p in (address.postal_code, address.zip_four) if p)
    place = ", ".join(p for p in (address.locality, address.region) if p)
    lines = [
        address.line1,
        address.line2,
        " ".join(p for p in (place, postal) if p),
        country_label(address.country_code),
    ]
    return [line for line in lines if line]


def name_key(text: str) -> str:
    """A country name as compared: casefolded, accents and punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", fold(text))
    letters = (ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join("".join(c if c.isalnum() else " " for c in letters).split())


def _name_locales() -> list[str]:
    first = [reader_locale()] if has_app_context() else []
    offered = current_app.config.get("LANGUAGES", []) if has_app_context() else []
    return list(dict.fromkeys([*first, *offered, "en"]))


@lru_cache(maxsize=16)
def _territory_names(locale: str) -> dict[str, str]:
    """Babel's country names in ``locale``, keyed by ``name_key``, as alpha-3."""
    try:
        territories = Locale.parse(locale).territories
    except (ValueError, UnknownLocaleError):
        return {}
    names = {}
    for alpha_2, name in territories.items():
        country = pycountry.countries.get(alpha_2=alpha_2)
        if country is not None:
            names.setdefault(name_key(name), country.alpha_3)
    return names


def company_key(name: str | None) -> str:
    """What company names are matched by: "ACME  Widgets" is "acme widgets".

    Lower case rather than casefold: casefolding makes "Buße" "busse", and
    those are two surnames. The dot a capital İ leaves when lowered goes, so
    "İstanbul" is "istanbul".
    """
    text = clean(name)
    if not text:
        return ""
    return " ".join(text.lower().replace("i\u0307", "i").split())


def company_ids(names) -> dict[str, int]:
    """The ids of the companies on file for these names, by ``company_key``.

    A name matches the company written the same way, else one that differs
    only in case and spacing (the oldest, when there are several). The one
    rule for the record, web forms and imports. A name without an exact
    match is compared with the key of every company: the key is Python's
    (NFC, lower case), which neither database does the same way.
    """
    spellings = {text for text in (clean(n) for n in names) if text}
    if not spellings:
        return {}
    found: dict[str, int] = {}
    with db.session.no_autoflush:
        exact = select(Company.id, Company.name).where(Company.name.in_(spellings))
        for company_id, name in db.session.execute(exact.order_by(Company.id)):
            found.setdefault(company_key(name), company_id)
        missing = {company_key(text) for text in spellings} - found.keys()
        if missing:
            every = select(Company.id, Company.name).order_by(Company.id)
            for company_id, name in db.session.execute(every):
                key = company_key(name)
                if key in missing:
                    found.setdefault(key, company_id)
    return found


def get_or_create_company(name: str | None) -> Company | None:
    """The company of that name (see ``company_ids``), created when there is none."""
    name = clean(name)
    if not name:
        return None
    company_id = company_ids([name]).get(company_key(name))
    if company_id is not None:
        return db.session.get(Company, company_id)
    company = Company(name=name)
    db.session.add(company)
    db.session.flush()
    return company


def search_text_of(names, company, emails, phones, phones_e164) -> str:
    """The folded text that substring search runs over.

    Phones appear as typed, as bare digits and in E.164 with its plus, so a
    fragment in any of those shapes finds the contact, and "+34" finds the
    numbers of that country code rather than every "34" inside a number.
    """
    parts = [*names, company, *emails]
    for number, e164 in zip(phones, phones_e164, strict=True):
        parts += [number, digits(number), e164]
    return " ".join(fold(p) for p in parts if p)


def build_search_text(contact: Contact) -> str:
    """The search text of one contact object."""
    numbers = list(contact.phones) + list(contact.faxes)
    return search_text_of(
        [
            contact.prefix,
            contact.given_name,
            contact.middle_name,
            contact.family_name,
            contact.suffix,
            contact.preferred_name,
        ],
        contact.company.name if contact.company else None,
        [e.address for e in contact.emails],
        [p.number for p in numbers],
        [p.e164 for p in numbers],
    )


def refresh_derived(contact: Contact) -> None:
    """Recompute the copied columns the list and search read."""
    for email in contact.emails:
        email.address = clean(email.address) or ""
        email.normalized = normalize_email(email.address)
    region = current_app.config["DEFAULT_PHONE_REGION"]
    for phone in list(contact.phones) + list(contact.faxes):
        phone.number = clean(phone.number) or ""
        phone.e164 = phone_to_e164(phone.number, region) if phone.number else None
    contact.primary_email = contact.emails[0].address if contact.emails else None
    contact.primary_phone = contact.phones[0].number if contact.phones else None
    billing = contact.billing_address
    contact.country_code = billing.country_code if billing else None
    contact.search_text = build_search_text(contact)


def _renumber(rows, kind=None):
    for slot, row in enumerate(rows, start=1):
        row.slot = slot
        if kind:
            row.kind = kind


def validate(contact: Contact) -> None:
    """Check slot counts and per-slot limits; raises ServiceError with one sentence.

    Values typed in this save (new rows, changed values) are also checked
    against the rules that came after the values stored earlier were
    accepted: those are left as they are (see ``_kept_as_stored``).
    """
    # Read before any lazy load below can autoflush the rows and their history.
    with db.session.no_autoflush:
        kept = {id(email) for email in contact.emails if _kept_as_stored(email)}
        numbers = list(contact.phones) + list(contact.faxes)
        typed = {id(p) for p in numbers if _is_typed(p, "number", "extension")}
        typed_fields = {attr for attr in CHECKED_FIELDS if _is_typed(contact, attr)}
        # Not loaded means not changed: the importer's updates never load them.
        accounts = (
            contact.social_accounts
            if "social_accounts" in inspect(contact).dict
            else []
        )
        typed_social = {id(a) for a in accounts if _is_typed(a, "type", "name")}
        _check_owner(contact)

    if len(contact.emails) > EMAIL_SLOTS:
        raise ServiceError(
            _("A contact has at most %(n)s e-mail addresses.", n=EMAIL_SLOTS)
        )
    if len(contact.phones) > PHONE_SLOTS:
        raise ServiceError(
            _("A contact has at most %(n)s phone numbers.", n=PHONE_SLOTS)
        )
    if len(contact.faxes) > FAX_SLOTS:
        raise ServiceError(_("A contact has at most %(n)s fax numbers.", n=FAX_SLOTS))
    if len(contact.billing_addresses) > 1:
        raise ServiceError(_("A contact has one billing address."))

    for email in contact.emails:
        if not clean(email.address):
            raise ServiceError(_("An e-mail row is empty; fill it in or remove it."))
        problem = None if id(email) in kept else email_problem(clean(email.address))
        if problem:
            raise ServiceError(problem)
        if len(email.address) > (75 if email.slot == 1 else 100):
            raise ServiceError(
                _("The e-mail address %(email)s is too long.", email=email.address)
            )
    _check_repeated_emails(contact.emails, kept)

    region = current_app.config["DEFAULT_PHONE_REGION"]
    for phone in numbers:
        if not clean(phone.number):
            raise ServiceError(_("A phone row is empty; fill it in or remove it."))
        if id(phone) in typed:
            _check_typed_phone(phone, region)
        limit = 40 if phone.kind == "fax" or phone.slot <= 3 else 20
        if len(phone.number) > limit:
            raise ServiceError(
                _(
                    "Phone %(slot)s is longer than %(limit)s characters.",
                    slot=phone.slot,
                    limit=limit,
                )
            )
        if looks_spreadsheet_damaged(phone.number):
            raise ServiceError(
                _(
                    "The phone number %(number)s looks damaged by a spreadsheet "
                    "(scientific notation); type the digits again.",
                    number=phone.number,
                )
            )

    kinds = [a.kind for a in contact.addresses]
    if len(kinds) != len(set(kinds)):
        raise ServiceError(
            _("Each address kind (billing, shipping, other) can be used once.")
        )
    for address in contact.addresses:
        _validate_address(address)

    _check_social_accounts(accounts, typed_social)
    _check_typed_fields(contact, typed_fields, region)


def _is_typed(row, *attrs) -> bool:
    """True for a new row, or one whose ``attrs`` change in this save.

    A value set again as it was (give or take surrounding spaces) is no change.
    """
    state = inspect(row)
    if not state.persistent:
        return True
    for attr in attrs:
        history = state.attrs[attr].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        if clean(before) != clean(getattr(row, attr)):
            return True
    return False


def _check_repeated_emails(emails, kept) -> None:
    """Refuse one address in two slots (compared as normalised addresses)."""
    first: dict[str, ContactEmail] = {}
    for email in emails:
        key = normalize_email(email.address)
        earlier = first.setdefault(key, email)
        if earlier is email or (id(email) in kept and id(earlier) in kept):
            continue
        raise ServiceError(
            _(
                "E-mail address %(slot)s, %(email)s, is already e-mail address "
                "%(first)s of this contact; remove one of them.",
                slot=email.slot,
                email=clean(email.address),
                first=earlier.slot,
            )
        )


def _phone_label(phone) -> str:
    if phone.kind == "fax":
        return _("Fax %(n)s", n=phone.slot)
    return _("Phone %(n)s", n=phone.slot)


def _check_typed_phone(phone, region: str) -> None:
    """Refuse a typed number without digits; move a typed extension to its field.

    "+1 212 555 0100 x12" keeps "+1 212 555 0100" as the number and 12 as the
    extension, when the extension field is empty or says the same. Faxes
    have no extension.
    """
    label = _phone_label(phone)
    _require_digits(label, phone.number)
    number, extension = split_extension(clean(phone.number), region)
    if not extension:
        return
    if phone.kind == "fax":
        raise ServiceError(_no_extension(label, extension))
    given = clean(phone.extension)
    if given and given != extension:
        raise ServiceError(
            _(
                "%(field)s: the number ends in extension %(typed)s but the "
                "extension field says %(extension)s; keep one of them.",
                field=label,
                typed=extension,
                extension=given,
            )
        )
    phone.number, phone.extension = number, extension


def _no_extension(label: str, extension: str) -> str:
    return _(
        "%(field)s has no extension; type the number without the extension "
        "%(extension)s.",
        field=label,
        extension=extension,
    )


def _require_digits(label: str, number: str | None) -> None:
    """Refuse a number without digits, or one that is only an extension."""
    if not has_digits(number):
        raise ServiceError(
            _(
                "%(field)s: %(value)s has no digits; type a phone number.",
                field=label,
                value=repr(clean(number) or ""),
            )
        )
    if is_extension_only(number):
        raise ServiceError(
            _(
                "%(field)s: %(value)s is an extension without a number; type "
                "the phone number before it.",
                field=label,
                value=repr(clean(number)),
            )
        )


def _check_social_accounts(accounts, typed) -> None:
    """Refuse a second account on one network (one of the two typed now)."""
    first: dict[str, int] = {}
    for account in accounts:
        earlier = first.setdefault(account.type, id(account))
        if earlier == id(account) or not ({earlier, id(account)} & typed):
            continue
        raise ServiceError(
            _(
                "A contact has one %(network)s account; remove the second one.",
                network=SOCIAL_LABELS.get(account.type, account.type),
            )
        )


def _check_typed_fields(contact: Contact, typed: set[str], region: str) -> None:
    """The rules of the single-valued fields typed in this save."""
    if "website" in typed and contact.website:
        contact.website = website_address(contact.website)
    if "birthday" in typed and contact.birthday:
        check_birthday(contact.birthday)
    if "anniversary" in typed and contact.anniversary:
        check_anniversary(contact.anniversary)
    if "assistant_phone" in typed and contact.assistant_phone:
        label = _("Assistant phone")
        _require_digits(label, contact.assistant_phone)
        _number, extension = split_extension(contact.assistant_phone, region)
        if extension:
            raise ServiceError(_no_extension(label, extension))
    notes = contact.person_notes or ""
    if "person_notes" in typed and len(notes) > PERSON_NOTES_LIMIT:
        raise ServiceError(
            _(
                "The person notes are %(length)s characters long; they may have "
                "at most %(limit)s.",
                length=format_number(len(notes)),
                limit=format_number(PERSON_NOTES_LIMIT),
            )
        )


def website_address(text: str) -> str:
    """The website as stored: an http(s) address (see ``web_address``).

    Raises ServiceError for anything else, or for one too long to keep.
    """
    address = web_address(text)
    if address is None:
        raise ServiceError(
            _(
                "Website: %(value)s is not a web address; enter one such as "
                "https://example.com.",
                value=repr(text),
            )
        )
    if len(address) > WEBSITE_LIMIT:
        raise ServiceError(
            _(
                "Website: %(value)s is longer than %(limit)s characters.",
                value=address,
                limit=WEBSITE_LIMIT,
            )
        )
    return address


def check_birthday(value: date) -> None:
    """Refuse a birthday before 1900 or in the future."""
    _check_first_year(_l("Birthday"), value)
    if value > date.today():
        raise ServiceError(
            _("The birthday %(date)s lies in the future.", date=value.isoformat())
        )


def check_anniversary(value: date) -> None:
    """Refuse an anniversary before 1900 or after next year.

    Keap says nothing of future anniversaries; a wedding planned for next
    year is one, a year such as 2999 is a typing error.
    """
    _check_first_year(_l("Anniversary"), value)
    if value.year > date.today().year + 1:
        raise ServiceError(
            _(
                "The anniversary %(date)s is after next year; check the year.",
                date=value.isoformat(),
            )
        )


def _check_first_year(label, value: date) -> None:
    if value.year < FIRST_YEAR:
        raise ServiceError(
            _(
                "%(field)s: %(date)s is before %(year)s; check the year.",
                field=label,
                date=value.isoformat(),
                year=FIRST_YEAR,
            )
        )


def check_owner(user, current_owner_id=None) -> None:
    """Refuse a deactivated user as a contact's new owner.

    The one rule for every way an owner is set (the record, the Access tab,
    automation, imports): active users only. A contact keeps a current owner
    who was deactivated later until someone changes it.
    """
    if user is None or user.active or user.id == current_owner_id:
        return
    raise ServiceError(
        _("%(user)s is deactivated; choose an active user as the owner.", user=user)
    )


def _check_owner(contact: Contact) -> None:
    """``check_owner`` for the owner this save gives the contact, if it changes."""
    state = inspect(contact)
    chosen, ids = state.attrs.owner.history, state.attrs.owner_id.history
    if chosen.has_changes():
        user = chosen.added[0] if chosen.added else None
    elif ids.has_changes():
        user_id = ids.added[0] if ids.added else None
        user = db.session.get(User, user_id) if user_id is not None else None
    else:
        return
    stored = (ids.deleted or ids.unchanged or [None])[0]
    check_owner(user, stored if state.persistent else None)


def _kept_as_stored(email: ContactEmail) -> bool:
    """True for a saved address the save leaves as it was.

    Such an address was accepted under the rule of its day; refusing it now
    would refuse every other change to its contact, including a web form's
    or an import's update made by someone who cannot correct it.
    """
    state = inspect(email)
    if not state.persistent:
        return False
    history = state.attrs.address.history
    if not history.has_changes():
        return True
    return bool(history.deleted) and clean(history.deleted[0]) == clean(email.address)


def _validate_address(address) -> None:
    limits = ADDRESS_LIMITS[address.kind]
    for field, limit in limits.items():
        value = getattr(address, field)
        if value and len(value) > limit:
            raise ServiceError(
                _(
                    "%(field)s of the %(address)s is longer than %(limit)s characters.",
                    field=ADDRESS_FIELD_LABELS[field],
                    address=ADDRESS_NAMES[address.kind],
                    limit=limit,
                )
            )
    if address.country_code:
        code = country_code(address.country_code)
        if code is None:
            raise ServiceError(
                _(
                    "%(value)s is not a country (use an ISO 3166 code such as USA, "
                    "DEU or ESP, or the country's name).",
                    value=repr(address.country_code),
                )
            )
        address.country_code = code


def prepare(contact: Contact, actor=None, *, is_new: bool = False) -> list[str]:
    """Validate and stamp a contact before its unit of work commits.

    Returns the warnings to show once it is saved: the numbers typed in this
    save that could not be read as phone numbers and are kept as typed.
    """
    for attr in (
        "prefix",
        "given_name",
        "middle_name",
        "family_name",
        "suffix",
        "preferred_name",
        "job_title",
        "website",
        "contact_type",
        "lead_source",
        "spouse_name",
        "assistant_name",
        "assistant_phone",
        "referral_code",
        "billing_information",
    ):
        setattr(contact, attr, clean(getattr(contact, attr)))
    # A browser sends a textarea's line breaks as CRLF: kept (and counted) as LF.
    contact.person_notes = unix_lines(contact.person_notes)
    _renumber(contact.emails)
    _renumber(contact.phones, "phone")
    _renumber(contact.faxes, "fax")
    for address in contact.billing_addresses:
        address.kind = "billing"

    with db.session.no_autoflush:
        numbers = list(contact.phones) + list(contact.faxes)
        typed = [p for p in numbers if _is_typed(p, "number")]
        typed_assistant = _is_typed(contact, "assistant_phone")
    validate(contact)
    refresh_derived(contact)
    warnings = [_unread(p.number) for p in typed if p.e164 is None]
    region = current_app.config["DEFAULT_PHONE_REGION"]
    if (
        typed_assistant
        and contact.assistant_phone
        and phone_to_e164(contact.assistant_phone, region) is None
    ):
        warnings.append(_unread(contact.assistant_phone))

    now = utcnow()
    contact.updated_at = now
    if actor is not None:
        contact.updated_by_id = actor.id
    if is_new:
        contact.created_at = now
        if actor is not None:
            contact.created_by_id = actor.id
            if contact.owner_id is None and contact.owner is None:
                contact.owner_id = actor.id
    return warnings


def _unread(number: str) -> str:
    return _(
        "%(value)s could not be read as a phone number; it was kept as typed.",
        value=number,
    )


def require_contact_point(contact: Contact) -> None:
    """Refuse a new contact without an e-mail address, phone number or address.

    Keap creates no contact without one of the three.
    """
    has_address = any(
        getattr(address, field)
        for address in contact.addresses
        for field in (*ADDRESS_FIELD_LABELS, "country_code")
    )
    if not (contact.emails or contact.phones or has_address):
        raise ServiceError(
            _("A new contact needs an e-mail address, a phone number or an address.")
        )


def find_by_email(addresses, user) -> list[Contact]:
    """Contacts the user may see with any of these e-mail addresses (all slots)."""
    keys = {normalize_email(a) for a in addresses if a}
    keys.discard("")
    if not keys:
        return []
    query = (
        select(Contact)
        .join(ContactEmail, ContactEmail.contact_id == Contact.id)
        .where(ContactEmail.normalized.in_(keys), policy.scope(Contact, user))
        .order_by(Contact.id)
        .distinct()
    )
    return list(db.session.scalars(query))


def get_visible(contact_id, user, action=policy.VIEW) -> Contact | None:
    """The contact, when it exists and the user may act on it."""
    contact_id = as_id(contact_id)
    if contact_id is None:
        return None
    return db.session.scalar(
        select(Contact).where(
            Contact.id == contact_id, policy.scope(Contact, user, action)
        )
    )


DUPLICATE_RULES = ("email", "email_name", "email_name_company", "none")


def find_duplicate(rule, email, given_name=None, family_name=None, company=None):
    """The contact a web form or a purchase updates under ``rule``, or None.

    Keap's duplicate options: the e-mail (in any slot), the e-mail and the
    name, or the e-mail, the name and the company; "none" always creates.
    When several contacts match, the oldest is updated and nothing is merged.
    Not scoped to a user: the public side acts for the account itself.
    """
    key = normalize_email(email)
    if rule == "none" or not key:
        return None
    candidates = db.session.scalars(
        select(Contact)
        .join(ContactEmail, ContactEmail.contact_id == Contact.id)
        .where(ContactEmail.normalized == key)
        .order_by(Contact.id)
        .distinct()
    )
    for contact in candidates:
        if rule in ("email_name", "email_name_company") and (
            fold(contact.given_name) != fold(given_name)
            or fold(contact.family_name) != fold(family_name)
        ):
            continue
        if rule == "email_name_company" and fold(
            contact.company.name if contact.company else None
        ) != fold(company):
            continue
        return contact
    return None
