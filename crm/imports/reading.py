"""Bytes to text: byte-order marks, UTF-16, strict UTF-8, then a best guess.

The detected encoding is reported so the preview can show it and the user
can pick another one.
"""

import codecs
import logging
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer
from flask_babel import gettext as _

from crm.core.errors import ServiceError

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Single-byte encodings a contact file saved by a desktop program is likely
# to use; the guess is limited to these so a short file is not read as,
# say, a DOS code page.
FALLBACK_ENCODINGS = (
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1257",
    "mac_roman",
    "shift_jis",
    "cp932",
    "euc_jp",
    "gb18030",
    "big5",
    "euc_kr",
)

# Encodings offered on the preview screen.
CHOICES = ("utf-8", "utf-16-le", "utf-16-be", "cp1252", "latin-1", "cp1250")

# Magic numbers of formats people upload by mistake.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
)


class ReadError(ServiceError):
    """The file cannot be read as a contact file; nothing was written."""


@dataclass
class Decoded:
    text: str
    encoding: str
    had_bom: bool = False


def check_size(size: int, limit: int) -> None:
    """Refuse files above the import limit before anything is read or written."""
    if size > limit:
        raise ReadError(
            _(
                "The file is larger than the import limit (%(limit)s).",
                limit=format_size(limit),
            )
        )


def format_size(size: int) -> str:
    """A byte count as people say it: 20 MB, 512 KB."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} bytes"


def sniff_binary(data: bytes) -> None:
    """Raise ReadError for images, archives and other files that are not text."""
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            if magic == b"PK\x03\x04":
                raise ReadError(
                    _(
                        "This is a ZIP archive or an Excel workbook, not a contact "
                        "file; save the sheet as CSV and import that."
                    )
                )
            raise ReadError(
                _("This is %(what)s, not a contact file (CSV or vCard).", what=what)
            )


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-be' or 'utf-16-le' when the bytes look like BOM-less UTF-16 text."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2]
    odd = sample[1::2]
    # ASCII-range text in UTF-16 has a zero in every other byte.
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    return None


def detect_encoding(data: bytes) -> tuple[str, bool]:
    """The encoding of the bytes and whether they start with a byte-order mark."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, True
    utf16 = utf16_without_bom(data)
    if utf16:
        return utf16, False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return guess_single_byte(data), False
    return "utf-8", False


def guess_single_byte(data: bytes) -> str:
    """The encoding of bytes that are not UTF-8 (nor UTF-16).

    cp1252 comes first: it is what Excel and Outlook write on Western
    European systems, and charset-normalizer often misreads a short file of
    such names (as cp1250, mac_roman or big5). When cp1252 reads the bytes as
    Western European text it is the answer; otherwise charset-normalizer
    guesses among the other likely encodings, and cp1252 is still reported
    when the guess reads the text the same way.
    """
    try:
        as_cp1252 = data.decode("cp1252")
    except UnicodeDecodeError:
        as_cp1252 = None
    if as_cp1252 is not None and reads_as_western(as_cp1252):
        return "cp1252"

    found = charset_normalizer.from_bytes(
        data[:200_000], cp_isolation=list(FALLBACK_ENCODINGS)
    ).best()
    guess = found.encoding if found else "cp1252"
    if guess != "cp1252" and as_cp1252 is not None:
        try:
            if as_cp1252 == data.decode(guess):
                return "cp1252"
        except (UnicodeDecodeError, LookupError):
            pass
    return guess


_WORD = re.compile(r"[^\W\d_]+")
# The non-letters of cp1252 that Western European text uses; the others
# (a florin sign, daggers, a per-mille sign, lone accents and the like) show
# up when text in another encoding is read as cp1252.
_WESTERN_MARKS = frozenset(
    "\u20ac\u201a\u201e\u2026\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u2122"
    "\u2039\u203a\xa0\xa1\xa2\xa3\xa5\xa7\xa9\xaa\xab\xad\xae\xb0\xb1\xb2"
    "\xb3\xb4\xb5\xb7\xb9\xba\xbb\xbc\xbd\xbe\xbf\xd7\xf7"
)
# In Spanish an n with a tilde comes before a vowel; before a consonant it is
# the Polish n with an acute of a cp1250 or ISO-8859-2 file (Iksi\xf1ski).
_N_TILDE_BEFORE_CONSONANT = re.compile(
    r"[\xf1\xd1](?![aeiouyAEIOUY\xe0-\xf6\xc0-\xd6])[^\W\d_]"
)
# Marks that may stand between two letters: O\u2019Brien, O\xb4Brien, l\xb7l.
_INSIDE_WORD = frozenset("\u2019\xb4\xb7\xad\u2013")


