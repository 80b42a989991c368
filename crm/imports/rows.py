"""One mapped row to a ContactData, with the problems found on the way.

A problem is an *error* when the row cannot be imported as it stands (a date
that does not match the chosen format, a name longer than the column): the
row is left out and counted as failed. It is a *warning* when the contact is
still imported and only the value named in the message is left out or kept
as typed (an e-mail that is not an address, a phone that cannot be read).
The record's rules for typed values are warnings here: a website that is no
http(s) address, a birthday or anniversary out of range, person notes over
64 KB and a phone without digits are left out; an extension typed with a
number moves to its field (faxes and the assistant phone lose it).
"""

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from flask_babel import gettext as _

from crm.contacts import services as record
from crm.contacts.bulk import ContactData
from crm.contacts.models import (
    ADDRESS_KINDS,
    ADDRESS_LIMITS,
    ADDRESS_NAMES,
    EMAIL_SLOTS,
    FAX_SLOTS,
    PHONE_SLOTS,
)
from crm.contacts.services import country_code
from crm.core.errors import ServiceError
from crm.core.text import (
    clean,
    email_problem,
    fold,
    has_digits,
    looks_spreadsheet_damaged,
    normalize_email,
    phone_to_e164,
    split_extension,
)
from crm.imports import presets
from crm.imports.language import contact_language

log = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"

ISO_DATE = "%Y-%m-%d"

# Column sizes of Contact (see contacts/models.py and Keap's limits).
FIELD_LIMITS = {
    "prefix": 20,
    "given_name": 40,
    "middle_name": 100,
    "family_name": 40,
    "suffix": 20,
    "preferred_name": 100,
    "company": 255,
    "job_title": 255,
    "website": 100,
    "lead_source": 255,
    "contact_type": 50,
    "time_zone": 64,
    "spouse_name": 100,
    "assistant_name": 20,
    "assistant_phone": 15,
    "referral_code": 100,
    "billing_information": 100,
}
TAG_LIMIT = 255
PHONE_TYPE_LIMIT = 30
EXTENSION_LIMIT = 20

_PHONE_TYPE_WORDS = (
    ("Mobile", ("mobile", "cell", "cellular", "handy", "iphone", "móvil", "movil")),
    ("Work", ("work", "business", "office", "company", "main", "trabajo", "arbeit")),
    ("Home", ("home", "private", "personal", "casa", "privat", "particular")),
    (
        "Other",
        ("other", "pager", "car", "video", "isdn", "radio", "callback", "tty"),
    ),
)
_FAX_WORDS = ("fax", "facsimile", "telefax")

# How files write yes and no (Salesforce: true/false, spreadsheets: 1/0, x).
_YES = frozenset({"true", "yes", "y", "1", "x", "si", "sí", "t", "on"})
_NO = frozenset({"false", "no", "n", "0", "f", "off"})

_DATE_FIELDS = {
    "%d": r"(?P<d>\d{1,2})",
    "%m": r"(?P<m>\d{1,2})",
    "%Y": r"(?P<Y>\d{4})",
    "%y": r"(?P<y>\d{2})",
    "%b": r"(?P<b>[^\W\d_]{3,})",
    "%B": r"(?P<b>[^\W\d_]{3,})",
}
_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

# A conservative ASCII shape that the full e-mail check always accepts; the
# check itself (which is slow) runs only for addresses outside it. Domains
# repeat across a file, so their part of the check is cached.
_NON_DIGITS = re.compile(r"\D+")
# Text that may end in an extension ("x12", "#12", "ext. 12", ";ext=12"):
# only such numbers are read by phonenumbers here, the slow part of a row.
_EXTENSION_HINT = re.compile(r"[^\d\s+()./-]")
_PLAIN_LOCAL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_PLAIN_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)


@dataclass
class Problem:
    row: int
    column: str
    message: str
    level: str = ERROR

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "level": self.level,
        }


