"""Bytes to text: byte-order marks, UTF-16, strict UTF-8, then a best guess.

The detected encoding is reported so the preview can show it and the user
can pick another one.
"""

import codecs
import logging
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
    """charset-normalizer's best guess for bytes that are not UTF-8.

    When the guess and cp1252 read the text the same way (common for German,
    Spanish or French names), cp1252 is reported: it is the encoding Excel and
    Outlook use on Western European systems.
    """
    found = charset_normalizer.from_bytes(
        data[:200_000], cp_isolation=list(FALLBACK_ENCODINGS)
    ).best()
    guess = found.encoding if found else "cp1252"
    if guess != "cp1252":
        try:
            if data.decode("cp1252") == data.decode(guess):
                return "cp1252"
        except (UnicodeDecodeError, LookupError):
            pass
    return guess


def canonical_encoding(name: str) -> str:
    """The codec name Python uses; ReadError for an unknown encoding."""
    try:
        return codecs.lookup(name.strip()).name
    except (LookupError, AttributeError):
        raise ReadError(
            _("%(name)s is not an encoding this import knows.", name=name)
        ) from None


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
