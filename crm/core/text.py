"""Text normalisation shared by forms, imports, search and duplicate checks."""

import re
import unicodedata
from urllib.parse import urlsplit

import email_validator
import phonenumbers
from flask_babel import get_translations, gettext

from crm.core.email_reasons import MSGIDS as EMAIL_REASON_MSGIDS
from crm.core.email_reasons import email_reason, known_email_reason

# Deliverability is a status of the address, not a reason to refuse it: an
# address at a reserved domain such as example.invalid is still kept. The
# library documents this list as the place to say so.
email_validator.SPECIAL_USE_DOMAIN_NAMES = []

_SPREADSHEET_NUMBER = re.compile(r"^[+-]?\d(?:[.,]\d+)?E\+?\d+$", re.IGNORECASE)


def stored_message(text: str | None) -> str:
    """A message the system stored in English, in the reader's language.

    Worker processes write reasons such as "E-mail sent." or "Tag VIP
    applied." in the catalog's source language. Read back, the text is
    looked up in the reader's catalog: as it stands, or else as a message
    with values ("Tag %(name)s applied.") whose values are taken back out of
    the text. A value named ``problem`` or ``reason`` is itself such a
    message, or one of email-validator's reasons (see
    ``crm.core.email_reasons``), and is read back the same way. Text that is
    no catalog entry (a user's words) comes back as stored.

    A message that ends in a value can also swallow the words of a message
    around it ("... in the format %(format)s." inside "%(problem)s This value
    was left out."); the message around it is read instead when what it
    wraps reads back as a message.
    """
    return _read_back(text, _DEPTH)


def _read_back(text: str | None, depth: int) -> str:
    if not text:
        return ""
    translations = get_translations()
    catalog = getattr(translations, "_catalog", None)
    if not catalog:
        return text
    if text in catalog:
        return catalog[text]
    if len(text) > _LONGEST_STORED:
        return text  # no system message is this long; matching would be slow
    if depth == 0:
        return text
    plain = None
    for msgid, pattern in _patterns_of(id(catalog), catalog):
        found = pattern.fullmatch(text)
        if not found:
            continue
        values = found.groupdict()
        inner = [name for name in ("problem", "reason") if name in values]
        if not inner:
            if plain is None:
                plain = translations.gettext(msgid) % values
            continue
        read = {name: _nested_message(values[name], depth - 1) for name in inner}
        if plain is not None and all(read[name] == values[name] for name in inner):
            continue
        return translations.gettext(msgid) % {**values, **read}
    return text if plain is None else plain


def _nested_message(text: str, depth: int) -> str:
    return known_email_reason(text) or _read_back(text, depth)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_pattern_cache: dict[int, list] = {}
# Stored reasons and problems are at most 255 characters (their columns).
_LONGEST_STORED = 1000
# Messages inside messages, at most (real ones go two deep).
_DEPTH = 4


def _patterns_of(key: int, catalog: dict) -> list:
    """The catalog's messages with values, as patterns, most specific first.

    A message needs some words of its own besides the values (at least six
    characters), so that "%(a)s: %(b)s" does not swallow any text.
    email-validator's reasons are left to ``known_email_reason``, which knows
    the shape of their values.
    """
    if key not in _pattern_cache:
        found = []
        for msgid in catalog:
            if not isinstance(msgid, str) or "%(" not in msgid:
                continue
            if msgid in EMAIL_REASON_MSGIDS:
                continue
            literal = _PLACEHOLDER.sub("", msgid)
            names = _PLACEHOLDER.findall(msgid)
            if len(literal.strip()) < 6 or len(names) != len(set(names)):
                continue
            parts = _PLACEHOLDER.split(msgid)
            regex = "".join(
                # "%%" in a message is one "%" in the text it made.
                re.escape(part.replace("%%", "%")) if i % 2 == 0 else f"(?P<{part}>.+?)"
                for i, part in enumerate(parts)
            )
            found.append((len(literal), msgid, re.compile(regex, re.DOTALL)))
        found.sort(key=lambda item: -item[0])
        _pattern_cache[key] = [(msgid, pattern) for _n, msgid, pattern in found]
    return _pattern_cache[key]


#: The keys' integer range: PostgreSQL's INTEGER (SQLite's is wider). The
#: database refuses to compare a key with a number outside it.
ID_MIN, ID_MAX = -(2**31), 2**31 - 1


def as_id(value) -> int | None:
    """A posted or query-string id as an integer key, or None when it is none.

    Text that is no integer, and an integer outside the keys' range, name no
    row; callers read None as "no such id". Casting first also matters
    because PostgreSQL refuses to compare an integer key with text.
    """
    if not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if ID_MIN <= number <= ID_MAX else None


def clean(value) -> str | None:
    """Trimmed NFC text, or None for an empty value."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def shorten(value, limit: int = 40) -> str:
    """A value as a message quotes it: its first ``limit`` characters, then "…"."""
    text = str(value or "")
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def unix_lines(value: str | None) -> str | None:
    """Text with its line breaks as LF: a browser posts a textarea's as CRLF."""
    if not value:
        return value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def fold(value: str | None) -> str:
    """The form used to compare text: NFC, casefolded, single spaces."""
    if not value:
        return ""
    if value.isascii():
        text = value.lower()  # the same as casefold() for ASCII
    else:
        text = unicodedata.normalize("NFC", value).casefold()
    # split() and the regular expressions' \s know the same whitespace.
    return " ".join(text.split())


