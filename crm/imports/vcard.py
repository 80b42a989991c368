"""vCard 2.1, 3.0 and 4.0 files to mapped cells, one card at a time.

vobject parses the cards. Before it does, each card is cleaned at the byte
level, where 2.1 files need it: lines are unfolded before decoding (folding
may split a UTF-8 sequence), quoted-printable values and their soft line
breaks are decoded, each property's CHARSET is applied to its own bytes, and
2.1 escaping is rewritten in 3.0 form. Bytes without a declared charset are
read as UTF-8 when they are valid UTF-8, else in the encoding guessed from
all such bytes of the file (or the one the user chose).
"""

import binascii
import codecs
import logging
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

import vobject
from flask_babel import gettext as _

from crm.imports import presets, reading
from crm.imports.language import contact_language
from crm.imports.rows import ERROR, WARNING, Problem, clean_cell

log = logging.getLogger(__name__)

_LINE_BREAK = re.compile(rb"\r*\n|\r+")
_BEGIN = re.compile(rb"\s*BEGIN\s*:\s*VCARD\s*", re.IGNORECASE)
_END = re.compile(rb"\s*END\s*:\s*VCARD\s*", re.IGNORECASE)
_PROPERTY = re.compile(rb"(?:([A-Za-z0-9-]+)\.)?([A-Za-z][A-Za-z0-9-]*)")

KNOWN_PROPERTIES = {
    "ADR", "AGENT", "ANNIVERSARY", "BDAY", "BEGIN", "CALADRURI", "CALURI",
    "CATEGORIES", "CLASS", "CLIENTPIDMAP", "EMAIL", "END", "FBURL", "FN",
    "GENDER", "GEO", "IMPP", "KEY", "KIND", "LABEL", "LANG", "LOGO", "MAILER",
    "MEMBER", "N", "NAME", "NICKNAME", "NOTE", "ORG", "PHOTO", "PRODID",
    "PROFILE", "RELATED", "REV", "ROLE", "SORT-STRING", "SOUND", "SOURCE",
    "TEL", "TITLE", "TZ", "UID", "URL", "VERSION", "XML",
}  # fmt: skip
# Binary or bulky properties this CRM does not store.
_SKIPPED = {"PHOTO", "LOGO", "SOUND", "KEY"}
_STRUCTURED = {"N", "ADR", "ORG"}
_SPOUSE = {"X-SPOUSE", "X-EVOLUTION-SPOUSE", "X-KADDRESSBOOK-X-SPOUSESNAME"}
_ASSISTANT = {
    "X-ASSISTANT",
    "X-EVOLUTION-ASSISTANT",
    "X-MS-ASSISTANT",
    "X-KADDRESSBOOK-X-ASSISTANTSNAME",
}
_ANNIVERSARY = {
    "ANNIVERSARY",
    "X-ANNIVERSARY",
    "X-EVOLUTION-ANNIVERSARY",
    "X-MS-ANNIVERSARY",
    "X-KADDRESSBOOK-X-ANNIVERSARY",
}
_ASSISTANT_TEL = "X-ASSISTANT-TEL"
# A custom field as this CRM's export writes it:
# X-CRM-FIELD;LABEL=<label>;NAME=<field name>:<value>.
_CUSTOM_FIELD = "X-CRM-FIELD"
_PARAM_QUOTE = re.compile(r'[;:,"]')
# What the mapping reads; other properties are not handed to vobject, so a
# quirk in one of them cannot cost the card.
_USED = {
    "N", "FN", "ORG", "TITLE", "ROLE", "NICKNAME", "URL", "EMAIL", "TEL", "ADR",
    "BDAY", "NOTE", "CATEGORIES", "KIND", "TZ", "X-ABLABEL", "X-ABDATE",
    "X-ABRELATEDNAMES", *_SPOUSE, *_ASSISTANT, _ASSISTANT_TEL, *_ANNIVERSARY,
    _CUSTOM_FIELD,
}  # fmt: skip
# A US ZIP+4 code in one postal code, split as the contact keeps it.
_ZIP_FOUR = re.compile(r"(\d{5})-(\d{4})")


def _used(name: str) -> bool:
    return name in _USED or name.endswith("ABSHOWAS")