def reads_as_western(text: str) -> bool:
    """Whether the non-ASCII characters of the text look like Western European.

    Names such as Müller, Núñez or Østby have a few accented Latin letters in
    words of plain ones. Cyrillic, Greek or CJK bytes read as cp1252 give
    words made only of accented letters and symbols between letters. One
    odd word or mark in ten is tolerated.
    """
    items = odd = 0
    for match in _WORD.finditer(text):
        word = match.group()
        if word.isascii():
            continue
        items += 1
        accented = [c for c in word if not c.isascii()]
        if not all(unicodedata.name(c, "").startswith("LATIN") for c in accented):
            odd += 1
        elif len(word) >= 2 and len(accented) == len(word):
            odd += 1
        elif len(word) >= 4 and len(accented) * 2 > len(word):
            odd += 1
        elif _N_TILDE_BEFORE_CONSONANT.search(word):
            odd += 1
    for i, char in enumerate(text):
        if char.isascii() or char.isalpha():
            continue
        items += 1
        if char not in _WESTERN_MARKS:
            odd += 1
        elif (
            char not in _INSIDE_WORD
            and 0 < i < len(text) - 1
            and text[i - 1].isalpha()
            and text[i + 1].isalpha()
        ):
            odd += 1
    return items > 0 and odd * 10 <= items


def canonical_encoding(name: str) -> str:
    """The codec name Python uses; ReadError for an unknown encoding.

    Only text encodings count: Python's codecs also name transforms such as
    rot13, base64 or zlib, which do not turn bytes into text.
    """
    try:
        codec = codecs.lookup(name.strip())
    except (LookupError, AttributeError, TypeError):
        codec = None
    # "undefined" is a text codec that refuses every byte.
    if (
        codec is None
        or not getattr(codec, "_is_text_encoding", True)
        or codec.name == "undefined"
    ):
        raise ReadError(
            _("%(name)s is not an encoding this import knows.", name=name)
        ) from None
    return codec.name


def decode(data: bytes, encoding: str | None = None) -> Decoded:
    """The text of the file, in the given encoding or the detected one."""
    if not data.strip(b" \t\r\n\x00"):
        raise ReadError(_("The file is empty."))
    sniff_binary(data)

    if encoding:
        name, had_bom = canonical_encoding(encoding), False
    else:
        name, had_bom = detect_encoding(data)
    if not name.startswith(("utf-16", "utf-32")) and looks_binary_bytes(data):
        raise ReadError(
            _("This file holds binary data, not a contact file (CSV or vCard).")
        )
    if not encoding and name not in ("utf-8", "latin_1"):
        # A guess that fails somewhere falls back to Latin-1, which reads
        # every byte; the encoding shown says so and can be changed.
        try:
            data.decode(name)
        except UnicodeDecodeError:
            name = "latin_1"
    try:
        text = data.decode(name)
    except UnicodeDecodeError as exc:
        raise ReadError(
            _(
                "The file cannot be read as %(encoding)s (byte %(position)s); "
                "choose another encoding.",
                encoding=name,
                position=exc.start,
            )
        ) from None
    if text.startswith("\ufeff"):
        text, had_bom = text[1:], True

    if looks_binary(text):
        raise ReadError(
            _("This file holds binary data, not a contact file (CSV or vCard).")
        )
    if not text.strip():
        raise ReadError(_("The file is empty."))
    log.debug("decoded %d bytes as %s", len(data), name)
    return Decoded(text=text, encoding=name, had_bom=had_bom)


def looks_binary_bytes(data: bytes) -> bool:
    """Whether the first bytes hold NULs or many control characters."""
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\r\n\f\v")
    return controls > max(2, len(sample) // 100)


def looks_binary(text: str) -> bool:
    """Whether the first characters hold NULs or many control characters."""
    sample = text[:8192]
    if "\x00" in sample:
        return True
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\f\v")
    return controls > max(2, len(sample) // 100)
