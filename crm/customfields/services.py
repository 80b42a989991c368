"""Custom field values: validation by type, canonical storage, display and writes.

Every value is stored as canonical text in ``CustomValue.value``: ISO dates,
UTC date-times with a trailing Z, plain decimals, "1"/"0" for yes/no, a JSON
list for list boxes. ``coerce_value`` turns user or import input into that
form, ``display_value`` turns it back into what the record shows.
"""

import calendar
import json
import logging
import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import pycountry
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from crm.auth.models import User
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import (
    clean,
    email_problem,
    fold,
    looks_spreadsheet_damaged,
    web_address,
)
from crm.customfields.models import (
    FIELD_TYPES,
    OPTION_TYPES,
    CustomField,
    CustomValue,
)
from crm.extensions import db

log = logging.getLogger(__name__)

TEXT_LIMIT = 255
TEXT_AREA_LIMIT = 65_535
EMAIL_LIMIT = 254
PHONE_LIMIT = 40
WEBSITE_LIMIT = 255
FIELD_TYPE_KEYS = {key for key, _label in FIELD_TYPES}

DAYS = tuple(calendar.day_name[i] for i in range(7))  # Monday .. Sunday, as stored
MONTHS = tuple(calendar.month_name[i] for i in range(1, 13))


def month_name(number: int) -> str:
    """The month's name (1 = January) in the reader's language."""
    locale = get_locale()
    return locale.months["format"]["wide"][number] if locale else MONTHS[number - 1]


def day_name(index: int) -> str:
    """The weekday's name (0 = Monday) in the reader's language."""
    locale = get_locale()
    return locale.days["format"]["wide"][index] if locale else DAYS[index]