class CardError(Exception):
    """A card cannot be read; it is counted as failed."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Property:
    line: int
    group: str | None
    name: str
    params: list  # (name or None, value) pairs as written
    raw: bytes
    qp: bool = False
    charset: str | None = None
    text: str = ""
    undecodable: bool = False
    # The value is not in its declared charset and was read in the file's.
    misdeclared: bool = False


@dataclass
class RawCard:
    number: int
    line: int
    properties: list = field(default_factory=list)
    version: str = "3.0"
    error: CardError | None = None
    # What was repaired to read the card, as messages for warnings.
    warnings: list = field(default_factory=list)


@dataclass
class VCardFile:
    encoding: str
    fallback_encoding: str
    cards: list
    # Charsets named by CHARSET parameters on values that needed one.
    declared_charsets: list = field(default_factory=list)
    # The custom field id each (label, field name) of X-CRM-FIELD names.
    custom_fields: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.cards)

    def records(self, start: int = 0):
        """(card number, cells, problems) per card from index ``start`` on."""
        for card in self.cards[start:]:
            yield card.number, *map_card(card, self.fallback_encoding, self)


# Lines of text a vCard file may have before its first BEGIN:VCARD.
_LINES_BEFORE_CARDS = 3


def looks_like_vcard(data: bytes) -> bool:
    """Whether the bytes (any encoding this module reads) begin with a vCard."""
    head = data[:4096]
    for bom, _name in reading._BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    if b"\x00" in head[:200]:
        head = head.replace(b"\x00", b"")
    # A line of text may come first ("Exported by ..."); the cards follow.
    lines = _LINE_BREAK.split(head.lstrip(), _LINES_BEFORE_CARDS + 1)
    return any(_BEGIN.fullmatch(line) for line in lines[: _LINES_BEFORE_CARDS + 1])


def read(data: bytes, encoding: str | None = None) -> VCardFile:
    """Split a vCard file into cards; ReadError when it holds none."""
    if not data.strip(b" \t\r\n\x00"):
        raise reading.ReadError(_("The file is empty."))
    data, file_encoding = _as_bytes(data, encoding)
    cards = _split_cards(data)
    if not cards:
        raise reading.ReadError(_("The file holds no vCard (no BEGIN:VCARD line)."))
    for card in cards:
        if card.error is None:
            _decode_transfer(card)
    fallback = _fallback_encoding(cards, encoding, file_encoding)
    if file_encoding == "8-bit":
        file_encoding = fallback
    declared = sorted(
        {
            (_codec(p.charset) or p.charset).lower()
            for card in cards
            for p in card.properties
            if p.charset and not p.raw.isascii()
        }
    )
    return VCardFile(
        encoding=file_encoding,
        fallback_encoding=fallback,
        cards=cards,
        declared_charsets=declared,
    )


def _as_bytes(data: bytes, encoding: str | None) -> tuple[bytes, str]:
    name, had_bom = reading.detect_encoding(data)
    if encoding and reading.canonical_encoding(encoding).startswith("utf-16"):
        name, had_bom = reading.canonical_encoding(encoding), False
    if name.startswith(("utf-16", "utf-32")):
        text = data.decode(name, errors="replace")
        return text.lstrip("\ufeff").encode("utf-8"), name
    if had_bom:
        data = data[len(codecs.BOM_UTF8) :]
    return data, "utf-8" if name == "utf-8" else "8-bit"


# Cards and content lines.
def _split_cards(data: bytes) -> list[RawCard]:
    cards: list[RawCard] = []
    current: RawCard | None = None
    logical: list[list] = []  # [line number, bytes] of the open property
    for number, line in enumerate(_LINE_BREAK.split(data), start=1):
        if current is None:
            if _BEGIN.fullmatch(line):
                current = RawCard(number=len(cards) + 1, line=number)
                logical = []
            continue
        if _BEGIN.fullmatch(line):
            _finish(current, logical)
            current.warnings.append(
                _(
                    "The card has no END:VCARD before the next card begins (line "
                    "%(line)s); it was read up to there.",
                    line=number,
                )
            )
            cards.append(current)
            current = RawCard(number=len(cards) + 1, line=number)
            logical = []
            continue
        if _END.fullmatch(line):
            _finish(current, logical)
            cards.append(current)
            current = None
            continue
        _add_line(logical, number, line)
    if current is not None:
        current.error = CardError(
            current.line, _("The card has no END:VCARD line; the file seems cut off.")
        )
        cards.append(current)
    return cards


def _is_qp(head: bytes) -> bool:
    return b"QUOTED-PRINTABLE" in head.upper()


def _starts_property(line: bytes) -> bool:
    match = _PROPERTY.match(line)
    if not match or len(line) <= match.end() or line[match.end()] not in b";:":
        return False
    name = match.group(2).decode("ascii").upper()
    return name in KNOWN_PROPERTIES or name.startswith("X-")


def _is_base64(head: bytes) -> bool:
    upper = head.upper()
    return b"BASE64" in upper or b"ENCODING=B;" in upper + b";"


def _add_line(logical: list, number: int, line: bytes) -> None:
    """Join a physical line to the open property or start a new one.

    Each entry is [line number, bytes, open]: ``open`` says a quoted-printable
    soft break or a 2.1 base64 block may continue on the next line.
    """
    if logical:
        last = logical[-1]
        head = last[1].split(b":", 1)[0]
        if last[2] and _is_qp(head):
            if not line.strip():
                last[1] = last[1][:-1]
                last[2] = False
                return
            if not _starts_property(line):
                last[1] = last[1][:-1] + line
                last[2] = line.endswith(b"=")
                return
            last[1] = last[1][:-1]
        if last[2] and _is_base64(head):
            if not line.strip():
                last[2] = False
                return
            if not _starts_property(line):
                last[1] += line.strip()
                return
        if line[:1] in (b" ", b"\t") and line.strip():
            last[1] += line[1:]
            last[2] = line.endswith(b"=") or _is_base64(head)
            return
    if not line.strip():
        return
    head = line.split(b":", 1)[0]
    logical.append([number, line, line.endswith(b"=") or _is_base64(head)])


# Properties whose value a line without a name may continue: free text that
# a writer folded without the leading space.
_CONTINUED = {"NOTE", "FN", "TITLE", "ROLE", "LABEL", "ORG", "NICKNAME", "URL"}


def _finish(card: RawCard, logical: list) -> None:
    for number, line, _soft in logical:
        try:
            prop = _parse_line(number, line)
        except CardError:
            _repair(card, number, line)
            continue
        if prop.name == "VERSION":
            card.version = prop.raw.decode("ascii", "replace").strip() or "3.0"
            continue
        card.properties.append(prop)


def _repair(card: RawCard, number: int, line: bytes) -> None:
    """A line that is not a property: joined to a text value before it, or skipped.

    Such a line is most often the rest of a value folded without its leading
    space; the card keeps every other property either way.
    """
    last = card.properties[-1] if card.properties else None
    if last is not None and (last.name in _CONTINUED or last.name.startswith("X-")):
        last.raw += line
        card.warnings.append(
            _(
                "Line %(line)s is not a vCard property; it was read as the rest of "
                "the %(name)s line before it.",
                line=number,
                name=last.name,
            )
        )
        return
    card.warnings.append(
        _(
            "Line %(line)s is not a vCard property: %(text)s. It was left out.",
            line=number,
            text=_preview(line),
        )
    )


def _split_outside_quotes(text: bytes, separator: bytes) -> list[bytes]:
    parts, current, quoted = [], bytearray(), False
    for byte in text:
        char = bytes([byte])
        if char == b'"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append(bytes(current))
            current = bytearray()
        else:
            current += char
    parts.append(bytes(current))
    return parts


def _parse_line(number: int, line: bytes) -> Property:
    colon, quoted = -1, False
    for i, byte in enumerate(line):
        if byte == 0x22:
            quoted = not quoted
        elif byte == 0x3A and not quoted:
            colon = i
            break
    match = _PROPERTY.match(line)
    if colon < 0 or not match or match.end() > colon:
        raise CardError(
            number,
            _(
                "Line %(line)s is not a vCard property: %(text)s",
                line=number,
                text=_preview(line),
            ),
        )
    group = match.group(1).decode("ascii") if match.group(1) else None
    name = match.group(2).decode("ascii").upper()
    params = []
    for part in _split_outside_quotes(line[match.end() : colon], b";")[1:]:
        text = part.decode("utf-8", "replace").strip()
        if not text:
            continue
        key, sep, value = text.partition("=")
        if sep:
            params.append((key.strip().upper(), value.strip()))
        else:
            params.append((None, key.strip()))
    return Property(number, group, name, params, line[colon + 1 :])


def _preview(line: bytes) -> str:
    text = clean_cell(line.decode("utf-8", "replace"))[0]
    return text if len(text) <= 60 else text[:59] + "…"


# Transfer encodings and charsets.
def _decode_transfer(card: RawCard) -> None:
    """Undo quoted-printable and note each property's declared charset."""
    kept = []
    for prop in card.properties:
        encoding = None
        charset = None
        for key, value in prop.params:
            word = value.strip('"').upper()
            if key == "ENCODING" or (key is None and word in ("QUOTED-PRINTABLE",)):
                encoding = word
            elif key == "CHARSET":
                charset = value.strip('"')
            elif key is None and word == "BASE64":
                encoding = word
        if prop.name in _SKIPPED or encoding in ("B", "BASE64"):
            continue
        if encoding == "QUOTED-PRINTABLE":
            prop.raw = binascii.a2b_qp(prop.raw)
            prop.qp = True
        prop.charset = charset
        kept.append(prop)
    card.properties = kept