class RowError(Exception):
    """A value makes the whole row unusable; the message says which and why."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


# Dates.
def date_format_label(fmt: str) -> str:
    """A date format as users read it: %d/%m/%Y becomes DD/MM/YYYY."""
    for code, text in (
        ("%d", "DD"),
        ("%m", "MM"),
        ("%Y", "YYYY"),
        ("%y", "YY"),
        ("%b", "Mon"),
        ("%B", "Month"),
    ):
        fmt = fmt.replace(code, text)
    return fmt


@lru_cache(maxsize=32)
def _date_pattern(fmt: str) -> re.Pattern:
    parts, i = [], 0
    while i < len(fmt):
        code = fmt[i : i + 2]
        if code in _DATE_FIELDS:
            parts.append(_DATE_FIELDS[code])
            i += 2
        elif code.startswith("%"):
            raise ServiceError(
                _(
                    "The date format may only use %(codes)s.",
                    codes="%d, %m, %Y, %y, %b",
                )
            )
        else:
            parts.append(re.escape(fmt[i]))
            i += 1
    return re.compile("".join(parts), re.IGNORECASE)


def check_date_format(fmt: str) -> str:
    """The format when it names a day, a month and a year; ServiceError otherwise."""
    fmt = (fmt or "").strip() or ISO_DATE
    pattern = _date_pattern(fmt)
    groups = set(pattern.groupindex)
    if "d" not in groups or not groups & {"m", "b"} or not groups & {"Y", "y"}:
        raise ServiceError(
            _(
                "The date format %(format)s needs a day, a month and a year, "
                "for example %%d/%%m/%%Y.",
                format=fmt,
            )
        )
    return fmt


def parse_date(text: str, fmt: str) -> date:
    """The date in exactly this format; ValueError with one sentence otherwise.

    Nothing rolls over and nothing is swapped: 12/31/1990 read as %d/%m/%Y is
    "month 31 is not valid", not a day in 1993.
    """
    match = _date_pattern(fmt).fullmatch(text.strip())
    if match is None:
        raise ValueError(
            _(
                "%(value)s is not a date in the format %(format)s.",
                value=text,
                format=date_format_label(fmt),
            )
        )
    found = match.groupdict()
    if found.get("b"):
        month = _MONTH_NAMES.get(found["b"].casefold())
        if month is None:
            raise ValueError(_("%(name)s is not the name of a month.", name=found["b"]))
    else:
        month = int(found["m"])
    if found.get("Y"):
        year = int(found["Y"])
    else:
        year = 2000 + int(found["y"])
        if year > date.today().year:
            year -= 100
    day = int(found["d"])

    if not 1 <= month <= 12:
        raise ValueError(_("month %(month)s is not valid", month=month))
    if year < 1:
        raise ValueError(_("year %(year)s is not valid", year=year))
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(
            _(
                "day %(day)s is not valid in %(year)s-%(month)s",
                day=day,
                year=year,
                month=f"{month:02d}",  # %(month)02d could not be read back
            )
        ) from None


# Other values.
def email_is_plain(text: str) -> bool:
    """Whether the address has a plain ASCII shape that is certainly valid."""
    local, at, domain = text.rpartition("@")
    if not at or len(text) > 254 or len(local) > 64:
        return False
    return _plain_domain(domain) and bool(_PLAIN_LOCAL.fullmatch(local))


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> bool:
    return bool(_PLAIN_DOMAIN.fullmatch(domain)) and "--" not in domain


@lru_cache(maxsize=4096)
def _email_problem(text: str) -> str | None:
    return email_problem(text)


def check_email(text: str) -> str | None:
    """Why ``text`` is not an e-mail address, or None when it is one."""
    if email_is_plain(text):
        return None
    return _email_problem(text)


@lru_cache(maxsize=65536)
def phone_e164(number: str, region: str) -> str | None:
    """The E.164 form of a phone, cached: files repeat numbers."""
    return phone_to_e164(number, region)


@lru_cache(maxsize=1024)
def phone_type(text: str | None) -> tuple[str | None, bool]:
    """The type (Work, Home, Mobile, Other) a label names, and whether it is a fax."""
    words = fold(text).replace("*", " ")
    if not words:
        return None, False
    is_fax = any(w in words for w in _FAX_WORDS)
    for name, keys in _PHONE_TYPE_WORDS:
        if any(re.search(rf"\b{re.escape(k)}", words) for k in keys):
            return name, is_fax
    # A bare "Phone 2" or "voice" says nothing about the kind of line.
    return None, is_fax


_COUNTRY_ALIASES = {
    "usa": "USA",
    "u s a": "USA",
    "u s": "USA",
    "united states": "USA",
    "uk": "GBR",
    "u k": "GBR",
    "great britain": "GBR",
    "england": "GBR",
    "scotland": "GBR",
    "wales": "GBR",
    "deutschland": "DEU",
    "osterreich": "AUT",
    "schweiz": "CHE",
    "suisse": "CHE",
    "espana": "ESP",
    "italia": "ITA",
    "nederland": "NLD",
    "holland": "NLD",
    "belgie": "BEL",
    "belgique": "BEL",
    "danmark": "DNK",
    "sverige": "SWE",
    "norge": "NOR",
    "polska": "POL",
    "brasil": "BRA",
    "россия": "RUS",
    "日本": "JPN",
}


@lru_cache(maxsize=1024)
def country(text: str) -> str | None:
    """The ISO alpha-3 code of a country name or code, or None when unsure.

    Common spellings the country list lacks come first; then the contacts
    service's exact reading (codes, and names in English or an offered
    language); "Perú", "México": the country list spells names without
    accents.
    """
    key = _plain(presets.normalize_header(text))
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    return country_code(text) or country_code(_plain(text))


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def split_tags(text: str) -> list[str]:
    """Tag names from one cell: Keap and Outlook use commas, Google ' ::: '."""
    parts = text.split(":::") if ":::" in text else _TAG_SEPARATORS.split(text)
    names = []
    for part in parts:
        name = _tag_part(part)
        if name:
            names.append(name)
    return names


_TAG_SEPARATORS = re.compile(r"[,;]")


@lru_cache(maxsize=4096)
def _tag_part(part: str) -> str | None:
    # Cached per name: a file combines the same few tags in many ways. Runs
    # of spaces are one, as for a tag named on its screen (tags/services.py).
    return clean(" ".join(part.strip().lstrip("*").split()))


def _json_address(text: str) -> dict | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {
        "line1": data.get("street"),
        "locality": data.get("city"),
        "region": data.get("state") or data.get("stateCode"),
        "postal_code": data.get("postalCode"),
        "country": data.get("country") or data.get("countryCode"),
    }


def _key_info() -> dict:
    """What each built-in field key holds, for the one pass over a row."""
    info = {key: ("text",) for key in FIELD_LIMITS}
    info.update(
        birthday=("date",),
        anniversary=("date",),
        person_notes=("notes",),
        tags=("tags",),
        full_name=("full",),
        owner=("owner",),
        email_opt_out=("optout",),
    )
    for n in range(1, presets.EMAIL_COLUMNS + 1):
        info[f"email{n}"] = ("email", n)
    for prefix, count, fax in (
        ("phone", presets.PHONE_COLUMNS, False),
        ("fax", presets.FAX_COLUMNS, True),
    ):
        for n in range(1, count + 1):
            info[f"{prefix}{n}"] = ("phone", (fax, n), "number")
            info[f"{prefix}{n}_type"] = ("phone", (fax, n), "type")
            info[f"{prefix}{n}_ext"] = ("phone", (fax, n), "ext")
    for n in range(1, 4):
        info[f"relation{n}"] = ("relation", n, "name")
        info[f"relation{n}_type"] = ("relation", n, "type")
    for kind in ADDRESS_KINDS:
        for part, _label in presets.ADDRESS_PARTS:
            info[f"{kind}_{part}"] = ("addr", kind, part)
    return info


_KEY_INFO = _key_info()


# Control characters (C0 but tab and line breaks, DEL, C1) and the
# byte-order mark: invisible, and PostgreSQL refuses NUL in text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")
_LINE_BREAK = re.compile("[ \t]*(?:\r\n|[\r\n\u2028\u2029])[ \t]*")


def clean_cell(text: str, line_break: str = " ") -> tuple[str, bool]:
    """The text without control characters, and whether any were removed.

    A tab becomes a space. A line break is kept as a newline when
    ``line_break`` is "\\n" (notes, address lines), else it becomes
    ``line_break``; several in a row count as one.
    """
    kept = _CONTROLS.sub("", text)
    removed = kept != text
    kept = kept.replace("\t", " ")
    if line_break == "\n":
        kept = _LINE_BREAK.sub("\n", kept)
    else:
        lines = [line for line in _LINE_BREAK.split(kept) if line.strip()]
        kept = line_break.join(lines)
    return kept, removed


# Titles before a name and qualifications after it, compared without dots
# and case. "Sr" before a name is Señor, after it Senior.
_NAME_PREFIXES = frozenset(
    "mr mrs ms miss mx dr prof professor sir dame rev fr hr herr frau sr sra "
    "srta don dona doña mme mlle m".split()
)
_NAME_SUFFIXES = frozenset(
    "jr sr ii iii iv v phd md dds dmd esq mba cpa rn jd llm msc bsc ba ma "
    "dphil mp qc kc obe mbe cbe".split()
)
# Words that begin a family name: Ludwig van Beethoven, Ana de la Cruz.
_FAMILY_PARTICLES = frozenset(
    "van von der den de del della di da dos das du la le ten ter st".split()
)


def _name_word(word: str) -> str:
    return word.strip(".,").casefold()


def split_full_name(text: str) -> dict[str, str | None]:
    """A full name as prefix, given and family name and suffix.

    The last word (with particles such as van or de) is the family name, the
    words before it the given name. "Doe, Jane" is family name first; "Dr.
    John Smith Jr." has a prefix and a suffix; a single word is a given name
    ("Mr. Smith": a family name).
    Runs of spaces count as one.
    """
    words = text.split()
    suffixes: list[str] = []
    family_first = None
    if text.count(",") == 1:
        before, after = (part.split() for part in " ".join(words).split(","))
        if after and all(_name_word(w) in _NAME_SUFFIXES for w in after):
            words, suffixes = before, after
        elif before and after:
            family_first, words = before, after

    prefixes = []
    while len(words) > 1 and _name_word(words[0]) in _NAME_PREFIXES:
        prefixes.append(words.pop(0))
    while len(words) > 1 and _name_word(words[-1]) in _NAME_SUFFIXES:
        suffixes.insert(0, words.pop())

    if family_first is not None:
        family = " ".join(family_first)
    elif len(words) > 1:
        start = len(words) - 1
        while start > 1 and _name_word(words[start - 1]) in _FAMILY_PARTICLES:
            start -= 1
        family = " ".join(words[start:])
        words = words[:start]
    elif prefixes and words:
        family, words = words[0], []
    else:
        family = None
    return {
        "prefix": " ".join(prefixes) or None,
        "given_name": " ".join(words) or None,
        "family_name": family,
        "suffix": " ".join(w.rstrip(",") for w in suffixes) or None,
    }


# The builder.
class RowBuilder:
    """Turns mapped cells into ContactData, collecting problems per row."""

    def __init__(
        self,
        *,
        date_format: str = ISO_DATE,
        region: str = "US",
        custom_fields: dict | None = None,
        today: date | None = None,
        check_phones: bool = True,
        owners=None,
        phone_types: dict | None = None,
    ):
        self.date_format = check_date_format(date_format)
        self.region = region
        self.custom_fields = custom_fields or {}
        self.today = today or date.today()
        # Reading a phone is the slowest check; a real import leaves it to
        # the insert, which computes E.164 anyway (see engine.py).
        self.check_phones = check_phones
        # An OwnerResolver (see owners.py); without one owner cells are ignored.
        self.owners = owners
        # The preset's type of headers such as Salesforce's "Phone" (work).
        self.phone_types = phone_types or {}
        self.phone_labels: dict[str, str] | None = None

    def build(
        self, row: int, cells, phone_labels: dict | None = None
    ) -> tuple[ContactData | None, list[Problem]]:
        """The contact of one row (None when it is blank or has an error).

        ``cells`` are (field key, column label, raw text) triples. When given,
        ``phone_labels`` receives the column label of each phone kept.
        """
        self.phone_labels = phone_labels
        problems: list[Problem] = []

        def warn(column, message):
            problems.append(Problem(row, column, message, WARNING))

        cells = self._clean(cells, warn)
        values, labels = self._collect(cells)
        if not values:
            return None, problems

        try:
            data = self._contact(values, labels, warn)
        except RowError as exc:
            problems.append(Problem(row, exc.column, exc.message, ERROR))
            return None, problems
        return data, problems

    def _clean(self, cells, warn):
        """The cells with control characters taken out (see ``clean_cell``)."""
        cleaned = []
        for key, label, raw in cells:
            if isinstance(raw, str) and not (raw.isascii() and raw.isprintable()):
                raw, removed = clean_cell(raw, self._line_breaks(key))
                if removed:
                    warn(label, _("Control characters were removed from this value."))
            cleaned.append((key, label, raw))
        return cleaned

    def _line_breaks(self, key: str) -> str:
        """What a line break in the field becomes: kept, a space or a comma."""
        if key == "tags":
            return ","
        info = _KEY_INFO.get(key)
        if info is not None and (
            info[0] == "notes"
            or (info[0] == "addr" and info[2] in ("full", "line1", "line2", "line3"))
        ):
            return "\n"
        if key.startswith("custom:"):
            field = self.custom_fields.get(int(key[7:]))
            if field is not None and field.field_type == "text_area":
                return "\n"
        return " "

    @staticmethod
    def _collect(cells):
        values: dict[str, str] = {}
        labels: dict[str, str] = {}
        for key, label, raw in cells:
            if not key or raw is None:
                continue
            text = raw.strip() if isinstance(raw, str) else raw
            if not text:
                continue
            if key in values:
                if key == "person_notes":
                    values[key] += "\n\n" + text
                elif key == "tags":
                    values[key] += "," + text
                continue
            values[key] = text
            labels[key] = label
        return values, labels

    def _contact(self, values, labels, warn) -> ContactData:
        data = ContactData()
        fields = data.fields
        emails, phones, addresses, relations, custom = [], {}, {}, {}, []

        # One pass sorts the row's cells by what they hold.
        for key, raw in values.items():
            info = _KEY_INFO.get(key)
            if info is None:
                if key.startswith("custom:"):
                    custom.append(key)
                continue
            kind = info[0]
            if key == "website":
                fields[key] = self._website(raw, labels[key], warn)
            elif key == "assistant_phone":
                fields[key] = self._assistant_phone(raw, labels[key], warn)
            elif kind == "text":
                text = self._text(key, raw, labels[key])
                if key == "company":
                    data.company = text
                else:
                    fields[key] = text
            elif kind == "email":
                emails.append((info[1], key))
            elif kind == "phone":
                phones.setdefault(info[1], {})[info[2]] = key
            elif kind == "addr":
                addresses.setdefault(info[1], {})[info[2]] = raw
            elif kind == "date":
                fields[key] = self._date(key, raw, labels[key], warn)
            elif kind == "relation":
                relations.setdefault(info[1], {})[info[2]] = key
            elif kind == "notes":
                fields["person_notes"] = self._notes(raw, labels[key], warn)
            elif kind == "tags":
                data.tags = self._tags(raw, labels[key], warn)
            elif kind == "owner" and self.owners is not None:
                self._owner(raw, labels[key], fields, warn)
            elif kind == "optout":
                data.email_opt_out = self._yes(raw, labels[key], warn)

        self._names(values, labels, fields)
        if relations:
            self._relations(relations, values, labels, fields)
        if emails:
            data.emails = self._emails(sorted(emails), values, labels, warn)
        if phones:
            data.phones, data.faxes = self._phones(phones, values, labels, warn)
        if addresses:
            data.addresses = self._addresses(addresses, labels, warn)
        if custom:
            data.custom = self._custom(custom, values, labels, warn)

        if not (
            data.emails
            or data.phones
            or data.company
            or fields.get("given_name")
            or fields.get("family_name")
            or fields.get("preferred_name")
        ):
            raise RowError(
                "",
                _(
                    "The row has no name, company, e-mail or phone, so there is "
                    "no contact to import."
                ),
            )
        return data

    # Names and plain text.
    def _text(self, key, raw, label):
        text = clean(raw)
        limit = FIELD_LIMITS.get(key)
        if text and limit and len(text) > limit:
            raise RowError(
                label,
                _(
                    "%(value)s is longer than %(limit)s characters.",
                    value=_shorten(text),
                    limit=limit,
                ),
            )
        return text

    @staticmethod
    def _website(raw, label, warn):
        """The website as the record stores it (an http(s) address), or None."""
        text = clean(raw)
        try:
            return record.website_address(text) if text else None
        except ServiceError as exc:
            warn(label, _left_out(exc.message))
            return None

    def _assistant_phone(self, raw, label, warn):
        """The record's rules for the assistant phone: digits, and no extension."""
        text = clean(raw)
        if not text:
            return None
        if not has_digits(text):
            warn(label, _no_digits(text))
            return None
        number, extension = self._split(text)
        if extension:
            warn(
                label,
                _(
                    "The assistant phone has no extension; %(value)s was kept "
                    "without the extension %(extension)s.",
                    value=_shorten(number),
                    extension=extension,
                ),
            )
        return self._text("assistant_phone", number, label)

    @staticmethod
    def _notes(raw, label, warn):
        notes = clean(raw.replace("\r\n", "\n"))
        if notes and len(notes) > record.PERSON_NOTES_LIMIT:
            warn(
                label,
                _left_out(
                    _(
                        "The person notes are %(length)s characters long; they may "
                        "have at most %(limit)s.",
                        length=f"{len(notes):,}",
                        limit=f"{record.PERSON_NOTES_LIMIT:,}",
                    )
                ),
            )
            return None
        return notes

    def _names(self, values, labels, fields):
        full = clean(values.get("full_name"))
        if not full or fields.get("given_name") or fields.get("family_name"):
            return
        label = labels["full_name"]
        for key, text in split_full_name(full).items():
            if text and not fields.get(key):
                fields[key] = self._text(key, text, label)

    def _date(self, key, raw, label, warn):
        if isinstance(raw, date):
            value = raw
        else:
            try:
                value = parse_date(raw, self.date_format)
            except ValueError as exc:
                raise RowError(label, str(exc)) from None
        if key == "birthday" and value > self.today:
            warn(
                label,
                _(
                    "The birthday %(value)s lies in the future; it was left out.",
                    value=value.isoformat(),
                ),
            )
            return None
        check = record.check_birthday if key == "birthday" else record.check_anniversary
        try:
            check(value)
        except ServiceError as exc:
            warn(label, _left_out(exc.message))
            return None
        return value

    def _relations(self, relations, values, labels, fields):
        for _n, parts in sorted(relations.items()):
            key = parts.get("name")
            name = clean(values.get(key)) if key else None
            kind = fold(values.get(parts.get("type"), ""))
            if not name:
                continue
            if "spouse" in kind or "partner" in kind:
                target = "spouse_name"
            elif "assistant" in kind:
                target = "assistant_name"
            else:
                continue
            if not fields.get(target):
                fields[target] = self._text(target, name, labels[key])

    def _owner(self, raw, label, fields, warn):
        owner_id, problem = self.owners.resolve(raw)
        if problem:
            warn(label, problem)
        else:
            fields["owner_id"] = owner_id

    @staticmethod
    def _yes(raw, label, warn) -> bool:
        word = raw.strip().casefold()
        if word in _YES:
            return True
        if word not in _NO:
            warn(
                label,
                _(
                    "%(value)s is neither yes nor no; the e-mail status was left "
                    "as it is.",
                    value=_shorten(raw),
                ),
            )
        return False

    # E-mails and phones.
    def _emails(self, keys, values, labels, warn) -> list[str]:
        kept, seen, extra = [], set(), []
        for _n, key in keys:
            raw = values[key]
            label = labels[key]
            for part in raw.split(":::") if ":::" in raw else (raw,):
                text = clean(part)
                if not text:
                    continue
                if text.lower().startswith("mailto:"):
                    text = text[7:].strip()
                key = normalize_email(text)
                if key in seen:
                    continue
                problem = check_email(text)
                if problem:
                    warn(
                        label,
                        _(
                            "%(value)s is not an e-mail address; the contact was "
                            "imported without it.",
                            value=_shorten(text),
                        ),
                    )
                    continue
                limit = 75 if not kept else 100
                if len(text) > limit:
                    warn(
                        label,
                        _(
                            "The e-mail address %(value)s is longer than %(limit)s "
                            "characters; it was left out.",
                            value=_shorten(text),
                            limit=limit,
                        ),
                    )
                    continue
                seen.add(key)
                if len(kept) < EMAIL_SLOTS:
                    kept.append(text)
                else:
                    extra.append(text)
        if extra:
            warn(
                "",
                _(
                    "A contact has at most %(n)s e-mail addresses; %(left)s "
                    "was left out.",
                    n=EMAIL_SLOTS,
                    left=", ".join(extra),
                ),
            )
        return kept

    def _phones(self, phones, values, labels, warn):
        found, faxes, seen, extra = [], [], set(), []
        for (_fax_column, _n), parts in sorted(phones.items()):
            key = parts.get("number")
            if key is None:
                continue
            raw = values[key]
            label = labels[key]
            type_key = parts.get("type")
            kind_name, is_fax = phone_type(values[type_key] if type_key else label)
            if kind_name is None and not type_key:
                kind_name = self.phone_types.get(presets.normalize_header(label))
            if _fax_column:
                is_fax = True
            ext_key = parts.get("ext")
            extension = clean(values[ext_key]) if ext_key else None
            for part in raw.split(":::") if ":::" in raw else (raw,):
                number, ext = self._split(clean(part) or "")
                if not number:
                    continue
                if not has_digits(number):
                    warn(label, _no_digits(number))
                    continue
                ext = self._extension(number, ext, extension, is_fax, label, warn)
                entry = self._phone(number, ext, kind_name, label, warn, seen)
                if entry is None:
                    continue
                target, limit = (faxes, FAX_SLOTS) if is_fax else (found, PHONE_SLOTS)
                if len(target) >= limit:
                    extra.append(number)
                    continue
                slot_limit = 40 if is_fax or len(target) < 3 else 20
                if len(number) > slot_limit:
                    warn(
                        label,
                        _(
                            "The phone number %(value)s is longer than %(limit)s "
                            "characters; it was left out.",
                            value=_shorten(number),
                            limit=slot_limit,
                        ),
                    )
                    continue
                target.append(entry)
                if self.phone_labels is not None:
                    self.phone_labels[number] = label
        if extra:
            warn(
                "",
                _(
                    "A contact has at most %(phones)s phones and %(faxes)s faxes; "
                    "%(left)s was left out.",
                    phones=PHONE_SLOTS,
                    faxes=FAX_SLOTS,
                    left=", ".join(extra),
                ),
            )
        return found, faxes

    def _split(self, text: str) -> tuple[str, str | None]:
        """The number without the extension typed with it, and that extension.

        phonenumbers reads the extension as the record does ("x12", "#12",
        "ext. 12", ";ext=12"); a number it cannot read still loses a plain
        "x12" or ";ext=12".
        """
        if text.lower().startswith("tel:"):
            text = text[4:].strip()
        if not _EXTENSION_HINT.search(text):
            return text, None
        number, extension = split_extension(text, self.region)
        if extension:
            return number, extension
        return _split_extension(text)

    @staticmethod
    def _extension(number, typed, column, is_fax, label, warn) -> str | None:
        """The extension kept: the column's, else the one typed with the number.

        Faxes have none: it is left out with a warning.
        """
        if is_fax:
            for extension in dict.fromkeys(e for e in (typed, column) if e):
                warn(
                    label,
                    _(
                        "A fax has no extension; %(value)s was kept without the "
                        "extension %(extension)s.",
                        value=_shorten(number),
                        extension=extension,
                    ),
                )
            return None
        if typed and column and typed != column:
            warn(
                label,
                _(
                    "The number %(value)s ends in extension %(typed)s but the "
                    "extension column says %(extension)s; the column's extension "
                    "was kept.",
                    value=_shorten(number),
                    typed=typed,
                    extension=column,
                ),
            )
        return column or typed

    def _phone(self, number, extension, kind_name, label, warn, seen):
        if ("E" in number or "e" in number) and looks_spreadsheet_damaged(number):
            warn(
                label,
                _(
                    "The phone number %(value)s looks damaged by a spreadsheet "
                    "(scientific notation); it was left out, type the digits again.",
                    value=number,
                ),
            )
            return None
        key = _NON_DIGITS.sub("", number) or number
        if key in seen:
            return None
        seen.add(key)
        if self.check_phones and phone_e164(number, self.region) is None:
            warn(
                label,
                _(
                    "%(value)s could not be read as a phone number; it was kept "
                    "as typed.",
                    value=_shorten(number),
                ),
            )
        entry = {"number": number, "type": kind_name}
        if extension:
            if len(extension) > EXTENSION_LIMIT:
                raise RowError(
                    label,
                    _(
                        "The extension %(value)s is longer than %(limit)s characters.",
                        value=_shorten(extension),
                        limit=EXTENSION_LIMIT,
                    ),
                )
            entry["extension"] = extension
        return entry

    # Addresses.
    def _addresses(self, addresses, labels, warn) -> dict:
        found = {}
        for kind in ADDRESS_KINDS:
            parts = addresses.get(kind)
            if not parts:
                continue
            parts.setdefault("full", None)
            address = self._address(kind, parts, labels, warn)
            if address:
                found[kind] = address
        return found

    def _address(self, kind, parts, labels, warn):
        def label(part):
            return labels.get(f"{kind}_{part}", "")

        full = parts.pop("full")
        structured = _json_address(full) if full else None
        if structured:
            for part, value in structured.items():
                if value and not parts.get(part):
                    parts[part] = str(value)
                    labels.setdefault(f"{kind}_{part}", label("full"))
        elif full and not any(parts.values()):
            lines = [line for line in (clean(x) for x in full.splitlines()) if line]
            parts["line1"] = lines[0] if lines else None
            parts["line2"] = ", ".join(lines[1:]) or None
            for part in ("line1", "line2"):
                labels.setdefault(f"{kind}_{part}", label("full"))

        line1 = clean(parts.get("line1"))
        line2 = clean(parts.get("line2"))
        if line1 and "\n" in line1:
            first, _sep, rest = line1.partition("\n")
            line1 = clean(first)
            rest = ", ".join(x for x in (clean(r) for r in rest.splitlines()) if x)
            line2 = ", ".join(x for x in (rest, line2) if x) or None
        extra = [clean(parts.get("line3")), _po_box(clean(parts.get("po_box")))]
        line2 = ", ".join(x for x in (line2, *extra) if x) or None
        if line2:
            line2 = ", ".join(x for x in (clean(r) for r in line2.splitlines()) if x)

        address = {
            "line1": line1,
            "line2": line2,
            "locality": clean(parts.get("locality")),
            "region": clean(parts.get("region")),
            "postal_code": clean(parts.get("postal_code")),
            "zip_four": clean(parts.get("zip_four")),
        }
        raw_country = clean(parts.get("country"))
        if raw_country:
            code = country(raw_country)
            if code is None:
                warn(
                    label("country"),
                    _(
                        "%(value)s is not a country this import knows; the address "
                        "was imported without it.",
                        value=_shorten(raw_country),
                    ),
                )
            address["country_code"] = code

        limits = ADDRESS_LIMITS[kind]
        for part, limit in limits.items():
            value = address.get(part)
            if value and len(value) > limit:
                column = label(part) or label("line1") or label("full")
                raise RowError(
                    column,
                    _(
                        "%(value)s is longer than %(limit)s characters (the limit "
                        "of the %(address)s).",
                        value=_shorten(value),
                        limit=limit,
                        address=ADDRESS_NAMES[kind],
                    ),
                )
        if not any(address.values()):
            return None
        return address

    # Tags and custom fields.
    def _tags(self, raw, label, warn) -> list[str]:
        names, too_long = _tag_names(raw)
        for name in too_long:
            warn(
                label,
                _(
                    "The tag %(value)s is longer than %(limit)s characters; it "
                    "was left out.",
                    value=_shorten(name),
                    limit=TAG_LIMIT,
                ),
            )
        return list(names)

    def _custom(self, keys, values, labels, warn) -> dict[int, str]:
        """The row's custom values; a value its field refuses is left out."""
        from crm.customfields.services import coerce_value

        stored = {}
        for key in keys:
            raw = values[key]
            field = self.custom_fields.get(int(key[7:]))
            if field is None:
                continue
            try:
                value = raw
                if field.field_type == "date" and isinstance(raw, str):
                    value = parse_date(raw, self.date_format)
                text = coerce_value(field, value)
            except ValueError as exc:
                warn(labels[key], _left_out(str(exc)))
                continue
            except ServiceError as exc:
                # The field's message starts with its label, which the
                # problem already names in its column.
                problem = exc.message.removeprefix(f"{field.label}: ")
                warn(labels[key], _left_out(problem))
                continue
            if text is not None:
                stored[field.id] = text
        return stored