_INTEGER = re.compile(r"^[+-]?\d+$")
_PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_GROUPED_DECIMAL = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY_SIGNS = "$€£¥"
_YEAR = re.compile(r"^\d{4}$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_LOCAL_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_TRUE = {"1", "yes", "y", "true", "t", "on", "x"}
_FALSE = {"0", "no", "n", "false", "f", "off"}
_NAME_KEY = re.compile(r"[\W_]+")


# Coercion ------------------------------------------------------------------


def coerce_value(
    field: CustomField,
    raw,
    *,
    date_order: str | None = None,
    stored: str | None = None,
) -> str | None:
    """The canonical stored text of ``raw`` for ``field``, or None when empty.

    ``raw`` is text (a list for list boxes; date, datetime, bool and numbers
    are accepted too). ``date_order`` ("DMY" or "MDY") additionally accepts
    dates such as 31/12/1990 for imports; without it only YYYY-MM-DD is read.
    ``stored`` is the value the record holds now: an option no longer offered
    or a deactivated user that it names is still accepted, so saving a form
    keeps it; a new value must be one offered now.
    Raises ServiceError("<Label>: <what is wrong>") for invalid input.
    """
    if _is_empty(raw):
        if field.required:
            raise _invalid(field, _("this field is required."))
        return None

    coerce = _COERCERS.get(field.field_type)
    if coerce is None:
        raise _invalid(field, _("the field type is not known."))
    if field.field_type == "date":
        return coerce(field, raw, date_order)
    if field.field_type in KEEPS_STORED:
        return coerce(field, raw, stored)
    return coerce(field, raw)


def _is_empty(raw) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return clean(raw) is None
    if isinstance(raw, list | tuple | set):
        return all(_is_empty(item) for item in raw)
    return False


def _invalid(field: CustomField, problem: str) -> ServiceError:
    return ServiceError(f"{field.label}: {problem}", field=field.field_name)


def _text(field, raw, limit):
    if isinstance(raw, list | tuple):
        raise _invalid(field, _("enter a single value."))
    text = unicodedata.normalize("NFC", str(raw)).strip()
    if len(text) > limit:
        raise _invalid(
            field, _("use at most %(limit)s characters.", limit=f"{limit:,}")
        )
    return text


def _coerce_text(field, raw):
    return _text(field, raw, TEXT_LIMIT)


def _coerce_text_area(field, raw):
    # Browsers send CRLF line ends; the limit applies to the stored LF form.
    if isinstance(raw, str):
        raw = raw.replace("\r\n", "\n")
    return _text(field, raw, TEXT_AREA_LIMIT)


def _coerce_whole_number(field, raw):
    if isinstance(raw, bool):
        raise _invalid(field, _("enter a whole number, such as 42."))
    if isinstance(raw, int):
        return str(raw)
    text = _text(field, raw, TEXT_LIMIT).replace(" ", "")
    if _GROUPED_DECIMAL.match(text) and "." not in text:
        text = text.replace(",", "")
    if not _INTEGER.match(text):
        raise _invalid(field, _("enter a whole number, such as 42."))
    return str(int(text))


def _decimal(field, raw, example: str) -> Decimal:
    message = _("enter a number, such as %(example)s.", example=example)
    if isinstance(raw, bool):
        raise _invalid(field, message)
    if isinstance(raw, Decimal | int | float):
        text = str(raw)
    else:
        text = _text(field, raw, TEXT_LIMIT).replace(" ", "")
    if _GROUPED_DECIMAL.match(text):
        text = text.replace(",", "")
    if not _PLAIN_DECIMAL.match(text):
        raise _invalid(field, message)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _invalid(field, message) from None


def _plain(number: Decimal) -> str:
    if number == 0:
        return "0"
    return format(number.normalize(), "f")


def _coerce_decimal(field, raw):
    return _plain(_decimal(field, raw, "3.75"))


def _coerce_currency(field, raw):
    if isinstance(raw, str):
        raw = raw.strip().strip(_CURRENCY_SIGNS).strip()
        if raw[:1] == "-":
            raw = "-" + raw[1:].strip().lstrip(_CURRENCY_SIGNS)
    amount = _decimal(field, raw, "1250.00")
    if amount.as_tuple().exponent < -2:
        raise _invalid(field, _("use at most two decimal places."))
    return f"{amount:.2f}"


def _coerce_percent(field, raw):
    if isinstance(raw, str):
        raw = raw.strip().removesuffix("%").strip()
    return _plain(_decimal(field, raw, "12.5"))


def _coerce_date(field, raw, date_order=None):
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = _text(field, raw, TEXT_LIMIT)
    match = _ISO_DATE.match(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
    elif date_order in ("DMY", "MDY") and _LOCAL_DATE.match(text):
        first, second, year = (int(p) for p in _LOCAL_DATE.match(text).groups())
        day, month = (first, second) if date_order == "DMY" else (second, first)
    else:
        raise _invalid(field, _("enter a date as YYYY-MM-DD, such as 2026-03-31."))
    return _checked_date(field, year, month, day).isoformat()


def _checked_date(field, year, month, day) -> date:
    # Each part is checked on its own so nothing rolls over into another month.
    if year < 1:
        raise _invalid(field, _("year %(year)s is not valid.", year=year))
    if not 1 <= month <= 12:
        raise _invalid(field, _("month %(month)s is not valid.", month=month))
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise _invalid(
            field,
            _(
                "day %(day)s is not valid in %(month)s %(year)s.",
                day=day,
                month=month_name(month),
                year=year,
            ),
        )
    return date(year, month, day)


def _coerce_date_time(field, raw):
    if isinstance(raw, datetime):
        moment = raw
    else:
        text = _text(field, raw, TEXT_LIMIT).replace(" ", "T", 1)
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _invalid(
                field,
                _(
                    "enter a date and time as YYYY-MM-DD HH:MM, "
                    "such as 2026-03-31 14:30."
                ),
            ) from None
    # A time without a zone is read as UTC, the zone every timestamp is kept in.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _coerce_yes_no(field, raw):
    if isinstance(raw, bool):
        return "1" if raw else "0"
    word = fold(str(raw))
    if word in _TRUE:
        return "1"
    if word in _FALSE:
        return "0"
    raise _invalid(field, _("answer yes or no."))


def stored_options(field, stored: str | None) -> list[str]:
    """The options a stored value names (one, or a list box's several)."""
    if stored in (None, ""):
        return []
    if field.field_type != "list_box":
        return [stored]
    try:
        items = json.loads(stored)
    except ValueError:
        return []
    return [str(item) for item in items] if isinstance(items, list) else []


def retired_options(field, stored: str | None) -> list[str]:
    """The options a stored value names that the field no longer offers."""
    offered = {fold(option) for option in field.option_list}
    return [item for item in stored_options(field, stored) if fold(item) not in offered]


def _choose(field, raw, kept=()) -> str:
    options = field.option_list
    text = clean(str(raw)) or ""
    for option in [*options, *kept]:
        if fold(option) == fold(text):
            return option
    raise _invalid(
        field,
        _(
            "%(value)s is not one of the options (%(options)s).",
            value=f"“{text}”",
            options=", ".join(options) or _("none defined"),
        ),
    )


def _coerce_option(field, raw, stored=None):
    if isinstance(raw, list | tuple):
        items = [item for item in raw if not _is_empty(item)]
        if len(items) != 1:
            raise _invalid(field, _("choose one option."))
        raw = items[0]
    return _choose(field, raw, retired_options(field, stored))


def _coerce_list_box(field, raw, stored=None):
    if isinstance(raw, str):
        raw = _split_list(field, raw)
    kept = retired_options(field, stored)
    chosen = {_choose(field, item, kept) for item in raw if not _is_empty(item)}
    if chosen and chosen == set(stored_options(field, stored)):
        return stored
    # Stored in the order the options are defined, so equal sets compare equal;
    # options no longer offered that the value keeps come last.
    ordered = [option for option in [*field.option_list, *kept] if option in chosen]
    return json.dumps(ordered, ensure_ascii=False) if ordered else None


def _split_list(field, text: str) -> list:
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise _invalid(field, _("the list of options cannot be read.")) from None
        if not isinstance(items, list):
            raise _invalid(field, _("the list of options cannot be read."))
        return [str(item) for item in items]
    if any(fold(text) == fold(option) for option in field.option_list):
        return [text]
    return re.split(r"[,;\n]", text)


def _coerce_email(field, raw):
    text = _text(field, raw, EMAIL_LIMIT)
    problem = email_problem(text)
    if problem:
        raise _invalid(field, problem)
    return text


def _coerce_phone(field, raw):
    text = _text(field, raw, PHONE_LIMIT)
    if looks_spreadsheet_damaged(text):
        raise _invalid(
            field,
            _(
                "%(value)s looks damaged by a spreadsheet; type the digits again.",
                value=text,
            ),
        )
    if not any(ch.isdigit() for ch in text):
        raise _invalid(field, _("a phone number needs digits."))
    return text


def _coerce_website(field, raw):
    text = web_address(_text(field, raw, WEBSITE_LIMIT))
    if text is None:
        raise _invalid(
            field, _("enter a web address starting with http:// or https://.")
        )
    if len(text) > WEBSITE_LIMIT:
        raise _invalid(
            field, _("use at most %(limit)s characters.", limit=WEBSITE_LIMIT)
        )
    return text


def _coerce_user(field, raw, stored=None):
    text = clean(str(raw)) or ""
    user = None
    if text.isascii() and text.isdigit() and len(text) < 19:  # int() refuses "²"
        user = db.session.get(User, int(text))
    elif "@" in text:
        user = db.session.scalar(select(User).where(User.email == text.casefold()))
    if user is None:
        if stored is not None and text == stored:
            return stored  # the user was removed since; the value stays as it is
        raise _invalid(field, _("there is no user %(value)s.", value=text))
    if not user.active and str(user.id) != stored:
        raise _invalid(
            field,
            _("%(user)s is deactivated; choose an active user.", user=str(user)),
        )
    return str(user.id)


def _coerce_year(field, raw):
    text = clean(str(raw)) or ""
    if not _YEAR.match(text) or text.startswith("0"):
        raise _invalid(field, _("enter a year with four digits, such as 2026."))
    return text


def _coerce_month(field, raw):
    text = clean(str(raw)) or ""
    if text.isascii() and text.isdigit() and len(text) < 4 and 1 <= int(text) <= 12:
        return str(int(text))
    for number, name in enumerate(MONTHS, start=1):
        for known in (name, month_name(number)):
            if fold(text) in (fold(known), fold(known[:3])):
                return str(number)
    raise _invalid(field, _("enter a month, 1 to 12 or its name."))


def _coerce_day_of_week(field, raw):
    text = fold(str(raw))
    for index, day in enumerate(DAYS):
        for known in (day, day_name(index)):
            if text in (fold(known), fold(known[:3])):
                return day
    raise _invalid(field, _("enter a day of the week, Monday to Sunday."))


def _coerce_state(field, raw):
    text = clean(str(raw)) or ""
    subdivision = find_subdivision(text)
    if subdivision is None:
        raise _invalid(
            field,
            _(
                "%(value)s is not a state or province code (use one such as "
                "US-CA or DE-BY).",
                value=text,
            ),
        )
    return subdivision.code


def find_subdivision(text: str):
    """The ISO 3166-2 subdivision for a code (US-CA, or CA in the default
    country) or a name in the default country, else None."""
    code = text.upper().replace(" ", "")
    if "-" not in code:
        code = f"{_default_country()}-{code}"
    subdivision = pycountry.subdivisions.get(code=code)
    if subdivision is not None:
        return subdivision
    for candidate in pycountry.subdivisions.get(country_code=_default_country()) or ():
        if fold(candidate.name) == fold(text):
            return candidate
    return None


def _default_country() -> str:
    return current_app.config.get("DEFAULT_PHONE_REGION", "US").upper()


#: The types whose stored value may name a choice that is no longer offered.
KEEPS_STORED = {"dropdown", "radio", "list_box", "user"}

_COERCERS = {
    "text": _coerce_text,
    "text_area": _coerce_text_area,
    "whole_number": _coerce_whole_number,
    "decimal": _coerce_decimal,
    "currency": _coerce_currency,
    "percent": _coerce_percent,
    "date": _coerce_date,
    "date_time": _coerce_date_time,
    "yes_no": _coerce_yes_no,
    "dropdown": _coerce_option,
    "radio": _coerce_option,
    "list_box": _coerce_list_box,
    "email": _coerce_email,
    "phone": _coerce_phone,
    "website": _coerce_website,
    "user": _coerce_user,
    "year": _coerce_year,
    "month": _coerce_month,
    "day_of_week": _coerce_day_of_week,
    "state": _coerce_state,
}


# Display --------------------------------------------------------------------


def display_value(field: CustomField, stored: str | None) -> str:
    """The text the record shows for a stored value ("" when there is none)."""
    if stored in (None, ""):
        return ""
    kind = field.field_type
    try:
        if kind == "yes_no":
            return _("Yes") if stored == "1" else _("No")
        if kind == "list_box":
            return ", ".join(json.loads(stored))
        if kind == "date_time":
            moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
            return moment.strftime("%Y-%m-%d %H:%M UTC")
        if kind == "currency":
            return f"{Decimal(stored):,.2f}"
        if kind == "percent":
            return f"{stored} %"
        if kind == "month":
            return month_name(int(stored))
        if kind == "day_of_week" and stored in DAYS:
            return day_name(DAYS.index(stored))
        if kind == "user":
            user = db.session.get(User, int(stored))
            return str(user) if user else _("(user removed)")
        if kind == "state":
            subdivision = pycountry.subdivisions.get(code=stored)
            return f"{subdivision.name} ({stored})" if subdivision else stored
    except (ValueError, TypeError, IndexError, InvalidOperation):
        # A value stored before its field changed type is shown as it is.
        log.warning("custom field %s holds unreadable %r", field.field_name, stored)
    return stored


def form_value(field: CustomField, stored: str | None):
    """The stored value in the shape an edit form field expects."""
    if stored in (None, ""):
        return [] if field.field_type == "list_box" else None
    kind = field.field_type
    try:
        if kind == "list_box":
            return json.loads(stored)
        if kind == "date":
            return date.fromisoformat(stored)
        if kind == "date_time":
            moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
            return moment.astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        return stored
    return stored


# Reading and writing values ----------------------------------------------------


def values_of(contact) -> dict[int, str]:
    """The stored values of a contact, by field id."""
    return {value.field_id: value.value for value in contact.custom_values}


def set_values(contact, values: dict, actor=None, **options) -> list[CustomField]:
    """Validate and store ``{field: raw}`` on the contact; the caller commits.

    Every value is checked before anything is written, so one bad value
    changes nothing; a value the contact holds stays valid when its option or
    user is no longer offered. Empty values remove the stored row. Returns the
    fields whose value changed; when any did, the contact's ``updated_at``
    moves so its version increments. ``options`` go to ``coerce_value``
    (date_order).
    """
    # Rows added earlier in this unit of work may not have their field_id yet.
    existing = {
        row.field_id or (row.field.id if row.field else None): row
        for row in contact.custom_values
    }
    canonical = {
        field: coerce_value(field, raw, stored=_value(existing, field), **options)
        for field, raw in values.items()
    }

    changed = []
    for field, text in canonical.items():
        row = existing.get(field.id)
        if text is None:
            if row is not None:
                contact.custom_values.remove(row)
                changed.append(field)
        elif row is None:
            contact.custom_values.append(CustomValue(field=field, value=text))
            changed.append(field)
        elif row.value != text:
            row.value = text
            changed.append(field)

    if changed:
        contact.updated_at = utcnow()
        if actor is not None:
            contact.updated_by_id = actor.id
        db.session.flush()
        log.info(
            "custom values of contact %s changed by %s: %s",
            contact.id,
            getattr(actor, "email", None),
            ", ".join(field.field_name for field in changed),
        )
    return changed


def _value(rows: dict, field) -> str | None:
    row = rows.get(field.id)
    return row.value if row is not None else None


# Looking fields up ----------------------------------------------------------


def _name_key(text: str) -> str:
    return _NAME_KEY.sub("", fold(text))


def field_by_name(name: str) -> CustomField | None:
    """The custom field whose label or field name matches ``name``.

    Matching ignores case, Unicode form and a leading underscore, so Keap's
    export header "_Favourite Product" finds the label "Favourite Product"
    and the field name "FavouriteProduct". An exact label match wins over a
    field name match, which wins over a match that ignores spaces and
    punctuation; None when nothing (or more than one field) matches.
    """
    wanted = fold(clean(name) or "")
    if not wanted:
        return None
    bare = wanted.lstrip("_").strip()
    fields = list(db.session.scalars(select(CustomField).order_by(CustomField.id)))

    tiers = (
        lambda f: fold(f.label) in (wanted, bare),
        lambda f: (
            fold(f.field_name) in (wanted, bare)
            or fold(f.field_name).lstrip("_") == bare
        ),
        lambda f: (
            _name_key(f.label) == _name_key(bare)
            or _name_key(f.field_name) == _name_key(bare)
        ),
    )
    for matches in tiers:
        found = [field for field in fields if matches(field)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            log.info("custom field name %r is ambiguous", name)
            return None
    return None


def make_field_name(
    label: str, exclude_id: int | None = None, *, model=CustomField, prefix: str = ""
) -> str:
    """A machine name for a ``model`` field, derived from its label, not yet taken."""
    words = re.findall(r"[A-Za-z0-9]+", _ascii(label))
    base = prefix + "".join(word[:1].upper() + word[1:] for word in words) or "Field"
    if base[0].isdigit():
        base = "F" + base
    base = base[:90]
    taken = set(
        db.session.scalars(
            select(model.field_name).where(
                model.field_name.like(f"{base}%"), model.id != (exclude_id or 0)
            )
        )
    )
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}{number}"
    return name


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", (text or "").replace("ß", "ss"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def check_definition(field, *, name_prefix: str = "") -> None:
    """Validate a field definition before it is saved; raises ServiceError.

    ``field`` is a contact, task/note or opportunity field (any
    ``FieldDefinition``); its field name must be unique among its own kind.
    """
    field.label = clean(field.label)
    if not field.label:
        raise ServiceError(_("A custom field needs a label."), field="label")
    if field.field_type not in FIELD_TYPE_KEYS:
        raise ServiceError(_("Choose a field type."), field="field_type")

    options = [clean(line) for line in (field.options or "").splitlines()]
    options = [option for option in options if option]
    if field.field_type in OPTION_TYPES:
        if not options:
            raise ServiceError(
                _(
                    "A %(type)s field needs its options, one a line.",
                    type=dict(FIELD_TYPES)[field.field_type].lower(),
                ),
                field="options",
            )
        folded = [fold(option) for option in options]
        if len(set(folded)) != len(folded):
            raise ServiceError(_("Each option can be listed once."), field="options")
    field.options = "\n".join(options) or None

    model = type(field)
    field.field_name = clean(field.field_name)
    if not field.field_name:
        field.field_name = make_field_name(
            field.label, field.id, model=model, prefix=name_prefix
        )
    elif not re.fullmatch(r"_?[A-Za-z][A-Za-z0-9_]*", field.field_name):
        raise ServiceError(
            _(
                "A field name uses letters, digits and underscores, starting with a "
                "letter."
            ),
            field="field_name",
        )
    clash = db.session.scalar(
        select(model.id).where(
            model.field_name == field.field_name, model.id != (field.id or 0)
        )
    )
    if clash is not None:
        raise ServiceError(
            _("Another field already uses the name %(name)s.", name=field.field_name),
            field="field_name",
        )