def _fallback_encoding(cards, chosen: str | None, file_encoding: str) -> str:
    if chosen and not reading.canonical_encoding(chosen).startswith("utf-16"):
        return reading.canonical_encoding(chosen)
    undeclared = bytearray()
    for card in cards:
        for prop in card.properties:
            if prop.raw.isascii() or (prop.charset and _decodes(prop)):
                continue
            try:
                prop.raw.decode("utf-8")
            except UnicodeDecodeError:
                undeclared += prop.raw + b"\n"
    if not undeclared:
        return "utf-8"
    return reading.guess_single_byte(bytes(undeclared))


def _decodes(prop: Property) -> bool:
    """Whether the value reads in its declared charset."""
    for name in _declared_codecs(prop.charset):
        try:
            prop.raw.decode(name)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _declared_codecs(charset: str | None) -> list[str]:
    """The codecs that read a declared charset, best first.

    ISO-8859-1 is read as Windows-1252, as browsers and Windows do: the bytes
    0x80-0x9F are then the euro sign and typographic quotes its writers
    meant, not control characters.
    """
    name = _codec(charset)
    if name is None:
        return []
    if name in ("iso8859-1", "ascii"):
        return ["cp1252", "iso8859-1"]
    return [name]


def _decode_value(prop: Property, fallback: str) -> str:
    if prop.raw.isascii():
        return prop.raw.decode("ascii")
    declared = _declared_codecs(prop.charset)
    names = declared + [n for n in ("utf-8", _codec(fallback)) if n]
    for name in names:
        try:
            text = prop.raw.decode(name)
        except UnicodeDecodeError:
            continue
        prop.misdeclared = bool(prop.charset) and name not in declared
        return text
    prop.undecodable = True
    return prop.raw.decode(_codec(prop.charset) or "utf-8", errors="replace")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