def _left_out(problem: str) -> str:
    problem = problem.rstrip()
    if not problem.endswith((".", "!", "?", "…")):
        # Some reasons are phrases ("month 31 is not valid"); two sentences follow.
        problem += "."
    return _(
        "%(problem)s This value was left out.",
        problem=problem,
    )


@lru_cache(maxsize=4096)
def _tag_names(raw: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The distinct tag names of a cell, and the names too long to keep.

    Cached: the same combinations of tags come back row after row.
    """
    names, too_long, seen = [], [], set()
    for name in split_tags(raw):
        if len(name) > TAG_LIMIT:
            too_long.append(name)
            continue
        key = fold(name)
        if key not in seen:
            seen.add(key)
            names.append(name)
    return tuple(names), tuple(too_long)


def _split_extension(number: str) -> tuple[str, str | None]:
    """A number and its extension from 'tel:+1-555;ext=12' or '555 x12'."""
    lowered = number.lower()
    if "x" not in lowered and ";" not in lowered and ":" not in lowered:
        return number, None
    if lowered.startswith("tel:"):
        number = number[4:]
    match = re.fullmatch(r"(.+?)\s*(?:;ext=|\s(?:x|ext\.?)\s*)(\d+)", number, re.I)
    if match:
        return match.group(1).strip(), match.group(2)
    return number, None


def _no_digits(text: str) -> str:
    return _(
        "%(value)s has no digits, so it is no phone number; it was left out.",
        value=repr(_shorten(text)),
    )


def _po_box(text: str | None) -> str | None:
    if not text:
        return None
    if re.match(r"(p\.?\s*o\.?\s*box|postfach|apartado)\b", text, re.IGNORECASE):
        return text
    with contact_language():
        return _("PO Box %(box)s", box=text)


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