def normalize_email(value: str | None) -> str:
    """The comparison key of an e-mail address: trimmed, NFC, casefolded."""
    return fold(value).replace(" ", "")


def email_problem(value: str) -> str | None:
    """Why the text is not an e-mail address, or None when it is one.

    The one rule for every way an address comes in (public forms, the record,
    imports, users): the domain must be a real domain name with a dot
    ("a@b" and "x@localhost" are refused). No DNS lookup is made.
    """
    try:
        email_validator.validate_email(
            value, check_deliverability=False, globally_deliverable=True
        )
    except email_validator.EmailNotValidError as exc:
        return gettext(
            "%(value)s is not an e-mail address: %(reason)s",
            value=repr(value),
            reason=email_reason(str(exc)),
        )
    return None


def looks_spreadsheet_damaged(raw: str) -> bool:
    """True for phone cells such as 4.91E+11 that a spreadsheet turned to numbers."""
    return bool(_SPREADSHEET_NUMBER.match(raw.strip()))


def phone_to_e164(raw: str, region: str) -> str | None:
    """The E.164 form of a phone number, or None when it cannot be read as one.

    An extension typed with the number ("x12", "ext. 12") is not part of it.
    """
    number = _parsed_phone(raw, region)
    # A number dialable only inside its area ("555-0100" in the US) has no
    # E.164 form: its area code is missing.
    if number is None or (
        phonenumbers.is_possible_number_with_reason(number)
        != phonenumbers.ValidationResult.IS_POSSIBLE
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def has_digits(raw: str | None) -> bool:
    """Whether the text has a digit: a phone number without any is no number."""
    return any(ch.isdigit() for ch in raw or "")


# A number the typed text is appended to, to tell whether the text adds digits
# to it or only an extension: phonenumbers reads "x12" alone as the number 12.
_PROBE = "+1 212 555 0100 "
_PROBE_NATIONAL = 2125550100


def is_extension_only(raw: str | None) -> bool:
    """Whether the text is an extension without a number ("x12", "ext. 12")."""
    text = (raw or "").strip()
    if not has_digits(text):
        return False
    probe = _parsed_phone(_PROBE + text, "US")
    return (
        probe is not None
        and bool(probe.extension)
        and probe.national_number == _PROBE_NATIONAL
    )


def split_extension(raw: str, region: str) -> tuple[str, str | None]:
    """The typed number without its extension, and the extension, if it has one.

    The extension is the one phonenumbers reads at the end of the text ("x12",
    "ext. 12", "#12", ";ext=12"). The number keeps the rest as typed: the
    shortest beginning of the text that reads as the same number.
    """
    number = _parsed_phone(raw, region)
    if number is None or not number.extension:
        return raw, None
    for end in range(1, len(raw)):
        head = _parsed_phone(raw[:end], region)
        if (
            head is not None
            and head.country_code == number.country_code
            and head.national_number == number.national_number
            and head.italian_leading_zero == number.italian_leading_zero
        ):
            return raw[:end].rstrip(), number.extension
    return raw, number.extension


def _parsed_phone(raw: str, region: str):
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def format_phone(number: str | None, e164: str | None, region: str) -> str:
    """A phone as people read it: as typed, unless it was typed as bare digits.

    A number typed with its own spaces or punctuation is shown as its owner
    wrote it (as Keap does). One that is only digits, as exports from other
    systems give them ("5987002803"), reads from its E.164 form: numbers of
    the home region's country code in the national form ("(598) 700-2803"),
    others in the international one ("+33 1 42 68 53 00").
    """
    if not e164 or not is_bare_digits(number):
        return number or ""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return number or e164
    home = phonenumbers.country_code_for_region(region)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if parsed.country_code == home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)


def is_bare_digits(number: str | None) -> bool:
    """Digits only, with at most a leading plus: a number nobody laid out."""
    body = (number or "").strip().removeprefix("+")
    return body.isdigit()


def web_address(value: str | None) -> str | None:
    """The text as an http(s) address, or None when it is no web address.

    A bare host name gets ``https://`` ("example.com" is
    "https://example.com"). Refused: other schemes (javascript:, data:,
    mailto:), text with spaces, a host without a dot, user names or passwords
    in the address, and a port that is no number. The one rule for the
    contact's website and the custom website fields.
    """
    text = (value or "").strip()
    if not text or any(ch.isspace() for ch in text):
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for "alert(1)" as a port)
    except ValueError:  # "http://[shop" is no address either
        return None
    host = parts.hostname or ""
    labels = host.split(".")
    if (
        parts.scheme.lower() not in ("http", "https")
        or "@" in parts.netloc
        or len(labels) < 2
        or not all(labels)
        or not all(ch.isalnum() or ch == "-" for ch in host.replace(".", ""))
    ):
        return None
    return text


def digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())


def human_size(size: int) -> str:
    """A size for people: bytes, KB or MB."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} B"