# 2.1 escaping: in structured values a backslash escapes \ ; : and , and
# other text is taken as written (AOSP reads 2.1 the same way).
def _split_21(text: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "\\;:,":
            current.append(text[i + 1])
            i += 2
            continue
        if char == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _escape_30(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def unescape_30(text: str) -> str:
    """A 3.0 text value with its backslash escapes resolved."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _param_text(params) -> str:
    out = []
    types = []
    for key, value in params:
        if key is None:
            types.append(value)
            continue
        if key in ("ENCODING", "CHARSET"):
            continue
        if key == "TYPE":
            types.extend(v for v in value.strip('"').split(",") if v)
            continue
        value = value.strip('"')
        if _PARAM_QUOTE.search(value):
            value = '"' + value.replace('"', "'") + '"'
        out.append(f"{key}={value}")
    if types:
        clean = [t for t in (t.strip() for t in types) if t and '"' not in t]
        if clean:
            out.insert(0, "TYPE=" + ",".join(clean))
    return "".join(";" + p for p in out)


def _content_line(prop: Property, version: str, fallback: str) -> str:
    text = _decode_value(prop, fallback)
    prop.text = text
    if version.startswith("2"):
        if prop.name in _STRUCTURED:
            value = ";".join(_escape_30(part) for part in _split_21(text))
        elif prop.name == "CATEGORIES":
            value = ",".join(_escape_30(p) for p in re.split(r"[;,]", text))
        else:
            value = _escape_30(text)
    elif prop.qp:
        # A quoted-printable value in a 3.0 card: its newlines are real.
        value = text.replace("\r\n", "\\n").replace("\n", "\\n")
    else:
        value = text
    group = f"{prop.group}." if prop.group else ""
    return f"{group}{prop.name}{_param_text(prop.params)}:{value}"


# Mapping a card to cells.
def map_card(card: RawCard, fallback: str, source: VCardFile | None = None):
    """(cells, problems) of one card; cells use the field keys of presets.

    ``source`` (the card's file) keeps which custom field each X-CRM-FIELD
    names, looked up once per file.
    """
    if card.error is not None:
        return [], [Problem(card.number, "", _card_error(card), ERROR)]
    repaired = [Problem(card.number, "", text, WARNING) for text in card.warnings]
    lines = ["BEGIN:VCARD", "VERSION:3.0"]
    misdeclared = []
    for prop in card.properties:
        if _used(prop.name):
            lines.append(_content_line(prop, card.version, fallback))
            if prop.misdeclared and prop.name not in dict(misdeclared):
                misdeclared.append((prop.name, prop.charset))
    lines.append("END:VCARD")
    try:
        component = vobject.readOne("\r\n".join(lines) + "\r\n")
    except Exception as exc:  # vobject raises several kinds on bad input
        log.info("vobject could not read card %s: %s", card.number, exc)
        message = _(
            "The card could not be read (%(reason)s).", reason=_short_reason(exc)
        )
        return [], [*repaired, Problem(card.number, "", message, ERROR)]
    cells, problems = _CardMapper(card, component, source).cells()
    problems = repaired + problems
    for name, charset in misdeclared:
        problems.append(
            Problem(
                card.number,
                name,
                _(
                    "%(name)s is not in the charset it declares (%(charset)s); it "
                    "was read as %(encoding)s.",
                    name=name,
                    charset=charset,
                    encoding=fallback,
                ),
                WARNING,
            )
        )
    return cells, problems


def _card_error(card: RawCard) -> str:
    return _(
        "Card %(number)s (line %(line)s) was not imported: %(reason)s",
        number=card.number,
        line=card.error.line,
        reason=card.error.message,
    )


def _short_reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 120 else text[:119] + "…"


def _join(value) -> str:
    if isinstance(value, list | tuple):
        return " ".join(v.strip() for v in value if v and v.strip())
    return (value or "").strip()


def _types(prop) -> list[str]:
    values = []
    for value in prop.params.get("TYPE", []):
        values.extend(v.strip().lower() for v in value.split(","))
    return [v for v in values if v]


def _is_pref(prop) -> bool:
    return "pref" in _types(prop) or "PREF" in prop.params


def _by_preference(props):
    return sorted(props, key=lambda p: 0 if _is_pref(p) else 1)


def parse_vcard_date(text: str) -> date | None:
    """A vCard date (1980-03-22, 19800322, with or without a time), or None."""
    value = text.strip()
    for pattern in (r"(\d{4})-(\d{2})-(\d{2})", r"(\d{4})(\d{2})(\d{2})"):
        match = re.match(pattern + r"(?:T[\d:.]+(?:Z|[+-][\d:]+)?)?$", value)
        if match:
            year, month, day = (int(g) for g in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                return None
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        return None


class _CardMapper:
    def __init__(self, card: RawCard, component, source: VCardFile | None = None):
        self.card = card
        self.component = component
        self.custom_fields = source.custom_fields if source is not None else {}
        self.out: list = []
        self.problems: list[Problem] = []
        self.notes: list[str] = []

    def add(self, key, label, value):
        if value:
            self.out.append((key, label, value))

    def warn(self, label, message):
        self.problems.append(Problem(self.card.number, label, message, WARNING))

    def props(self, name):
        return self.component.contents.get(name.lower(), [])

    def cells(self):
        is_company = self._is_company()
        company = self._company()
        if not is_company:
            self._names(company)
        self.add("company", "ORG", company)
        self._simple()
        self._emails()
        self._phones()
        self._addresses()
        self._dates()
        self._people()
        self._time_zone()
        self._tags()
        self._custom()
        notes = [unescape_text(p) for p in self.props("NOTE")]
        notes = [n.strip() for n in notes + self.notes if n and n.strip()]
        if notes:
            self.add("person_notes", "NOTE", "\n\n".join(notes))
        self._unreadable()
        return self.out, self.problems

    def _unreadable(self):
        labels = {
            label
            for _key, label, value in self.out
            if isinstance(value, str) and "\ufffd" in value
        }
        for label in sorted(labels):
            self.warn(
                label,
                _(
                    "Some characters of %(name)s could not be read in the declared "
                    "or detected encoding; they show as \ufffd.",
                    name=label,
                ),
            )

    def _is_company(self) -> bool:
        for name, props in self.component.contents.items():
            if name.endswith("abshowas") and any(
                str(p.value).strip().upper() == "COMPANY" for p in props
            ):
                return True
        kind = self.props("KIND")
        if kind and str(kind[0].value).strip().lower() == "org":
            return True
        names = self.props("N")
        fn = self.props("FN")
        if fn and names and not _name_text(names[0].value):
            return _join(fn[0].value) == self._company()
        return False

    def _company(self) -> str:
        for prop in self.props("ORG"):
            value = prop.value
            first = value[0] if isinstance(value, list) and value else value
            if isinstance(first, str) and first.strip():
                return first.strip()
        return ""

    def _names(self, company):
        names = self.props("N")
        if names:
            name = names[0].value
            for key, part in (
                ("family_name", name.family),
                ("given_name", name.given),
                ("middle_name", name.additional),
                ("prefix", name.prefix),
                ("suffix", name.suffix),
            ):
                self.add(key, "N", _join(part))
        if names and _name_text(names[0].value):
            return
        fn = self.props("FN")
        if fn:
            text = _join(fn[0].value)
            if text and text != company:
                self.add("full_name", "FN", text)

    def _simple(self):
        nick = self.props("NICKNAME")
        if nick:
            value = nick[0].value
            text = ", ".join(value) if isinstance(value, list) else value
            self.add("preferred_name", "NICKNAME", text.strip())
        title = self.props("TITLE") or self.props("ROLE")
        if title:
            self.add("job_title", title[0].name.upper(), _join(title[0].value))
        urls = _by_preference(self.props("URL"))
        if urls:
            self.add("website", "URL", unescape_text(urls[0]))

    def _emails(self):
        for n, prop in enumerate(_by_preference(self.props("EMAIL")), start=1):
            if n > 6:
                break
            self.add(f"email{n}", "EMAIL", str(prop.value).strip())

    def _phones(self):
        n = 0
        for prop in _by_preference(self.props("TEL")):
            number = str(prop.value).strip()
            if not number or n >= 12:
                continue
            n += 1
            self.add(f"phone{n}", "TEL", number)
            self.add(f"phone{n}_type", "TEL", " ".join(_types(prop)) or "other")

    def _addresses(self):
        kinds = ("billing", "shipping", "other")
        addresses = _by_preference(self.props("ADR"))
        if len(addresses) > len(kinds):
            left = ", ".join(_address_text(p.value) for p in addresses[len(kinds) :])
            self.warn(
                "ADR",
                _(
                    "A contact has at most three addresses; %(left)s was left out.",
                    left=left,
                ),
            )
        for kind, prop in self._address_kinds(addresses[: len(kinds)], kinds):
            value = prop.value
            street = _join_address(value.street)
            extended = _join_address(value.extended)
            if not street:
                # Some writers (Gmail) put the whole address in this field.
                street, extended = extended, ""
            code, zip_four = _join_address(value.code), ""
            match = _ZIP_FOUR.fullmatch(code)
            if match:
                code, zip_four = match.groups()
            for part, text in (
                ("po_box", _join_address(value.box)),
                ("line1", street),
                ("line3", extended),
                ("locality", _join_address(value.city)),
                ("region", _join_address(value.region)),
                ("postal_code", code),
                ("zip_four", zip_four),
                ("country", _join_address(value.country)),
            ):
                self.add(f"{kind}_{part}", "ADR", text)

    def _address_kinds(self, addresses, kinds):
        """(kind, ADR) pairs: a parcel address is the shipping address and one
        labelled "other" (Apple's label) the other address, when free; the rest
        take the free kinds in order, preferred first."""
        chosen = {}
        for prop in addresses:
            if "other" in self._label(prop) or "other" in _types(prop):
                wanted = "other"
            elif "parcel" in _types(prop) and not _is_pref(prop):
                wanted = "shipping"
            else:
                continue
            if wanted not in chosen.values():
                chosen[id(prop)] = wanted
        free = [k for k in kinds if k not in chosen.values()]
        return [(chosen.get(id(prop)) or free.pop(0), prop) for prop in addresses]

    def _dates(self):
        bday = self.props("BDAY")
        if bday:
            self._date("birthday", "BDAY", bday[0])
        for name in _ANNIVERSARY:
            found = self.props(name)
            if found:
                self._date("anniversary", name, found[0])
                return
        for prop in self.props("X-ABDATE"):
            if "anniversary" in self._label(prop):
                self._date("anniversary", "X-ABDATE", prop)
                return

    def _date(self, key, label, prop):
        text = unescape_text(prop)
        value = parse_vcard_date(text) if text else None
        if value is not None:
            self.add(key, label, value)
            return
        if not text:
            return
        with contact_language():
            what = _("Birthday") if key == "birthday" else _("Anniversary")
        self.notes.append(f"{what}: {text}")
        self.warn(
            label,
            _(
                "%(value)s is not a date; it was added to the person notes.",
                value=text,
            ),
        )

    def _label(self, prop) -> str:
        if not prop.group:
            return ""
        for label in self.props("X-ABLABEL"):
            if label.group == prop.group:
                return str(label.value).lower()
        return ""

    def _people(self):
        for names, key in ((_SPOUSE, "spouse_name"), (_ASSISTANT, "assistant_name")):
            for name in names:
                found = self.props(name)
                if found:
                    self.add(key, name, unescape_text(found[0]))
                    break
        for prop in self.props("X-ABRELATEDNAMES"):
            if "spouse" in self._label(prop):
                self.add("spouse_name", "X-ABRELATEDNAMES", unescape_text(prop))
        for prop in self.props(_ASSISTANT_TEL)[:1]:
            self.add("assistant_phone", _ASSISTANT_TEL, unescape_text(prop))

    def _time_zone(self):
        # TZ is usually an offset (-05:00), which names no zone; a zone name
        # (TZ;VALUE=text:Europe/Berlin) is the contact's time zone.
        for prop in self.props("TZ")[:1]:
            text = unescape_text(prop)
            if text in _zone_names():
                self.add("time_zone", "TZ", text)

    def _custom(self):
        """The values of X-CRM-FIELD properties, on the custom field each names."""
        for prop in self.props(_CUSTOM_FIELD):
            label = _param_value(prop, "LABEL")
            name = _param_value(prop, "NAME")
            key = (label, name)
            if key not in self.custom_fields:
                self.custom_fields[key] = _custom_field_id(label, name)
                if self.custom_fields[key] is None:
                    # Said once, on the first card that has it.
                    self.warn(
                        _CUSTOM_FIELD,
                        _(
                            "There is no custom field %(name)s, so the file's "
                            "values for it were left out.",
                            name=label or name,
                        ),
                    )
            field_id = self.custom_fields[key]
            if field_id is not None:
                self.add(f"custom:{field_id}", label or name, str(prop.value))

    def _tags(self):
        names = []
        for prop in self.props("CATEGORIES"):
            value = prop.value
            names.extend(value if isinstance(value, list) else [value])
        if names:
            self.add("tags", "CATEGORIES", ",".join(n for n in names if n))


def unescape_text(prop) -> str:
    """The text of a property, with 3.0 escapes resolved where vobject left them."""
    value = prop.value
    if isinstance(value, list):
        value = ", ".join(value)
    if not isinstance(value, str):
        return str(value or "").strip()
    known = prop.name.upper() in {"NOTE", "FN", "TITLE", "ROLE", "NICKNAME"}
    text = value if known else unescape_30(value)
    return text.strip()


def _param_value(prop, name: str) -> str:
    values = prop.params.get(name) or [""]
    return str(values[0]).strip()


def _custom_field_id(label: str, name: str) -> int | None:
    """The custom field a label (else a field name) names, or None."""
    for text in (label, name):
        found = presets.custom_field_for(text) if text else None
        if found is not None:
            return found.id
    return None


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _name_text(name) -> str:
    return _join([_join(x) for x in (name.family, name.given, name.additional)])


def _join_address(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(v.strip() for v in value if v and v.strip())
    return (value or "").strip()


def _address_text(value) -> str:
    parts = [
        _join_address(x) for x in (value.street, value.city, value.code, value.country)
    ]
    return " ".join(p for p in parts if p)
